/// Decodes captured frames to TCP segments: link layer, IPv4 or IPv6, TCP. Nothing here
/// allocates or stores the frame; every length in a header is checked against the capture first.
package enum Frame {
    /// Decodes one captured frame to a TCP segment. nil = not TCP / skipped (not an error);
    /// throws for malformed or truncated headers. Never traps on any input. No allocation.
    /// For a segment with `tunnel` 1, `tunnel` lists the encapsulations it came through, outer
    /// first (otherwise it is not to be read); with `decapsulate` false, a segment inside any
    /// encapsulation is skipped.
    package static func decodeTCP(_ bytes: RawSpan, linkType: LinkType, timestamp: Timestamp, interfaceIndex: UInt32?,
                                  tunnel: inout TunnelPath, decapsulate: Bool = true) throws(DecodeError) -> TCPSegment? {
        // A common frame leaves `tunnel` as it was: its segment says it is not tunnelled, and the
        // caller reads the path only for a segment that says it is.
        if let segment = commonSegment(bytes, linkType: linkType, timestamp: timestamp, interfaceIndex: interfaceIndex) {
            return segment
        }
        return try decodeAnyTCP(bytes, linkType: linkType, timestamp: timestamp, interfaceIndex: interfaceIndex,
                                tunnel: &tunnel, decapsulate: decapsulate)
    }

    /// `decodeTCP` for callers that do not ask which tunnel a segment came through.
    package static func decodeTCP(_ bytes: RawSpan, linkType: LinkType, timestamp: Timestamp,
                                  interfaceIndex: UInt32?) throws(DecodeError) -> TCPSegment? {
        var tunnel = TunnelPath()
        return try decodeTCP(bytes, linkType: linkType, timestamp: timestamp, interfaceIndex: interfaceIndex, tunnel: &tunnel)
    }

    /// The general decoder, for every frame: link layer, any encapsulations, IPv4 or IPv6, TCP,
    /// each layer checked on its own. `decodeTCP` tries `commonSegment` first. Kept out of line,
    /// so that the common path is a small function of its own.
    @inline(never)
    package static func decodeAnyTCP(_ bytes: RawSpan, linkType: LinkType, timestamp: Timestamp, interfaceIndex: UInt32?,
                                     tunnel: inout TunnelPath, decapsulate: Bool = true) throws(DecodeError) -> TCPSegment? {
        tunnel.removeAll()
        guard let link = try LinkLayer(decoding: bytes, linkType: linkType) else { return nil }
        guard var segment = try walk(bytes.extracting(droppingFirst: link.headerLength), link.network,
                                     timestamp: timestamp, decapsulate: decapsulate, path: &tunnel) else { return nil }
        segment.interfaceIndex = link.interfaceIndex ?? interfaceIndex   // SLL2 knows better than the file
        if !tunnel.isEmpty { segment.tunnel = 1 }     // "see the path": numbered by the batch it joins
        return segment
    }

    /// `decodeAnyTCP` without the tunnel path.
    package static func decodeAnyTCP(_ bytes: RawSpan, linkType: LinkType, timestamp: Timestamp,
                                     interfaceIndex: UInt32?) throws(DecodeError) -> TCPSegment? {
        var tunnel = TunnelPath()
        return try decodeAnyTCP(bytes, linkType: linkType, timestamp: timestamp, interfaceIndex: interfaceIndex, tunnel: &tunnel)
    }

    /// Decodes the TCP segment at `start` of an IP packet whose headers say it ends at `end`.
    @inline(__always)
    static func tcp(
        in packet: RawSpan, from start: Int, to end: Int, isFirstFragment: Bool,
        source: IPAddress, destination: IPAddress, identification: UInt16, hopLimit: UInt8, timestamp: Timestamp
    ) throws(DecodeError) -> TCPSegment? {
        let declared = end - start                            // the segment's length per the IP header
        if isFirstFragment && declared < 20 { return nil }    // RFC 1858 tiny fragment: header elsewhere
        // The header is read from everything captured, so a data offset the IP length cannot
        // hold is reported as such rather than as a truncated capture.
        let tcp = try TCPHeader(decoding: packet.extracting(droppingFirst: start))
        guard tcp.headerLength <= declared else {
            if isFirstFragment { return nil }                 // the options continue in the next fragment
            throw .dataOffsetBeyondPayload(UInt8(tcp.headerLength / 4))
        }
        // Bytes past the IP length are Ethernet padding, not TCP: only the IP length counts.
        let captured = min(end, packet.byteCount) - start
        return TCPSegment(
            timestamp: timestamp, source: source, destination: destination,
            sourcePort: tcp.sourcePort, destinationPort: tcp.destinationPort,
            sequence: tcp.sequence, acknowledgment: tcp.acknowledgment, flags: tcp.flags,
            window: tcp.window, windowScale: tcp.windowScale,
            payloadLength: UInt32(declared - tcp.headerLength),
            ipIdentification: identification, hopLimit: hopLimit, interfaceIndex: nil,
            isTruncated: captured < declared)
    }

    // MARK: - The common frame

    /// The frame almost every packet is, decoded in one pass with one length check: Ethernet
    /// without tags or Linux cooked (v1 or v2, the `any` device), then IPv4 without options and
    /// not fragmented, or IPv6 with TCP straight after its fixed header, then a TCP segment that
    /// is not a SYN (whose options the general decoder reads) and whose header fits the IP length.
    /// Returns nil for anything else, and then the general decoder, which checks each layer on its
    /// own and says why a frame is bad, decides; for the frames this path takes, both give the same
    /// segment (a test holds them to it on every corpus capture and on mutated frames).
    @inline(__always)
    package static func commonSegment(_ bytes: RawSpan, linkType: LinkType, timestamp: Timestamp,
                              interfaceIndex: UInt32?) -> TCPSegment? {
        let link: Int, etherType: UInt16
        var interface = interfaceIndex
        switch linkType {
        case .ethernet:
            guard bytes.byteCount >= 14 + 40 else { return nil }
            (link, etherType) = (14, bytes.uint16(at: 12))
        case .linuxSLL2:
            guard bytes.byteCount >= 20 + 40 else { return nil }
            (link, etherType) = (20, bytes.uint16(at: 0))
            interface = bytes.uint32(at: 4)
        case .linuxSLL:
            guard bytes.byteCount >= 16 + 40 else { return nil }
            (link, etherType) = (16, bytes.uint16(at: 14))
        case .null, .loop, .raw, .ipv4, .ipv6, .ppp, .fddi, .pppSerial, .atmRFC1483, .nflog:
            return nil
        }
        var segment: TCPSegment
        let tcp: Int, end: Int
        if etherType == 0x0800 {
            // Version 4, IHL 5; a total length that holds both fixed headers; no fragment offset
            // and no more fragments; protocol TCP.
            guard bytes.uint8(at: link) == 0x45, bytes.uint16(at: link + 6) & 0x3FFF == 0,
                  bytes.uint8(at: link + 9) == 6 else { return nil }
            let total = Int(bytes.uint16(at: link + 2))
            guard total >= 40 else { return nil }
            (tcp, end) = (link + 20, link + total)
            segment = TCPSegment(
                timestamp: timestamp, source: IPAddress(ipv4: bytes.uint32(at: link + 12)),
                destination: IPAddress(ipv4: bytes.uint32(at: link + 16)), sourcePort: 0, destinationPort: 0,
                sequence: SequenceNumber(0), acknowledgment: SequenceNumber(0), flags: [],
                ipIdentification: bytes.uint16(at: link + 4), hopLimit: bytes.uint8(at: link + 8))
        } else if etherType == 0x86DD {
            // Version 6, TCP as the next header, a payload length (0 would be a jumbogram).
            guard bytes.byteCount >= link + 60, bytes.uint8(at: link) >> 4 == 6, bytes.uint8(at: link + 6) == 6 else {
                return nil
            }
            let payload = Int(bytes.uint16(at: link + 4))
            guard payload >= 20 else { return nil }
            (tcp, end) = (link + 40, link + 40 + payload)
            segment = TCPSegment(
                timestamp: timestamp,
                source: IPAddress(ipv6High: bytes.uint64(at: link + 8), low: bytes.uint64(at: link + 16)),
                destination: IPAddress(ipv6High: bytes.uint64(at: link + 24), low: bytes.uint64(at: link + 32)),
                sourcePort: 0, destinationPort: 0, sequence: SequenceNumber(0), acknowledgment: SequenceNumber(0),
                flags: [], ipIdentification: 0, hopLimit: bytes.uint8(at: link + 7))
        } else {
            return nil
        }
        let flags = TCPFlags(rawValue: bytes.uint8(at: tcp + 13))
        let headerLength = Int(bytes.uint8(at: tcp + 12) >> 4) * 4
        let declared = end - tcp
        guard !flags.contains(.syn), headerLength >= 20, headerLength <= declared else { return nil }
        segment.sourcePort = bytes.uint16(at: tcp)
        segment.destinationPort = bytes.uint16(at: tcp + 2)
        segment.sequence = SequenceNumber(bytes.uint32(at: tcp + 4))
        segment.acknowledgment = SequenceNumber(bytes.uint32(at: tcp + 8))
        segment.flags = flags
        segment.window = bytes.uint16(at: tcp + 14)
        segment.payloadLength = UInt32(declared - headerLength)
        segment.interfaceIndex = interface
        // Bytes past the IP length are Ethernet padding: a cut is only where the capture ends first.
        segment.isTruncated = bytes.byteCount < end
        return segment
    }
}
