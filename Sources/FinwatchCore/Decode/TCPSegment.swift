/// One decoded TCP segment: everything the tracker needs, nothing it does not. Small and owned,
/// so decoding never retains the capture buffer.
///
/// 72 bytes (the tunnel number fills what was padding): every segment crosses from the capture thread to the tracker's, millions a second,
/// so the addresses are stored as bare words with one IPv6 flag for both, and the optional
/// fields use a sentinel instead of an `Optional`'s extra byte and padding (it was 96 bytes).
package struct TCPSegment: Sendable, Equatable {
    package var timestamp: Timestamp
    private var sourceHigh: UInt64
    private var sourceLow: UInt64
    private var destinationHigh: UInt64
    private var destinationLow: UInt64
    package var sequence: SequenceNumber
    package var acknowledgment: SequenceNumber
    /// From the IP lengths minus both headers, never from the captured length (snaplen cuts it,
    /// Ethernet padding pads it).
    package var payloadLength: UInt32
    /// `UInt32.max`: the capture does not say.
    private var interface: UInt32
    /// 0: not tunnelled; n: the segment came through `SegmentBatch.tunnels[n - 1]`, the path of
    /// the batch it travels in (the tracker reads it there, so the segment stays 72 bytes). The
    /// decoder sets 1 for "tunnelled, see the path it wrote"; `SegmentBatch.append` numbers it.
    package var tunnel: UInt32 = 0
    package var sourcePort: UInt16
    package var destinationPort: UInt16
    /// The raw window field; scaled by `windowScale` of the sender's SYN where that was seen.
    package var window: UInt16
    /// IPv4 identification (0 for IPv6): a forwarded copy keeps it, a retransmission does not.
    package var ipIdentification: UInt16
    package var flags: TCPFlags
    /// TTL or hop limit: a copy of one segment seen after a hop has it one lower.
    package var hopLimit: UInt8
    /// The window scale option's shift (at most 14), or `noWindowScale`.
    private var scale: UInt8
    /// Bit 0: IPv6; bit 1: the capture cut the payload.
    private var bits: UInt8

    private static let noWindowScale: UInt8 = 0xFF

    package init(
        timestamp: Timestamp, source: IPAddress, destination: IPAddress,
        sourcePort: UInt16, destinationPort: UInt16,
        sequence: SequenceNumber, acknowledgment: SequenceNumber, flags: TCPFlags,
        window: UInt16 = 65535, windowScale: UInt8? = nil, payloadLength: UInt32 = 0,
        ipIdentification: UInt16 = 0, hopLimit: UInt8 = 64, interfaceIndex: UInt32? = nil,
        isTruncated: Bool = false
    ) {
        self.timestamp = timestamp
        sourceHigh = source.high
        sourceLow = source.low
        destinationHigh = destination.high
        destinationLow = destination.low
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.payloadLength = payloadLength
        interface = interfaceIndex ?? .max
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.window = window
        self.ipIdentification = ipIdentification
        self.flags = flags
        self.hopLimit = hopLimit
        scale = windowScale.map { min($0, 14) } ?? Self.noWindowScale
        bits = (source.isIPv6 ? 1 : 0) | (isTruncated ? 2 : 0)
    }

    package var isIPv6: Bool { bits & 1 != 0 }

    package var source: IPAddress {
        isIPv6 ? IPAddress(ipv6High: sourceHigh, low: sourceLow) : IPAddress(ipv4: UInt32(truncatingIfNeeded: sourceLow))
    }

    package var destination: IPAddress {
        isIPv6 ? IPAddress(ipv6High: destinationHigh, low: destinationLow)
            : IPAddress(ipv4: UInt32(truncatingIfNeeded: destinationLow))
    }

    /// The addresses as the words `IPAddress` holds (`high`, `low`): what the flow key is made of.
    var sourceWords: (high: UInt64, low: UInt64) { (sourceHigh, sourceLow) }
    var destinationWords: (high: UInt64, low: UInt64) { (destinationHigh, destinationLow) }

    /// The window scale option's shift count, present only on SYN segments that carry it.
    package var windowScale: UInt8? {
        get { scale == Self.noWindowScale ? nil : scale }
        set { scale = newValue.map { min($0, 14) } ?? Self.noWindowScale }
    }

    /// The interface the frame was captured on, where the link type or file says (SLL2, pcapng).
    package var interfaceIndex: UInt32? {
        get { interface == .max ? nil : interface }
        set { interface = newValue ?? .max }
    }

    /// The capture cut the payload (snaplen); the headers are whole.
    package var isTruncated: Bool {
        get { bits & 2 != 0 }
        set { bits = newValue ? bits | 2 : bits & ~2 }
    }

    /// Sequence space this segment occupies: payload plus one each for SYN and FIN.
    package var sequenceLength: UInt32 {
        payloadLength &+ (flags.contains(.syn) ? 1 : 0) &+ (flags.contains(.fin) ? 1 : 0)
    }
}
