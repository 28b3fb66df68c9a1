/// The general decoder's walk through encapsulations: from the header a link layer (or an outer
/// header) announces, through any nesting of MPLS, PPPoE, IP-in-IP, GRE, ERSPAN, VXLAN, Geneve,
/// GTP-U and Teredo, to the TCP segment inside. Each step reads only what its header's own
/// lengths and the capture both allow (an inner packet never reaches past its outer packet's
/// declared end), and every step that enters an encapsulation appends it to the path, whose
/// capacity is the depth limit. docs/decoding.md lists the layers and their limits.
extension Frame {
    /// Bound on an MPLS label stack without bottom of stack: segment routing stacks reach about
    /// ten labels; more is a loop or hostile.
    static let maximumMPLSLabels = 16
    /// Bound on GTP-U extension headers (the specification defines fewer than ten kinds).
    static let maximumGTPExtensions = 8

    static func walk(_ start: RawSpan, _ first: LinkLayer.Network, timestamp: Timestamp, decapsulate: Bool,
                     path: inout TunnelPath) throws(DecodeError) -> TCPSegment? {
        var bytes = start
        var next = first
        func enter(_ layer: TunnelLayer) throws(DecodeError) {
            guard path.append(layer) else { throw .tooManyHeaders(layer: .tunnel, count: TunnelPath.capacity + 1) }
        }
        while true {
            switch next {
            case .ipv4:
                let ip = try IPv4Header(decoding: bytes)
                // A non-first fragment has no TCP header; the tracker does not reassemble.
                if ip.protocol == 6 {
                    guard ip.fragmentOffset == 0 else { return nil }
                    return try tcp(in: bytes, from: ip.headerLength, to: ip.packetLength,
                                   isFirstFragment: ip.moreFragments, source: ip.source, destination: ip.destination,
                                   identification: ip.identification, hopLimit: ip.ttl, timestamp: timestamp)
                }
                // An encapsulation is entered only whole: its fragments would need reassembly.
                guard decapsulate, ip.fragmentOffset == 0, !ip.moreFragments else { return nil }
                let inner = bytes.extracting(ip.headerLength ..< min(ip.packetLength, bytes.byteCount))
                guard let (network, range) = try ipPayload(ip.protocol, inner, source: ip.source,
                                                           destination: ip.destination, enter: enter) else { return nil }
                (next, bytes) = (network, inner.extracting(range))
            case .ipv6:
                let ip = try IPv6Header(decoding: bytes)
                guard let upper = try ip.upperLayer(in: bytes) else { return nil }
                if upper.protocol == 6 {
                    return try tcp(in: bytes, from: upper.offset, to: upper.packetLength,
                                   isFirstFragment: upper.isFirstFragment, source: ip.source, destination: ip.destination,
                                   identification: 0, hopLimit: ip.hopLimit, timestamp: timestamp)
                }
                guard decapsulate, !upper.isFirstFragment else { return nil }
                let end = min(upper.packetLength, bytes.byteCount)
                guard upper.offset <= end else { throw .badPayloadLength(ip.payloadLength) }
                let inner = bytes.extracting(upper.offset ..< end)
                guard let (network, range) = try ipPayload(upper.protocol, inner, source: ip.source,
                                                           destination: ip.destination, enter: enter) else { return nil }
                (next, bytes) = (network, inner.extracting(range))
            case .either:
                guard bytes.byteCount >= 1 else { throw .truncated(layer: .link, needed: 1, available: 0) }
                let version = bytes.uint8(at: 0) >> 4
                guard version == 4 || version == 6 else { throw .badIPVersion(version) }
                next = version == 6 ? .ipv6 : .ipv4
            case .ethernet:
                guard let (length, network) = try LinkLayer.ethernet(bytes) else { return nil }
                (next, bytes) = (network, bytes.extracting(droppingFirst: length))
            case .mpls:
                guard decapsulate else { return nil }
                guard let (length, network, label) = try mpls(bytes) else { return nil }
                try enter(TunnelLayer(kind: .mpls, identifier: label))
                (next, bytes) = (network, bytes.extracting(droppingFirst: length))
            case .pppoe:
                guard decapsulate else { return nil }
                guard let (network, range, session) = try pppoe(bytes) else { return nil }
                try enter(TunnelLayer(kind: .pppoe, identifier: session))
                (next, bytes) = (network, bytes.extracting(range))
            case .ppp:
                guard let (length, network) = try ppp(bytes) else { return nil }
                if network == .mpls && !decapsulate { return nil }
                (next, bytes) = (network, bytes.extracting(droppingFirst: length))
            }
        }
    }

    /// What an IP packet's payload of `protocol` holds when it is an encapsulation: the network
    /// inside and where it is in `payload`, the layer entered. nil for anything that is not one.
    private static func ipPayload(
        _ protocol: UInt8, _ payload: RawSpan, source: IPAddress, destination: IPAddress,
        enter: (TunnelLayer) throws(DecodeError) -> Void
    ) throws(DecodeError) -> (LinkLayer.Network, Range<Int>)? {
        switch `protocol` {
        case 4, 41:                                         // IPv4 or IPv6 in IP (RFC 2003, RFC 4213)
            try enter(TunnelLayer(kind: .ipip, outerSource: source, outerDestination: destination))
            return (`protocol` == 4 ? .ipv4 : .ipv6, 0 ..< payload.byteCount)
        case 47:
            guard let (network, length, kind, identifier) = try gre(payload) else { return nil }
            try enter(TunnelLayer(kind: kind, outerSource: source, outerDestination: destination, identifier: identifier))
            return (network, length ..< payload.byteCount)
        case 17:
            return try udp(payload, source: source, destination: destination, enter: enter)
        default:
            return nil
        }
    }

    // MARK: - MPLS, PPPoE, PPP

    /// An MPLS label stack to its bottom, then what the first nibble after it says (RFC 4385:
    /// 0 is a pseudowire control word before an Ethernet frame). Returns the bottom label.
    private static func mpls(_ bytes: RawSpan) throws(DecodeError) -> (Int, LinkLayer.Network, UInt32)? {
        var offset = 0
        while true {
            guard offset / 4 < maximumMPLSLabels else {
                throw .tooManyHeaders(layer: .mpls, count: maximumMPLSLabels + 1)
            }
            guard bytes.byteCount >= offset + 5 else {
                throw .truncated(layer: .mpls, needed: offset + 5, available: bytes.byteCount)
            }
            let entry = bytes.uint32(at: offset)
            offset += 4
            guard entry & 0x100 == 0 else {
                switch bytes.uint8(at: offset) >> 4 {
                case 4: return (offset, .ipv4, entry >> 12)
                case 6: return (offset, .ipv6, entry >> 12)
                case 0:
                    guard bytes.byteCount >= offset + 4 else {
                        throw .truncated(layer: .mpls, needed: offset + 4, available: bytes.byteCount)
                    }
                    return (offset + 4, .ethernet, entry >> 12)
                default: return nil
                }
            }
        }
    }

    /// A PPPoE session header (RFC 2516) and the PPP protocol after it; the payload is bounded by
    /// the header's own length.
    private static func pppoe(_ bytes: RawSpan) throws(DecodeError) -> (LinkLayer.Network, Range<Int>, UInt32)? {
        guard bytes.byteCount >= 8 else { throw .truncated(layer: .pppoe, needed: 8, available: bytes.byteCount) }
        let versionType = bytes.uint8(at: 0)
        guard versionType == 0x11 else { throw .unknownVersion(layer: .pppoe, version: versionType) }
        guard bytes.uint8(at: 1) == 0 else { return nil }              // a discovery packet, not session data
        let length = Int(bytes.uint16(at: 4))
        guard length >= 2 else { throw .badLength(layer: .pppoe, value: length) }
        let end = min(6 + length, bytes.byteCount)
        guard let (protocolLength, network) = try ppp(bytes.extracting(6 ..< end)) else { return nil }
        return (network, 6 + protocolLength ..< end, UInt32(bytes.uint16(at: 2)))
    }

    /// A PPP header: the HDLC address and control bytes if present, then the protocol field
    /// (one byte when compressed, RFC 1661 §6.5).
    private static func ppp(_ bytes: RawSpan) throws(DecodeError) -> (Int, LinkLayer.Network)? {
        var offset = 0
        if bytes.byteCount >= 2 && bytes.uint16(at: 0) == 0xFF03 { offset = 2 }
        guard bytes.byteCount >= offset + 1 else { throw .truncated(layer: .ppp, needed: offset + 1, available: bytes.byteCount) }
        let protocolField: UInt16
        if bytes.uint8(at: offset) & 1 == 1 {
            protocolField = UInt16(bytes.uint8(at: offset))
            offset += 1
        } else {
            guard bytes.byteCount >= offset + 2 else { throw .truncated(layer: .ppp, needed: offset + 2, available: bytes.byteCount) }
            protocolField = bytes.uint16(at: offset)
            offset += 2
        }
        switch protocolField {
        case 0x21: return (offset, .ipv4)
        case 0x57: return (offset, .ipv6)
        case 0x281: return (offset, .mpls)
        default: return nil
        }
    }

    // MARK: - GRE and ERSPAN

    /// A GRE header (RFC 2784/2890; version 1 is PPTP's, RFC 2637), and ERSPAN's after it:
    /// the network inside, the length of everything before it, the kind and its identifier.
    private static func gre(_ bytes: RawSpan) throws(DecodeError) -> (LinkLayer.Network, Int, TunnelLayer.Kind, UInt32?)? {
        guard bytes.byteCount >= 4 else { throw .truncated(layer: .gre, needed: 4, available: bytes.byteCount) }
        let flags = bytes.uint16(at: 0)
        let type = bytes.uint16(at: 2)
        let version = UInt8(flags & 7)
        var offset = 4
        var key: UInt32?
        switch version {
        case 0:
            // RFC 1701 source routing: not decoded (no current use; Linux drops it too).
            guard flags & 0x4000 == 0 else { return nil }
            if flags & 0x8000 != 0 { offset += 4 }                     // checksum and reserved
            if flags & 0x2000 != 0 {
                guard bytes.byteCount >= offset + 4 else { throw .truncated(layer: .gre, needed: offset + 4, available: bytes.byteCount) }
                key = bytes.uint32(at: offset)
                offset += 4
            }
            if flags & 0x1000 != 0 { offset += 4 }                     // sequence number
        case 1:
            // Enhanced GRE: a key (payload length, call id) always, sequence and acknowledgment
            // numbers when flagged; it carries PPP only.
            guard type == 0x880B, flags & 0x2000 != 0 else { return nil }
            offset += 4
            guard bytes.byteCount >= offset else { throw .truncated(layer: .gre, needed: offset, available: bytes.byteCount) }
            key = UInt32(bytes.uint16(at: 6))
            if flags & 0x1000 != 0 { offset += 4 }
            if flags & 0x0080 != 0 { offset += 4 }
        default:
            throw .unknownVersion(layer: .gre, version: version)
        }
        guard bytes.byteCount >= offset else { throw .truncated(layer: .gre, needed: offset, available: bytes.byteCount) }
        switch type {
        case 0x0800: return (.ipv4, offset, .gre, key)
        case 0x86DD: return (.ipv6, offset, .gre, key)
        case 0x6558: return (.ethernet, offset, .gre, key)
        case 0x8847, 0x8848: return (.mpls, offset, .gre, key)
        case 0x880B: return (.ppp, offset, .gre, key)
        case 0x883E:
            // WCCP redirection (draft-wilson-wrec-wccp-v2): IPv4 straight away (version 1), or
            // after a 4-byte redirect header (version 2), told apart by the first nibble.
            guard bytes.byteCount >= offset + 1 else { throw .truncated(layer: .gre, needed: offset + 1, available: bytes.byteCount) }
            if bytes.uint8(at: offset) >> 4 == 4 { return (.ipv4, offset, .gre, key) }
            guard bytes.byteCount >= offset + 4 else { throw .truncated(layer: .gre, needed: offset + 4, available: bytes.byteCount) }
            return (.ipv4, offset + 4, .gre, key)
        case 0x88BE:
            // ERSPAN type I has no header of its own and no sequence number; type II has both.
            guard flags & 0x1000 != 0 else { return (.ethernet, offset, .erspan, nil) }
            guard bytes.byteCount >= offset + 8 else { throw .truncated(layer: .erspan, needed: 8, available: bytes.byteCount - offset) }
            let erspanVersion = bytes.uint8(at: offset) >> 4
            guard erspanVersion == 1 else { throw .unknownVersion(layer: .erspan, version: erspanVersion) }
            return (.ethernet, offset + 8, .erspan, UInt32(bytes.uint16(at: offset + 2) & 0x3FF))
        case 0x22EB:
            // ERSPAN type III: 12 bytes, 8 more with the platform subheader (O); FT 0 is an
            // Ethernet frame, 2 an IP packet.
            guard bytes.byteCount >= offset + 12 else { throw .truncated(layer: .erspan, needed: 12, available: bytes.byteCount - offset) }
            let erspanVersion = bytes.uint8(at: offset) >> 4
            guard erspanVersion == 2 else { throw .unknownVersion(layer: .erspan, version: erspanVersion) }
            let session = UInt32(bytes.uint16(at: offset + 2) & 0x3FF)
            let last = bytes.uint16(at: offset + 10)
            let length = 12 + (last & 1 != 0 ? 8 : 0)
            guard bytes.byteCount >= offset + length else {
                throw .truncated(layer: .erspan, needed: length, available: bytes.byteCount - offset)
            }
            switch last >> 10 & 0x1F {
            case 0: return (.ethernet, offset + length, .erspan, session)
            case 2: return (.either, offset + length, .erspan, session)
            default: return nil
            }
        default:
            return nil
        }
    }
}
