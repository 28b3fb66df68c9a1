import Testing
@testable import FinwatchCore

/// Random segments on a few dozen 4-tuples, into a table too small for them: handshakes, data,
/// FINs that are and are not acknowledged, RSTs, SYNs on 4-tuples in TIME_WAIT, copies, the clock
/// jumping past thresholds, TIME_WAIT and the hold after an RST. Whatever the order, the table's
/// bookkeeping must hold after every step: records, residues, the index, the state counts and
/// the timers all describe the same connections, and every connection gets exactly one close
/// record — at its close, its eviction, its idle timeout, its 4-tuple's reuse or the end.
@Suite("Tracking: random segments keep the table's invariants")
struct TableChaosTests {
    static let tuples = 40
    static let maxConnections = 24

    static func endpoints(_ tuple: Int) -> (client: Endpoint, server: Endpoint) {
        if tuple % 4 == 3 {
            return (Endpoint(ip: IPAddress(ipv6High: 0x2001_0db8_0000_0000, low: UInt64(tuple)), port: UInt16(40_000 + tuple)),
                    Endpoint(ip: IPAddress("2001:db8::443")!, port: 443))
        }
        return (Endpoint(ip: IPAddress(ipv4: 0xC612_0000 | UInt32(tuple)), port: UInt16(40_000 + tuple)),
                Endpoint(ip: IPAddress("198.19.0.1")!, port: 443))
    }

    /// What one side has sent so far, so most segments are plausible (FINs get acknowledged,
    /// retransmissions repeat a sequence number) and some are not.
    struct Flow {
        var next: [UInt32] = [1000, 90_000]   // client, server
        /// The sequence number each side's last FIN occupied: sent again, a retransmission.
        var fin: [UInt32?] = [nil, nil]
    }

    @Test(.timeLimit(.minutes(1)), arguments: [UInt64(11), 12, 13, 14, 15, 16])
    func invariantsHold(seed: UInt64) {
        var random = GarbageTests.SplitMix64(state: seed)
        var configuration = TrackerConfiguration()
        configuration.maxConnections = Self.maxConnections
        configuration.closeWaitThreshold = 2 * DurationText.second
        configuration.finWait2Threshold = 2 * DurationText.second
        configuration.lastAckThreshold = 2 * DurationText.second
        configuration.timeWait = 3 * DurationText.second
        configuration.idleTimeoutHandshake = 20 * DurationText.second
        configuration.idleTimeoutEstablished = 40 * DurationText.second
        configuration.idleTimeoutHalfClosed = 30 * DurationText.second
        // The port tallies ride along: they must follow the state counts through all of it.
        configuration.metricsPorts = PortBreakdown(ports: [443])
        configuration.portExhaustion = .count(1)   // each tuple has a client address of its own
        configuration.ephemeralPortRange = EphemeralPortRange(low: 40_000, high: 40_039)
        var table = ConnectionTable(configuration: configuration, hashSeed: seed)
        var flows = [Flow](repeating: Flow(), count: Self.tuples)
        var events: [Event] = []
        var clock: Int64 = 1_800_000_000_000_000_000
        var closed: [UInt64: Int] = [:]   // close records per uid
        var highestUID: UInt64 = 0
        var firing = Set<String>()        // uid/side/alert firing now
        var seen: [String: Int] = [:]     // what the mix exercised, by event kind
        var failures: [String] = []
        func fail(_ message: String) { if failures.count < 10 { failures.append(message) } }

        func check(_ step: Int) {
            for event in events {
                switch event {
                case .close(let record):
                    let uid = record.identity.uidNumber
                    highestUID = max(highestUID, uid)
                    closed[uid, default: 0] += 1
                    seen["close \(record.close)", default: 0] += 1
                    if closed[uid]! > 1 { fail("step \(step): a second close record for C\(uid)") }
                case .alert(let alert):
                    let uid = alert.identity.uidNumber
                    highestUID = max(highestUID, uid)
                    let key = "\(uid)/\(alert.side)/\(alert.alert)"
                    if closed[uid] != nil && alert.status == .firing { fail("step \(step): \(key) fires after its close record") }
                    seen["alert \(alert.status)", default: 0] += 1
                    if alert.status == .firing {
                        if !firing.insert(key).inserted { fail("step \(step): \(key) fires twice") }
                    } else if firing.remove(key) == nil {
                        fail("step \(step): \(key) resolved without firing")
                    }
                case .anomaly(let anomaly):
                    let uid = anomaly.identity.uidNumber
                    highestUID = max(highestUID, uid)
                    seen["anomaly \(anomaly.anomaly)", default: 0] += 1
                    let afterRecord: Set<Anomaly> = [.finRetransmit, .finalAckRetransmit, .timeWaitReuse, .timeWaitReset]
                    if closed[uid] != nil && !afterRecord.contains(anomaly.anomaly) {
                        fail("step \(step): \(anomaly.anomaly) on C\(uid) after its close record")
                    }
                case .start, .stats, .stop:
                    break
                }
            }
            events.removeAll(keepingCapacity: true)
            let counts = table.endpointCounts()
            if table.count > Self.maxConnections { fail("step \(step): \(table.count) tracked, bound \(Self.maxConnections)") }
            if counts.values.reduce(0, +) != 2 * table.count {
                fail("step \(step): state counts sum to \(counts.values.reduce(0, +)) for \(table.count) connections")
            }
            if counts.values.contains(where: { $0 < 0 }) { fail("step \(step): a negative state count \(counts)") }
            if let byPort = table.endpointCountsByPort(), byPort["443"] != counts || byPort["other"]?.values.contains(where: { $0 != 0 }) != false {
                fail("step \(step): counts by port \(byPort) are not the state counts \(counts)")
            }
            let truth = Self.heldPorts(table)
            let tallied = table.ports.use?.heldByDestination ?? [:]
            let agree = tallied.count == truth.count && tallied.allSatisfy { destination, tally in
                truth[destination].map { $0.held == tally.held && $0.timeWait == tally.timeWait } ?? false
            }
            if !agree {
                fail("step \(step): held ports \(tallied.values.map { $0 }) are not the table's \(truth.values.map { $0 })")
            }
        }

        for step in 0..<30_000 {
            // Mostly milliseconds apart; now and then seconds, past thresholds and TIME_WAIT.
            let jump = random.next() % 100
            clock += jump < 94 ? Int64(random.next() % 30_000_000) : Int64(random.next() % 12_000_000_000)
            let tuple = Int(random.next() % UInt64(Self.tuples))
            let fromClient = random.next() % 2 == 0
            let (client, server) = Self.endpoints(tuple)
            let (source, destination) = fromClient ? (client, server) : (server, client)
            let side = fromClient ? 0 : 1
            var flags: TCPFlags
            var payload: UInt32 = 0
            switch random.next() % 16 {
            case 0, 1: flags = fromClient ? .syn : [.syn, .ack]
            case 2, 3, 4: flags = .ack
            case 5, 6, 7: flags = [.psh, .ack]; payload = UInt32(random.next() % 1400) + 1
            case 8, 9, 10: flags = [.fin, .ack]
            case 11: flags = .rst
            case 12: flags = [.rst, .ack]
            case 13: flags = [.fin, .psh, .ack]; payload = UInt32(random.next() % 100) + 1
            default: flags = .ack
            }
            var sequence = flows[tuple].next[side]
            var acknowledgment = flows[tuple].next[1 - side]
            switch random.next() % 10 {
            case 0: sequence &-= UInt32(random.next() % 3000)               // old: a retransmission
            case 1: acknowledgment &-= UInt32(random.next() % 2)           // a FIN not yet covered
            case 2: sequence = UInt32(truncatingIfNeeded: random.next())   // out of window
            case 3, 4:
                if flags.contains(.fin), let fin = flows[tuple].fin[side] {   // the same FIN again
                    sequence = fin
                    payload = 0
                }
            default: break
            }
            if flags.contains(.syn) && !flags.contains(.ack) {
                flows[tuple].next = [UInt32(truncatingIfNeeded: random.next()), flows[tuple].next[1]]
                sequence = flows[tuple].next[0]
            }
            if flags.contains(.fin) { flows[tuple].fin[side] = sequence &+ payload }
            let consumed = payload + (flags.contains(.syn) || flags.contains(.fin) ? 1 : 0)
            if sequence == flows[tuple].next[side] { flows[tuple].next[side] &+= consumed }
            let segment = TCPSegment(timestamp: Timestamp(nanoseconds: clock), source: source.ip,
                                     destination: destination.ip, sourcePort: source.port,
                                     destinationPort: destination.port, sequence: SequenceNumber(sequence),
                                     acknowledgment: SequenceNumber(acknowledgment), flags: flags,
                                     payloadLength: payload, ipIdentification: UInt16(truncatingIfNeeded: random.next()),
                                     interfaceIndex: random.next() % 8 == 0 ? 2 : 1)
            table.advance(to: segment.timestamp, into: &events)
            table.observe(segment, into: &events)
            // Now and then the same segment again at once: a copy from another interface.
            if random.next() % 12 == 0 {
                var copy = segment
                copy.interfaceIndex = 3
                table.observe(copy, into: &events)
            }
            check(step)
        }
        table.finish(at: Timestamp(nanoseconds: clock + 1), reason: .endOfInput, into: &events)
        check(30_000)
        if table.count != 0 { fail("after finish: \(table.count) tracked") }
        // Every connection has exactly one close record: uids are given in order from 1.
        let missing = (1...max(highestUID, 1)).filter { closed[$0] == nil }
        if !missing.isEmpty { fail("no close record for \(missing.count) of \(highestUID) connections, first C\(missing[0])") }
        #expect(highestUID > 1000, "only \(highestUID) connections: the mix no longer exercises the table")
        // The paths this test is for, each taken: residues met by late segments, evictions,
        // alerts, teardowns of every kind.
        for kind in ["close normal", "close reset", "close halfClosed", "alert firing", "alert resolved",
                     "anomaly timeWaitReuse", "anomaly finRetransmit", "anomaly finalAckRetransmit"] {
            #expect(seen[kind, default: 0] > 0, "seed \(seed): the mix never produced \(kind): \(seen)")
        }
        #expect(table.evictions > 0, "seed \(seed): the table never had to evict")
        #expect(seen["anomaly portExhaustion", default: 0] > 0, "seed \(seed): no port exhaustion warning: \(seen)")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// The ports held per destination, counted afresh from every live record and residue: the
    /// truth the incremental tally must equal.
    static func heldPorts(_ table: borrowing ConnectionTable) -> [EphemeralPortUse.Destination: (held: Int, timeWait: Int)] {
        var truth: [EphemeralPortUse.Destination: (held: Int, timeWait: Int)] = [:]
        func add(_ key: FlowKey, _ origIsA: Bool, _ orig: EndpointState) {
            guard orig != .closed else { return }
            let destination = EphemeralPortUse.Destination(key, origIsA: origIsA)
            let now = truth[destination] ?? (0, 0)
            truth[destination] = (now.held + 1, now.timeWait + (orig == .timeWait ? 1 : 0))
        }
        for slot in table.slots.indices where table.slots[slot].isLive {
            add(table.slots[slot].key, table.slots[slot].origIsA, table.slots[slot].orig.state)
        }
        for r in table.residues.indices where table.residues[r].isLive {
            add(table.residues[r].key, table.residues[r].origIsA, table.residues[r].states[0])
        }
        return truth
    }
}
