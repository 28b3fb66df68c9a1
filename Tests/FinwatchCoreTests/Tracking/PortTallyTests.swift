import Testing
@testable import FinwatchCore

/// Many connections from one client address toward one service, through a real table: each
/// opened (SYN, SYN+ACK, ACK) and closed by the client first (it ends in TIME_WAIT) or by the
/// server first (the client ends CLOSED: its port is free at once).
struct ServiceClient: ~Copyable {
    var table: ConnectionTable
    var events: [Event] = []
    var clock: Int64 = 0
    var client = IPAddress("198.18.0.1")!
    var server = IPAddress("198.18.0.2")!
    var serverPort: UInt16 = 5432

    init(_ configure: (inout TrackerConfiguration) -> Void) {
        var configuration = TrackerConfiguration()
        configure(&configuration)
        table = ConnectionTable(configuration: configuration)
    }

    mutating func feed(fromClient: Bool, clientPort: UInt16, _ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0) {
        clock += 1_000_000   // 1 ms apart: never taken for copies of each other
        let segment = TCPSegment(
            timestamp: Timestamp(nanoseconds: clock),
            source: fromClient ? client : server, destination: fromClient ? server : client,
            sourcePort: fromClient ? clientPort : serverPort, destinationPort: fromClient ? serverPort : clientPort,
            sequence: SequenceNumber(seq), acknowledgment: SequenceNumber(ack), flags: flags)
        table.advance(to: segment.timestamp, into: &events)
        table.observe(segment, into: &events)
    }

    mutating func open(_ port: UInt16) {
        feed(fromClient: true, clientPort: port, .syn, seq: 1000)
        feed(fromClient: false, clientPort: port, [.syn, .ack], seq: 5000, ack: 1001)
        feed(fromClient: true, clientPort: port, .ack, seq: 1001, ack: 5001)
    }

    /// The client closes first: it ends in TIME_WAIT, its port still held.
    mutating func clientCloses(_ port: UInt16) {
        feed(fromClient: true, clientPort: port, [.fin, .ack], seq: 1001, ack: 5001)
        feed(fromClient: false, clientPort: port, [.fin, .ack], seq: 5001, ack: 1002)
        feed(fromClient: true, clientPort: port, .ack, seq: 1002, ack: 5002)
    }

    /// The server closes first: the client passes through CLOSE_WAIT and LAST_ACK to CLOSED.
    mutating func serverCloses(_ port: UInt16) {
        feed(fromClient: false, clientPort: port, [.fin, .ack], seq: 5001, ack: 1001)
        feed(fromClient: true, clientPort: port, [.fin, .ack], seq: 1001, ack: 5002)
        feed(fromClient: false, clientPort: port, .ack, seq: 5002, ack: 1002)
    }

    var warnings: [AnomalyEvent] {
        events.compactMap { if case .anomaly(let a) = $0, a.anomaly == .portExhaustion { a } else { nil } }
    }

    var busiest: Int { table.ephemeralPortUse()?.busiest ?? -1 }
}

@Suite("port exhaustion: local ports held per destination")
struct EphemeralPortUseTests {
    static let tenPorts = EphemeralPortRange(low: 40000, high: 40009)!

    @Test func eighthConnectionOfTenPorts_warnsOnce_withItsFigures() {
        var wire = ServiceClient {
            $0.portExhaustion = .count(8)
            $0.ephemeralPortRange = Self.tenPorts
        }
        for port in UInt16(40000)..<40007 {
            wire.open(port)
            wire.clientCloses(port)
        }
        #expect(wire.warnings.isEmpty)
        #expect(wire.busiest == 7, "seven clients in TIME_WAIT hold their ports")
        wire.open(40007)
        wire.open(40008)
        wire.open(40009)
        #expect(wire.busiest == 10)
        #expect(wire.warnings.count == 1, "\(wire.warnings)")
        let warning = wire.warnings.first
        #expect(warning?.identity.orig.port == 40007, "the connection that reached the threshold carries it")
        #expect(warning?.identity.resp.port == 5432)
        #expect(warning?.side == .orig)
        #expect(warning?.count == 8)
        #expect(warning?.portExhaustion == PortExhaustion(held: 8, timeWait: 7, threshold: 8, range: Self.tenPorts))
    }

    @Test func afterTimeWaitEnds_countFalls_andTheNextRiseWarnsAgain() {
        var wire = ServiceClient {
            $0.portExhaustion = .count(4)
            $0.ephemeralPortRange = Self.tenPorts
            $0.timeWait = 1_000_000_000
        }
        for port in UInt16(40000)..<40004 {
            wire.open(port)
            wire.clientCloses(port)
        }
        #expect(wire.warnings.count == 1)
        // Past TIME_WAIT the residues end: the ports are free again.
        wire.clock += 2_000_000_000
        wire.table.advance(to: Timestamp(nanoseconds: wire.clock), into: &wire.events)
        #expect(wire.busiest == 0)
        for port in UInt16(40004)..<40008 { wire.open(port) }
        #expect(wire.warnings.count == 2)
        #expect(wire.warnings.last?.portExhaustion?.timeWait == 0)
    }

    @Test func countHoveringAtTheThreshold_warnsOnce() {
        var wire = ServiceClient {
            $0.portExhaustion = .count(10)
            $0.ephemeralPortRange = EphemeralPortRange(low: 40000, high: 40099)!
        }
        for port in UInt16(40000)..<40010 { wire.open(port) }
        #expect(wire.warnings.count == 1)
        // One closes by the server first (the client's port is free), another opens: 9, 10, 9, 10 …
        for round in UInt16(0)..<5 {
            wire.serverCloses(40000 + round)
            wire.open(40010 + round)
        }
        #expect(wire.busiest == 10)
        #expect(wire.warnings.count == 1, "re-armed only below nine tenths of the threshold")
    }

    @Test func clientsClosedByTheServer_holdNoPort() {
        var wire = ServiceClient {
            $0.portExhaustion = .count(3)
            $0.ephemeralPortRange = Self.tenPorts
        }
        for port in UInt16(40000)..<40020 {
            wire.open(port)
            wire.serverCloses(port)
        }
        #expect(wire.warnings.isEmpty)
        #expect(wire.busiest == 0, "a CLOSED client holds no port, though the server's TIME_WAIT is tracked")
    }

    @Test func otherServicePortsAndAddresses_countApart() {
        var wire = ServiceClient {
            $0.portExhaustion = .count(3)
            $0.ephemeralPortRange = Self.tenPorts
        }
        wire.open(40000)
        wire.open(40001)
        wire.serverPort = 5433
        wire.open(40002)
        wire.serverPort = 5432
        wire.server = IPAddress("198.18.0.3")!
        wire.open(40003)
        wire.client = IPAddress("198.18.0.4")!
        wire.server = IPAddress("198.18.0.2")!
        wire.open(40004)
        #expect(wire.busiest == 2)
        #expect(wire.warnings.isEmpty)
    }

    @Test func withoutARange_countsButNeverWarns() {
        var wire = ServiceClient { $0.portExhaustion = .count(2) }
        for port in UInt16(40000)..<40005 { wire.open(port) }
        #expect(wire.warnings.isEmpty)
        #expect(wire.busiest == 5)
        // The range read later: the next connection warns.
        wire.table.setEphemeralPortRange(Self.tenPorts)
        wire.open(40005)
        #expect(wire.warnings.map(\.count) == [6])
    }

    @Test func notWatched_noCountNoWarning() {
        var wire = ServiceClient { _ in }
        for port in UInt16(40000)..<40005 { wire.open(port) }
        #expect(wire.table.ephemeralPortUse() == nil)
        #expect(wire.warnings.isEmpty)
    }

    @Test func endOfInput_forgetsEveryDestination() {
        var wire = ServiceClient {
            $0.portExhaustion = .count(8)
            $0.ephemeralPortRange = Self.tenPorts
        }
        for port in UInt16(40000)..<40005 { wire.open(port) }
        wire.table.finish(at: Timestamp(nanoseconds: wire.clock), reason: .endOfInput, into: &wire.events)
        #expect(wire.busiest == 0)
    }

    @Test("the threshold against a range", arguments: [
        (PortExhaustionThreshold.fraction(0.8), 28232, 1, 22586),
        (.fraction(0.8), 10, 1, 8),
        (.fraction(0.8), 10, 2, 4),
        (.fraction(0.01), 10, 1, 1),
        (.count(20000), 28232, 1, 20000),
        (.count(20000), 28232, 3, 6667),
    ])
    func limit(threshold: PortExhaustionThreshold, rangeSize: Int, shards: Int, expected: Int) {
        #expect(threshold.limit(rangeSize: rangeSize, shards: shards) == expected)
    }

    @Test func anomalyLine_carriesTheFigures() {
        let identity = ConnectionIdentity(
            uid: "C8", orig: Endpoint(ip: IPAddress("127.0.0.1")!, port: 40007),
            resp: Endpoint(ip: IPAddress("127.0.0.1")!, port: 5432), handshakeSeen: true)
        var anomaly = AnomalyEvent(time: Timestamp(seconds: 1_795_572_251, nanoseconds: 0), identity: identity,
                                   anomaly: .portExhaustion, side: .orig, count: 8)
        anomaly.portExhaustion = PortExhaustion(held: 8, timeWait: 7, threshold: 8, range: Self.tenPorts)
        let line = Event.anomaly(anomaly).jsonLine
        #expect(line.hasSuffix(#","anomaly":"port_exhaustion","side":"orig","count":8,"time_wait":7,"threshold":8,"port_range":{"low":40000,"high":40009}}"#), "\(line)")
        // The widest figures still fit the length reserved for the line.
        anomaly.count = Int.max
        anomaly.portExhaustion = PortExhaustion(held: .max, timeWait: .max, threshold: .max,
                                                range: EphemeralPortRange(low: 65535, high: 65535)!)
        #expect(Event.anomaly(anomaly).jsonLine.utf8.count < Event.anomaly(anomaly).maximumJSONLength)
    }

    @Test("a range is two ports, low first", arguments: [(1, 65535, true), (40000, 40000, true), (0, 10, false),
                                                          (40010, 40000, false), (1, 65536, false)])
    func range(low: Int, high: Int, valid: Bool) {
        #expect((EphemeralPortRange(low: low, high: high) != nil) == valid)
    }
}

@Suite("--metrics-ports: endpoints by service port")
struct PortBreakdownTests {
    @Test func list_keepsItsOrder_andAddsOther() throws {
        let breakdown = try PortBreakdown(parsing: "5432, 443 ,80")
        #expect(breakdown.ports == [5432, 443, 80])
        #expect(breakdown.labels == ["5432", "443", "80", "other"])
    }

    @Test("a bad list is refused with its reason", arguments: [
        ("", PortBreakdown.Problem.empty), (" ", .empty), ("0", .notAPort("0")), ("65536", .notAPort("65536")),
        ("443,", .notAPort("")), ("https", .notAPort("https")), ("+443", .notAPort("+443")), ("44 3", .notAPort("44 3")),
        ("443,80,443", .duplicate(443)),
    ])
    func badList(text: String, problem: PortBreakdown.Problem) {
        #expect(throws: problem) { try PortBreakdown(parsing: text) }
    }

    @Test func thirtyThreePorts_areTooMany_thirtyTwoAreNot() throws {
        let ports = (1...33).map(String.init)
        #expect(throws: PortBreakdown.Problem.tooMany(33)) { try PortBreakdown(parsing: ports.joined(separator: ",")) }
        #expect(try PortBreakdown(parsing: ports.dropLast().joined(separator: ",")).bucketCount == 33)
    }

    @Test func bucket_isRespsPort_elseOrigs_elseOther() throws {
        let breakdown = try PortBreakdown(parsing: "443,5432")
        #expect(breakdown.label(orig: 40000, resp: 5432) == "5432")
        #expect(breakdown.label(orig: 443, resp: 40000) == "443", "an opener inferred the wrong way round")
        #expect(breakdown.label(orig: 5432, resp: 443) == "443", "resp's port first")
        #expect(breakdown.label(orig: 40000, resp: 8080) == "other")
    }

    @Test func tableCountsByPort_addUpToItsCountsByState() throws {
        var wire = ServiceClient { $0.metricsPorts = try? PortBreakdown(parsing: "5432") }
        for port in UInt16(40000)..<40004 { wire.open(port) }
        wire.clientCloses(40000)
        wire.serverCloses(40001)
        wire.serverPort = 8080
        for port in UInt16(40004)..<40007 { wire.open(port) }
        wire.clientCloses(40004)
        let counts = wire.table.endpointCountsByPort()
        let byPort = try #require(counts)
        #expect(Set(byPort.keys) == ["5432", "other"])
        #expect(byPort["5432"]?[.established] == 4, "two connections open on 5432")
        #expect(byPort["5432"]?[.timeWait] == 2, "the client of one, the server of the other")
        #expect(byPort["5432"]?[.closed] == 2)
        #expect(byPort["other"]?[.established] == 4)
        #expect(byPort["other"]?[.timeWait] == 1)
        for state in EndpointState.allCases {
            #expect((byPort["5432"]?[state] ?? 0) + (byPort["other"]?[state] ?? 0) == wire.table.endpointCounts()[state])
        }
        wire.table.finish(at: Timestamp(nanoseconds: wire.clock), reason: .endOfInput, into: &wire.events)
        #expect(wire.table.endpointCountsByPort()?.values.allSatisfy { $0.values.allSatisfy { $0 == 0 } } == true)
    }

    @Test func withoutTheFlag_noCountsByPort() {
        let wire = ServiceClient { _ in }
        #expect(wire.table.endpointCountsByPort() == nil)
    }
}
