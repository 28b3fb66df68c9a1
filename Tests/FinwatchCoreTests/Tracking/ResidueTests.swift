import Testing
@testable import FinwatchCore

/// A connection whose record is written leaves its slot to the next connection and lives on as a
/// residue under the same index entry. Thousands of them beside the connections that took their
/// slots: every late segment must reach its own residue (the right uid, the right anomaly), and
/// no open connection may be taken for one.
@Suite("TIME_WAIT residues")
struct ResidueTests {
    typealias S = IndexScenario

    static func anomalies(_ events: [Event]) -> [AnomalyEvent] {
        events.compactMap { if case .anomaly(let anomaly) = $0 { anomaly } else { nil } }
    }

    /// Handshake, data, then orig closes first: orig ends in TIME_WAIT, resp CLOSED.
    static func openAndClose(_ i: Int, at tick: () -> Int64, feed: (TCPSegment) -> Void) {
        feed(S.segment(i, fromClient: true, .syn, seq: 1000, at: tick()))
        feed(S.segment(i, fromClient: false, [.syn, .ack], seq: 5000, ack: 1001, at: tick()))
        feed(S.segment(i, fromClient: true, .ack, seq: 1001, ack: 5001, at: tick()))
        feed(S.segment(i, fromClient: true, [.fin, .ack], seq: 1001, ack: 5001, at: tick()))
        feed(S.segment(i, fromClient: false, [.fin, .ack], seq: 5001, ack: 1002, at: tick()))
        feed(S.segment(i, fromClient: true, .ack, seq: 1002, ack: 5002, at: tick()))
    }

    @Test("late segments reach their own residue while new connections hold the freed slots",
          arguments: [UInt64(0x5EED_F1A7_C0FF_EE00), 3])
    func lateSegments_reachTheirResidue(seed: UInt64) {
        let n = 3000
        var configuration = TrackerConfiguration()
        configuration.maxConnections = 4 * n
        var table = ConnectionTable(configuration: configuration, hashSeed: seed)
        var events: [Event] = []
        var clock: Int64 = 0
        func tick() -> Int64 { clock += 1_000_000; return clock }   // 1 ms apart: no copies
        func feed(_ segment: TCPSegment) {
            table.advance(to: segment.timestamp, into: &events)
            table.observe(segment, into: &events)
        }

        for i in 0..<n { Self.openAndClose(i, at: tick, feed: feed) }
        let closed = S.closes(events)
        #expect(closed.count == n)
        #expect(closed.allSatisfy { $0.close == .normal && $0.origState == .timeWait && $0.respState == .closed })
        #expect(table.count == n, "the residues are tracked")
        #expect(table.endpointCounts()[.timeWait] == n)
        #expect(table.endpointCounts()[.closed] == n)
        events.removeAll()

        // New connections on other 4-tuples take the freed slots; their segments find them.
        for i in n..<(2 * n) {
            feed(S.segment(i, fromClient: true, .syn, seq: 1000, at: tick()))
            feed(S.segment(i, fromClient: false, [.syn, .ack], seq: 5000, ack: 1001, at: tick()))
            feed(S.segment(i, fromClient: true, .ack, seq: 1001, ack: 5001, at: tick()))
        }
        #expect(table.count == 2 * n)
        #expect(table.endpointCounts()[.established] == 2 * n)
        #expect(events.isEmpty, "opening beside the residues wrote \(events.count) events")

        // Lost final ACKs: resp sends its FIN again, orig ACKs it again. One anomaly each, the
        // closed connection's uid (C1 is the first, six segments per connection, one uid each).
        for i in 0..<n {
            feed(S.segment(i, fromClient: false, [.fin, .ack], seq: 5001, ack: 1002, at: tick()))
            feed(S.segment(i, fromClient: true, .ack, seq: 1002, ack: 5002, at: tick()))
            // Data on the new connection that took a slot: plain tracking, no event.
            feed(S.segment(n + i, fromClient: true, [.psh, .ack], seq: 1001, ack: 5001, payload: 10, at: tick()))
        }
        let late = Self.anomalies(events)
        #expect(late.count == 2 * n)
        let fins = late.filter { $0.anomaly == .finRetransmit }
        let acks = late.filter { $0.anomaly == .finalAckRetransmit }
        #expect(fins.map(\.identity.uid) == (0..<n).map { "C\($0 + 1)" })
        #expect(acks.map(\.identity.uid) == (0..<n).map { "C\($0 + 1)" })
        #expect(fins.allSatisfy { $0.side == .resp && $0.state == .lastAck && $0.count == 1 && $0.interval != nil })
        #expect(acks.allSatisfy { $0.side == .orig && $0.state == .timeWait && $0.count == 1 })
        #expect(zip(fins, 0..<n).allSatisfy { $0.identity.orig == S.client($1) && $0.identity.resp == S.server(for: $1) })
        #expect(table.count == 2 * n)
        events.removeAll()

        // A third get a new SYN (reuse: a new connection), a third an RST (RFC 1337: gone).
        for i in stride(from: 0, to: n, by: 3) { feed(S.segment(i, fromClient: true, .syn, seq: 90_000, at: tick())) }
        for i in stride(from: 1, to: n, by: 3) {
            feed(S.segment(i, fromClient: false, .rst, seq: 5002, at: tick()))
        }
        let reused = Self.anomalies(events).filter { $0.anomaly == .timeWaitReuse }
        let assassinated = Self.anomalies(events).filter { $0.anomaly == .timeWaitReset }
        let thirds = (Array(stride(from: 0, to: n, by: 3)).count, Array(stride(from: 1, to: n, by: 3)).count)
        #expect(reused.count == thirds.0 && assassinated.count == thirds.1)
        #expect(reused.map(\.identity.uid) == stride(from: 0, to: n, by: 3).map { "C\($0 + 1)" })
        #expect(assassinated.map(\.identity.uid) == stride(from: 1, to: n, by: 3).map { "C\($0 + 1)" })
        // Each reuse replaced its residue with a connection; each RST removed one.
        #expect(table.count == 2 * n - thirds.1)
        #expect(table.endpointCounts()[.timeWait] == n - thirds.0 - thirds.1)
        #expect(table.endpointCounts()[.synSent] == thirds.0)
        events.removeAll()

        // TIME_WAIT over: the last residues go, with no event; the connections stay.
        clock += 61_000_000_000
        table.advance(to: Timestamp(nanoseconds: S.start + clock), into: &events)
        #expect(events.isEmpty)
        #expect(table.count == n + thirds.0)
        #expect(table.endpointCounts()[.timeWait] == 0)
        #expect(table.endpointCounts()[.closed] == thirds.0, "only the reusing SYNs' unanswered peers")

        // A FIN on an expired residue's 4-tuple is a new connection (mid-stream), not an anomaly.
        feed(S.segment(2, fromClient: false, [.fin, .ack], seq: 5001, ack: 1002, at: tick()))
        #expect(Self.anomalies(events).isEmpty)
        #expect(table.count == n + thirds.0 + 1)

        table.finish(at: Timestamp(nanoseconds: S.start + tick()), reason: .endOfInput, into: &events)
        let finished = S.closes(events)
        #expect(finished.count == n + thirds.0 + 1, "a record for every connection, none for a residue")
        #expect(table.count == 0)
    }

    @Test func fullTable_evictsResiduesFirst() {
        var configuration = TrackerConfiguration()
        configuration.maxConnections = 100
        var table = ConnectionTable(configuration: configuration)
        var events: [Event] = []
        var clock: Int64 = 0
        func tick() -> Int64 { clock += 1_000_000; return clock }
        func feed(_ segment: TCPSegment) {
            table.advance(to: segment.timestamp, into: &events)
            table.observe(segment, into: &events)
        }
        for i in 0..<60 { Self.openAndClose(i, at: tick, feed: feed) }
        for i in 60..<100 { feed(S.segment(i, fromClient: true, .syn, seq: 1000, at: tick())) }
        #expect(table.count == 100)
        events.removeAll()
        // 60 more: each takes the room of the oldest residue, never one of the 40 open SYNs.
        for i in 100..<160 { feed(S.segment(i, fromClient: true, .syn, seq: 1000, at: tick())) }
        #expect(table.evictions == 60 && table.rejected == 0)
        #expect(events.isEmpty, "evicting residues wrote \(events.count) events")
        #expect(table.count == 100)
        #expect(table.endpointCounts()[.timeWait] == 0)
        #expect(table.endpointCounts()[.synSent] == 100)
        // The evicted residues' 4-tuples are unknown now: a late FIN starts a connection.
        feed(S.segment(0, fromClient: false, [.fin, .ack], seq: 5001, ack: 1002, at: tick()))
        #expect(Self.anomalies(events).isEmpty)
        #expect(table.evictions == 61)
    }
}
