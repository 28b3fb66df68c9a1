@testable import FinwatchCore

/// A two-host wire for tracker tests: segments in by side and time, events collected.
/// orig 198.18.0.1:40022 (ISN 1000), resp 198.18.0.2:80 (ISN 5000).
struct Wire: ~Copyable {
    var table: ConnectionTable
    var events: [Event] = []
    var orig = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022)
    var resp = Endpoint(ip: IPAddress("198.18.0.2")!, port: 80)
    static let origISN: UInt32 = 1000
    static let respISN: UInt32 = 5000

    init(_ configure: (inout TrackerConfiguration) -> Void = { _ in }) {
        var configuration = TrackerConfiguration()
        configure(&configuration)
        table = ConnectionTable(configuration: configuration)
    }

    mutating func send(_ side: Side, _ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0, payload: UInt32 = 0,
                       at ms: Double, window: UInt16 = 65535, ipID: UInt16? = nil, interface: UInt32? = nil) {
        let (source, destination) = side == .orig ? (orig, resp) : (resp, orig)
        let segment = TCPSegment(
            timestamp: .ms(ms), source: source.ip, destination: destination.ip,
            sourcePort: source.port, destinationPort: destination.port,
            sequence: SequenceNumber(seq), acknowledgment: SequenceNumber(ack), flags: flags,
            window: window, payloadLength: payload,
            ipIdentification: ipID ?? UInt16(truncatingIfNeeded: events.count &* 7 &+ Int(ms * 13)),
            interfaceIndex: interface)
        table.advance(to: segment.timestamp, into: &events)
        table.observe(segment, into: &events)
    }

    /// SYN at 0 ms, SYN+ACK at 1 ms, ACK at 2 ms.
    mutating func handshake() {
        send(.orig, [.syn], seq: Wire.origISN, at: 0)
        send(.resp, [.syn, .ack], seq: Wire.respISN, ack: Wire.origISN + 1, at: 1)
        send(.orig, [.ack], seq: Wire.origISN + 1, ack: Wire.respISN + 1, at: 2)
    }

    mutating func tick(_ ms: Double) { table.advance(to: .ms(ms), into: &events) }
    mutating func finish(_ ms: Double) { table.finish(at: .ms(ms), reason: .endOfInput, into: &events) }

    var closes: [CloseRecord] { events.compactMap { if case .close(let r) = $0 { r } else { nil } } }
    var alerts: [AlertEvent] { events.compactMap { if case .alert(let a) = $0 { a } else { nil } } }
    var anomalies: [AnomalyEvent] { events.compactMap { if case .anomaly(let a) = $0 { a } else { nil } } }
}

/// 1 ms is 1_000_000 ns.
func ms(_ value: Double) -> Int64 { Int64((value * 1_000_000).rounded()) }
