/// One decoded TCP segment: everything the tracker needs, nothing it does not. Small and owned,
/// so decoding never retains the capture buffer.
package struct TCPSegment: Sendable, Equatable {
    package var timestamp: Timestamp
    package var source: IPAddress
    package var destination: IPAddress
    package var sourcePort: UInt16
    package var destinationPort: UInt16
    package var sequence: SequenceNumber
    package var acknowledgment: SequenceNumber
    package var flags: TCPFlags
    /// The raw window field; scaled by `windowScale` of the sender's SYN where that was seen.
    package var window: UInt16
    /// The window scale option's shift count, present only on SYN segments that carry it.
    package var windowScale: UInt8?
    /// From the IP lengths minus both headers, never from the captured length (snaplen cuts it,
    /// Ethernet padding pads it).
    package var payloadLength: UInt32
    /// IPv4 identification (0 for IPv6): a forwarded copy keeps it, a retransmission does not.
    package var ipIdentification: UInt16
    /// TTL or hop limit: a copy of one segment seen after a hop has it one lower.
    package var hopLimit: UInt8
    /// The interface the frame was captured on, where the link type or file says (SLL2, pcapng).
    package var interfaceIndex: UInt32?
    /// The capture cut the payload (snaplen); the headers are whole.
    package var isTruncated: Bool

    package init(
        timestamp: Timestamp, source: IPAddress, destination: IPAddress,
        sourcePort: UInt16, destinationPort: UInt16,
        sequence: SequenceNumber, acknowledgment: SequenceNumber, flags: TCPFlags,
        window: UInt16 = 65535, windowScale: UInt8? = nil, payloadLength: UInt32 = 0,
        ipIdentification: UInt16 = 0, hopLimit: UInt8 = 64, interfaceIndex: UInt32? = nil,
        isTruncated: Bool = false
    ) {
        self.timestamp = timestamp
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.flags = flags
        self.window = window
        self.windowScale = windowScale
        self.payloadLength = payloadLength
        self.ipIdentification = ipIdentification
        self.hopLimit = hopLimit
        self.interfaceIndex = interfaceIndex
        self.isTruncated = isTruncated
    }

    /// Sequence space this segment occupies: payload plus one each for SYN and FIN.
    package var sequenceLength: UInt32 {
        payloadLength &+ (flags.contains(.syn) ? 1 : 0) &+ (flags.contains(.fin) ? 1 : 0)
    }
}
