import FinwatchCore
import FinwatchFixtures

/// Shared endpoints and a one-line decode for the decode tests.
enum Net {
    static let a = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022)
    static let b = Endpoint(ip: IPAddress("198.18.0.2")!, port: 80)
    static let a6 = Endpoint(ip: IPAddress("2001:db8::1")!, port: 40022)
    static let b6 = Endpoint(ip: IPAddress("2001:db8::2")!, port: 443)
    static let time = Timestamp(seconds: 1_700_000_000, nanoseconds: 5)

    /// Decodes `frame` as captured on `linkType` at `time`.
    static func decode(_ frame: [UInt8], _ linkType: LinkType = .ethernet, interfaceIndex: UInt32? = nil) throws(DecodeError) -> TCPSegment? {
        try Frame.decodeTCP(frame.span.bytes, linkType: linkType, timestamp: time, interfaceIndex: interfaceIndex)
    }

    /// What `FrameBuilder.tcp` defaults decode to, from `source` to `destination`.
    static func expected(_ source: Endpoint, _ destination: Endpoint, flags: TCPFlags, payloadLength: UInt32 = 0,
                         windowScale: UInt8? = nil, ipIdentification: UInt16? = nil, interfaceIndex: UInt32? = nil,
                         isTruncated: Bool = false) -> TCPSegment {
        TCPSegment(timestamp: time, source: source.ip, destination: destination.ip,
                   sourcePort: source.port, destinationPort: destination.port,
                   sequence: SequenceNumber(1000), acknowledgment: SequenceNumber(0), flags: flags,
                   window: 65535, windowScale: windowScale, payloadLength: payloadLength,
                   ipIdentification: ipIdentification ?? (source.ip.isIPv6 ? 0 : 1), hopLimit: 64,
                   interfaceIndex: interfaceIndex, isTruncated: isTruncated)
    }
}
