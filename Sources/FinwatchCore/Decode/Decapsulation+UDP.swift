/// The encapsulations inside UDP, told apart by their IANA ports as Zeek and the Linux kernel
/// do: VXLAN (4789, and 8472, the Linux default), Geneve (6081), GTP-U (2152), Teredo (3544).
/// A datagram on one of these ports that does not hold its header is not an error, only not
/// a tunnel (ports are not owned): it is skipped.
extension Frame {
    static func udp(
        _ bytes: RawSpan, source: IPAddress, destination: IPAddress,
        enter: (TunnelLayer) throws(DecodeError) -> Void
    ) throws(DecodeError) -> (LinkLayer.Network, Range<Int>)? {
        guard bytes.byteCount >= 8 else { throw .truncated(layer: .udp, needed: 8, available: bytes.byteCount) }
        let sourcePort = bytes.uint16(at: 0)
        let destinationPort = bytes.uint16(at: 2)
        let length = Int(bytes.uint16(at: 4))
        // Length 0: a GSO or jumbo datagram whose length only the capture knows.
        if length != 0 && length < 8 { throw .badLength(layer: .udp, value: length) }
        let end = length == 0 ? bytes.byteCount : min(length, bytes.byteCount)
        let payload = bytes.extracting(8 ..< end)
        func layer(_ kind: TunnelLayer.Kind, _ identifier: UInt32? = nil) -> TunnelLayer {
            TunnelLayer(kind: kind, outerSource: source, outerDestination: destination, identifier: identifier)
        }
        switch destinationPort {
        case 4789, 8472:
            // RFC 7348: flags with I (0x08) set, 24-bit VNI, then an Ethernet frame.
            guard payload.byteCount >= 8 else { throw .truncated(layer: .vxlan, needed: 8, available: payload.byteCount) }
            guard payload.uint8(at: 0) & 0x08 != 0 else { return nil }
            try enter(layer(.vxlan, payload.uint32(at: 4) >> 8))
            return (.ethernet, 16 ..< end)
        case 6081:
            // RFC 8926: version 0, options in 4-byte words, a protocol type, 24-bit VNI.
            guard payload.byteCount >= 8 else { throw .truncated(layer: .geneve, needed: 8, available: payload.byteCount) }
            let version = payload.uint8(at: 0) >> 6
            guard version == 0 else { throw .unknownVersion(layer: .geneve, version: version) }
            let length = 8 + Int(payload.uint8(at: 0) & 0x3F) * 4
            guard payload.byteCount >= length else {
                throw .truncated(layer: .geneve, needed: length, available: payload.byteCount)
            }
            let network: LinkLayer.Network
            switch payload.uint16(at: 2) {
            case 0x6558: network = .ethernet
            case 0x0800: network = .ipv4
            case 0x86DD: network = .ipv6
            default: return nil
            }
            try enter(layer(.geneve, payload.uint32(at: 4) >> 8))
            return (network, 8 + length ..< end)
        default:
            break
        }
        if destinationPort == 2152 || sourcePort == 2152 {
            guard let (offset, userEnd, teid) = try gtpu(payload) else { return nil }
            guard let network = ipByNibble(payload.extracting(offset ..< userEnd)) else { return nil }
            try enter(layer(.gtpu, teid))
            return (network, 8 + offset ..< 8 + userEnd)
        }
        if destinationPort == 3544 || sourcePort == 3544 {
            guard let offset = try teredo(payload) else { return nil }
            guard payload.byteCount >= offset + 40, payload.uint8(at: offset) >> 4 == 6 else { return nil }
            try enter(layer(.teredo))
            return (.ipv6, 8 + offset ..< end)
        }
        return nil
    }

    /// IPv4 or IPv6 by the first nibble; nil for anything else (a tunnel carrying other things).
    private static func ipByNibble(_ bytes: RawSpan) -> LinkLayer.Network? {
        guard bytes.byteCount >= 1 else { return nil }
        switch bytes.uint8(at: 0) >> 4 {
        case 4: return .ipv4
        case 6: return .ipv6
        default: return nil
        }
    }

    /// A GTP-U header (3GPP TS 29.281): version 1, protocol type GTP, a G-PDU (type 255), the
    /// optional sequence/N-PDU/next-extension word and the extension chain. Returns where the
    /// user packet starts and ends (the header's length field), and the TEID.
    private static func gtpu(_ bytes: RawSpan) throws(DecodeError) -> (Int, Int, UInt32)? {
        guard bytes.byteCount >= 8 else { throw .truncated(layer: .gtpu, needed: 8, available: bytes.byteCount) }
        let flags = bytes.uint8(at: 0)
        guard flags & 0x10 != 0 else { return nil }                     // GTP' (charging), not user data
        let version = flags >> 5
        guard version == 1 else { throw .unknownVersion(layer: .gtpu, version: version) }
        guard bytes.uint8(at: 1) == 0xFF else { return nil }            // echo, error indication, ...
        let end = min(8 + Int(bytes.uint16(at: 2)), bytes.byteCount)
        var offset = 8
        if flags & 0x07 != 0 {
            guard bytes.byteCount >= 12 else { throw .truncated(layer: .gtpu, needed: 12, available: bytes.byteCount) }
            var nextType = bytes.uint8(at: 11)
            offset = 12
            var count = 0
            while nextType != 0 {
                count += 1
                guard count <= maximumGTPExtensions else { throw .tooManyHeaders(layer: .gtpu, count: count) }
                guard bytes.byteCount >= offset + 1 else {
                    throw .truncated(layer: .gtpu, needed: offset + 1, available: bytes.byteCount)
                }
                let length = Int(bytes.uint8(at: offset)) * 4
                guard length > 0 else { throw .badLength(layer: .gtpu, value: 0) }
                guard bytes.byteCount >= offset + length else {
                    throw .truncated(layer: .gtpu, needed: offset + length, available: bytes.byteCount)
                }
                nextType = bytes.uint8(at: offset + length - 1)
                offset += length
            }
        }
        guard offset <= end else { throw .badLength(layer: .gtpu, value: end - 8) }
        return (offset, end, bytes.uint32(at: 4))
    }

    /// Teredo (RFC 4380 §5.1.1): an optional authentication indicator, then an optional origin
    /// indication, before the IPv6 packet. Returns the packet's offset.
    private static func teredo(_ bytes: RawSpan) throws(DecodeError) -> Int? {
        var offset = 0
        if bytes.byteCount >= 2 && bytes.uint16(at: 0) == 0x0001 {
            guard bytes.byteCount >= 4 else { throw .truncated(layer: .teredo, needed: 4, available: bytes.byteCount) }
            // Type, client id length, authentication value length, the two, a nonce and a confirmation byte.
            offset = 4 + Int(bytes.uint8(at: 2)) + Int(bytes.uint8(at: 3)) + 8 + 1
            guard bytes.byteCount >= offset else {
                throw .truncated(layer: .teredo, needed: offset, available: bytes.byteCount)
            }
        }
        if bytes.byteCount >= offset + 2 && bytes.uint16(at: offset) == 0x0000 {
            guard bytes.byteCount >= offset + 8 else {
                throw .truncated(layer: .teredo, needed: offset + 8, available: bytes.byteCount)
            }
            offset += 8
        }
        return offset
    }
}
