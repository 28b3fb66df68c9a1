import Testing
@testable import FinwatchCore

/// `receiveWhileOpen` is the tracker's fast path for segments without SYN, FIN or RST on an open
/// connection; it must leave the record exactly as the general `receive` does. Both are fed the
/// same random segments (data, pure ACKs, zero windows, old and new sequence numbers, copies on
/// other interfaces) from either side, and every field the record's output depends on compared.
@Suite("Tracking: the open connection's fast path")
struct OpenFastPathTests {
    static let client = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40_000)
    static let server = Endpoint(ip: IPAddress("198.19.0.1")!, port: 443)

    static func segment(fromClient: Bool, flags: TCPFlags, seq: UInt32, ack: UInt32, payload: UInt32,
                        window: UInt16, ipID: UInt16, interface: UInt32?, at nanoseconds: Int64) -> TCPSegment {
        let (source, destination) = fromClient ? (client, server) : (server, client)
        return TCPSegment(timestamp: Timestamp(nanoseconds: nanoseconds), source: source.ip, destination: destination.ip,
                          sourcePort: source.port, destinationPort: destination.port,
                          sequence: SequenceNumber(seq), acknowledgment: SequenceNumber(ack), flags: flags,
                          window: window, payloadLength: payload, ipIdentification: ipID, interfaceIndex: interface)
    }

    /// The client's ACK both tests start from, and which end of the key sent it.
    static func firstSegment() -> (TCPSegment, Bool) {
        let first = segment(fromClient: true, flags: .ack, seq: 1000, ack: 5000, payload: 0, window: 500,
                            ipID: 1, interface: nil, at: 1_000_000)
        return (first, FlowKey.senderIsA(first))
    }

    /// A connection seen mid-stream at `first`: both sides ESTABLISHED, no teardown.
    static func openConnection(_ first: TCPSegment, senderIsA: Bool) -> Connection {
        Connection(key: FlowKey(first, senderIsA: senderIsA), origIsA: senderIsA, uidNumber: 1, generation: 0,
                   phase: .open, handshakeSeen: false, firstSeen: first.timestamp, lastSeen: first.timestamp,
                   orig: EndpointRecord(state: .established), resp: EndpointRecord(state: .established))
    }

    /// The general path as the table takes it: the connection's teardown lent by the store.
    static func receive(_ segment: TCPSegment, by connection: inout Connection, senderIsA: Bool,
                        teardowns: inout TeardownStore, events: inout [Event]) -> Receipt {
        teardowns.lend(to: &connection, at: segment.timestamp, into: &events) { connection, teardown, events in
            connection.receive(segment, senderIsA: senderIsA, duplicateWindow: 20_000_000, teardown: &teardown,
                               into: &events)
        }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func sameRecordAsTheGeneralPath(seed: UInt64) {
        var random = GarbageTests.SplitMix64(state: seed)
        let (first, senderIsA) = Self.firstSegment()
        var open = Self.openConnection(first, senderIsA: senderIsA)
        var general = open
        var teardowns = TeardownStore()
        var events: [Event] = []
        var previous = first
        var clock: Int64 = 1_000_000
        var copies = 0
        for step in 0..<20_000 {
            clock += Int64(random.next() % 30_000_000)   // up to 30 ms apart: copies within the window, and not
            let fromClient = random.next() % 2 == 0
            let flagChoices: [TCPFlags] = [.ack, [.ack, .psh], [], [.ack, .urg], .psh]
            var segment = Self.segment(
                fromClient: fromClient, flags: flagChoices[Int(random.next() % 5)],
                seq: 1000 &+ UInt32(random.next() % 100_000), ack: 5000 &+ UInt32(random.next() % 100_000),
                payload: random.next() % 3 == 0 ? 0 : UInt32(random.next() % 1500),
                window: random.next() % 10 == 0 ? 0 : UInt16(random.next() % 65_535),
                ipID: UInt16(truncatingIfNeeded: random.next()),
                interface: random.next() % 4 == 0 ? nil : UInt32(random.next() % 3), at: clock)
            if random.next() % 8 == 0 {
                // The previous segment again, soon after, maybe on another interface: a copy or not.
                segment = Self.segment(fromClient: FlowKey.senderIsA(previous) == senderIsA, flags: previous.flags,
                                       seq: previous.sequence.raw, ack: previous.acknowledgment.raw,
                                       payload: previous.payloadLength, window: previous.window,
                                       ipID: previous.ipIdentification, interface: UInt32(random.next() % 3),
                                       at: previous.timestamp.nanoseconds + Int64(random.next() % 40_000_000))
            }
            let sender = FlowKey.senderIsA(segment)
            #expect(open.isPlainSegmentWhileOpen(segment))
            let taken = open.receiveWhileOpen(segment, senderIsA: sender, duplicateWindow: 20_000_000)
            let receipt = Self.receive(segment, by: &general, senderIsA: sender, teardowns: &teardowns, events: &events)
            #expect(taken == !receipt.isCopy, "step \(step)")
            if receipt.isCopy { copies += 1 }
            guard case .tracked = receipt.outcome else { Issue.record("step \(step): \(receipt.outcome)"); return }
            #expect(events.isEmpty && general.teardownNumber == 0, "step \(step)")
            #expect(open.endpoints[0] == general.endpoints[0] && open.endpoints[1] == general.endpoints[1], "step \(step)")
            #expect(open.history == general.history && open.phase == general.phase, "step \(step)")
            #expect(open.lastSeen == general.lastSeen && open.lastFingerprint == general.lastFingerprint
                    && open.lastInterface == general.lastInterface, "step \(step)")
            previous = segment
        }
        #expect(copies > 100 && copies < 10_000, "\(copies) copies: both kinds must be exercised")
    }

    /// `receiveWhileTearingDown`, the half-close's fast path, against the general `receive`: orig
    /// has sent its FIN (acknowledged or not), then random segments without SYN, FIN or RST from
    /// either side. Where the fast path takes one, the two records and their close sequences must
    /// agree; where it declines (an ACK of the FIN, data past it, a FIN proved), both take the
    /// general path.
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func tearingDown_sameRecordAsTheGeneralPath(seed: UInt64) {
        var random = GarbageTests.SplitMix64(state: seed)
        let (first, senderIsA) = Self.firstSegment()
        var fast = Self.openConnection(first, senderIsA: senderIsA)
        var general = fast
        var fastTeardowns = TeardownStore()
        var generalTeardowns = TeardownStore()
        var events: [Event] = []
        let fin = Self.segment(fromClient: true, flags: [.fin, .ack], seq: 1000, ack: 5000, payload: 0, window: 500,
                               ipID: 2, interface: nil, at: 2_000_000)
        _ = Self.receive(fin, by: &fast, senderIsA: senderIsA, teardowns: &fastTeardowns, events: &events)
        _ = Self.receive(fin, by: &general, senderIsA: senderIsA, teardowns: &generalTeardowns, events: &events)
        var clock: Int64 = 2_000_000
        var taken = 0, declined = 0
        for step in 0..<5_000 {
            clock += Int64(random.next() % 30_000_000)
            let fromClient = random.next() % 3 == 0
            let flagChoices: [TCPFlags] = [.ack, [.ack, .psh], [], .psh]
            // Around the FIN's sequence number (1000) and one past it, so that ACKs of the FIN,
            // data past it and segments proving an unseen FIN all occur.
            let segment = Self.segment(
                fromClient: fromClient, flags: flagChoices[Int(random.next() % 4)],
                seq: fromClient ? 999 &+ UInt32(random.next() % 3) : 5000 &+ UInt32(random.next() % 100_000),
                ack: fromClient ? 5000 &+ UInt32(random.next() % 100_000) : 999 &+ UInt32(random.next() % 3),
                payload: random.next() % 2 == 0 ? 0 : UInt32(random.next() % 1500),
                window: random.next() % 10 == 0 ? 0 : UInt16(random.next() % 65_535),
                ipID: UInt16(truncatingIfNeeded: random.next()),
                interface: random.next() % 4 == 0 ? nil : UInt32(random.next() % 3), at: clock)
            let sender = FlowKey.senderIsA(segment)
            let receipt = Self.receive(segment, by: &general, senderIsA: sender, teardowns: &generalTeardowns,
                                       events: &events)
            let number = fast.teardownNumber
            // As the table does: the fast path's step past the inline ones is the store's to keep.
            let quiet = fast.receiveWhileTearingDown(segment, senderIsA: sender, duplicateWindow: 20_000_000,
                                                     teardown: &fastTeardowns[number])
            if let quiet {
                var result = false
                if case .taken(let stepPastInline) = quiet {
                    result = true
                    if let stepPastInline { fastTeardowns.appendPastInline(stepPastInline, to: number) }
                }
                taken += 1
                #expect(result == !receipt.isCopy, "step \(step)")
                guard case .tracked = receipt.outcome else { Issue.record("step \(step): \(receipt.outcome)"); return }
                #expect(receipt.origBefore == general.orig.state && receipt.respBefore == general.resp.state,
                        "step \(step): the fast path took a segment that changed a state")
            } else {
                declined += 1
                _ = Self.receive(segment, by: &fast, senderIsA: sender, teardowns: &fastTeardowns, events: &events)
            }
            #expect(fast.endpoints[0] == general.endpoints[0] && fast.endpoints[1] == general.endpoints[1], "step \(step)")
            #expect(fast.history == general.history && fast.phase == general.phase, "step \(step)")
            #expect(fast.lastSeen == general.lastSeen && fast.lastFingerprint == general.lastFingerprint
                    && fast.lastInterface == general.lastInterface, "step \(step)")
            #expect(fastTeardowns.steps(fast.teardownNumber) == generalTeardowns.steps(general.teardownNumber), "step \(step)")
            if fast.phase != .tearingDown { break }   // the close completed: nothing left to compare
        }
        #expect(taken > 100 && declined > 10, "\(taken) taken, \(declined) declined: both must be exercised")
    }
}
