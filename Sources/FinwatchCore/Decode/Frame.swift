/// Decodes captured frames to TCP segments: link layer, IPv4 or IPv6, TCP. Nothing here
/// allocates or stores the frame; every length in a header is checked against the capture first.
package enum Frame {
    /// Decodes one captured frame to a TCP segment. nil = not TCP / skipped (not an error);
    /// throws for malformed or truncated headers. Never traps on any input. No allocation.
    package static func decodeTCP(_ bytes: RawSpan, linkType: LinkType, timestamp: Timestamp,
                                  interfaceIndex: UInt32?) throws(DecodeError) -> TCPSegment? {
        guard let link = try LinkLayer(decoding: bytes, linkType: linkType) else { return nil }
        let packet = bytes.extracting(droppingFirst: link.headerLength)
        let isIPv6: Bool
        switch link.network {
        case .ipv4: isIPv6 = false
        case .ipv6: isIPv6 = true
        case .either:
            guard packet.byteCount >= 1 else { throw .truncated(layer: .link, needed: 1, available: 0) }
            let version = packet.uint8(at: 0) >> 4
            guard version == 4 || version == 6 else { throw .badIPVersion(version) }
            isIPv6 = version == 6
        }
        guard var segment = try isIPv6 ? ipv6(packet, timestamp: timestamp) : ipv4(packet, timestamp: timestamp) else {
            return nil
        }
        segment.interfaceIndex = link.interfaceIndex ?? interfaceIndex   // SLL2 knows better than the file
        return segment
    }

    private static func ipv4(_ packet: RawSpan, timestamp: Timestamp) throws(DecodeError) -> TCPSegment? {
        let ip = try IPv4Header(decoding: packet)
        // A non-first fragment has no TCP header; the tracker does not reassemble.
        guard ip.protocol == 6, ip.fragmentOffset == 0 else { return nil }
        return try tcp(in: packet, from: ip.headerLength, to: ip.packetLength,
                       isFirstFragment: ip.moreFragments, source: ip.source, destination: ip.destination,
                       identification: ip.identification, hopLimit: ip.ttl, timestamp: timestamp)
    }

    private static func ipv6(_ packet: RawSpan, timestamp: Timestamp) throws(DecodeError) -> TCPSegment? {
        let ip = try IPv6Header(decoding: packet)
        guard let upper = try ip.upperLayer(in: packet), upper.protocol == 6 else { return nil }
        return try tcp(in: packet, from: upper.offset, to: upper.packetLength,
                       isFirstFragment: upper.isFirstFragment, source: ip.source, destination: ip.destination,
                       identification: 0, hopLimit: ip.hopLimit, timestamp: timestamp)
    }

    /// Decodes the TCP segment at `start` of an IP packet whose headers say it ends at `end`.
    private static func tcp(
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
}
