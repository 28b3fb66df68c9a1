import FinwatchCore

/// Fuzz target 2: a `SegmentScript` through a small connection table on the packet clock, in
/// batches as the pipeline feeds it, with the table's invariants checked after every segment:
/// its bookkeeping whole (the state counts are two per connection, none negative, the bound
/// held), no negative duration, at most one close record per connection, alerts that fire once
/// and resolve once and never after the close record; and at the end every connection closed
/// exactly once. (A firing alert may stay firing: at the end, or when its connection is evicted
/// or idles out while still stuck, as the README says.)
package enum TrackerFuzzTarget {
    package static func configuration() -> TrackerConfiguration {
        var configuration = TrackerConfiguration()
        configuration.maxConnections = 5
        configuration.closeWaitThreshold = 2_000_000_000
        configuration.finWait2Threshold = 2_000_000_000
        configuration.lastAckThreshold = 1_000_000_000
        configuration.timeWait = 3_000_000_000
        configuration.idleTimeoutHandshake = 20_000_000_000
        configuration.idleTimeoutEstablished = 40_000_000_000
        configuration.idleTimeoutHalfClosed = 30_000_000_000
        // The port tallies ride along (a label for the scripts' low ports, a warning at 2 held).
        configuration.metricsPorts = PortBreakdown(ports: [80, 443])
        configuration.portExhaustion = .count(2)
        configuration.ephemeralPortRange = EphemeralPortRange(low: 1024, high: 65535)
        return configuration
    }

    package static func run(_ input: [UInt8]) -> [String] {
        run(input) { _ in }
    }

    /// Runs the script and hands every event to `inspect` as it is checked (the JSON target
    /// encodes them); returns what broke an invariant, at most a few lines.
    package static func run(_ input: [UInt8], inspect: (Event) -> Void) -> [String] {
        let script = SegmentScript(input)
        var checker = InvariantChecker(maxConnections: configuration().maxConnections)
        var table = ConnectionTable(configuration: configuration(), hashSeed: UInt64(input.count))
        var events: [Event] = []
        var batch = SegmentBatch(capacity: 4)
        var step = 0
        func check() {
            for event in events { inspect(event); checker.check(event, step: step) }
            events.removeAll(keepingCapacity: true)
            checker.checkTable(count: table.count, counts: table.endpointCounts(), step: step)
            checker.checkPorts(table.endpointCountsByPort(), counts: table.endpointCounts(),
                               held: table.ephemeralPortUse()?.busiest, tracked: table.count, step: step)
        }
        for item in script.steps {
            // Batches of up to four, as the capture stage hands them over.
            batch.segments.append(item.segment)
            if item.copied {
                var copy = item.segment
                copy.interfaceIndex = 3
                batch.segments.append(copy)
            }
            if batch.segments.count >= 4 || step == script.steps.count - 1 {
                table.observe(batch, packetClock: true, into: &events)
                batch.removeAll()
                check()
            }
            step += 1
        }
        let end = script.steps.map(\.segment.timestamp.nanoseconds).max() ?? 0
        table.finish(at: Timestamp(nanoseconds: end + 1), reason: .endOfInput, into: &events)
        check()
        if table.count != 0 { checker.fail("after finish: \(table.count) connections still tracked") }
        if let held = table.ephemeralPortUse()?.busiest, held != 0 { checker.fail("after finish: \(held) ports still held") }
        checker.checkEveryConnectionClosed()
        return checker.failures
    }
}

/// What must hold whatever the segments: the checks of the table chaos test, as a value the fuzz
/// targets and the tests share.
package struct InvariantChecker {
    let maxConnections: Int
    package private(set) var failures: [String] = []
    private var closed: [UInt64: Int] = [:]
    private var highestUID: UInt64 = 0
    private var firing = Set<String>()

    package init(maxConnections: Int) { self.maxConnections = maxConnections }

    package mutating func fail(_ message: String) {
        if failures.count < 8 { failures.append(message) }
    }

    package mutating func check(_ event: Event, step: Int) {
        switch event {
        case .close(let record):
            let uid = record.identity.uidNumber
            highestUID = max(highestUID, uid)
            closed[uid, default: 0] += 1
            if closed[uid]! > 1 { fail("step \(step): a second close record for C\(uid)") }
            let d = record.durations
            for (name, value) in [("fin_wait_1", d.finWait1), ("fin_wait_2", d.finWait2), ("close_wait", d.closeWait),
                                  ("last_ack", d.lastAck), ("teardown", d.teardown), ("lifetime", d.lifetime)] {
                if let value, value < 0 { fail("step \(step): C\(uid) \(name) is \(value) ns") }
            }
            for step in record.sequence where step.offset < 0 { fail("C\(uid): a close-sequence step at \(step.offset) ns") }
            for interval in record.origFINIntervals + record.respFINIntervals where interval < 0 {
                fail("C\(uid): a FIN interval of \(interval) ns")
            }
        case .alert(let alert):
            let uid = alert.identity.uidNumber
            highestUID = max(highestUID, uid)
            let key = "C\(uid)/\(alert.side)/\(alert.alert)"
            if alert.duration < 0 { fail("step \(step): \(key) \(alert.status) after \(alert.duration) ns") }
            if alert.status == .firing {
                if closed[uid] != nil { fail("step \(step): \(key) fires after its close record") }
                if !firing.insert(key).inserted { fail("step \(step): \(key) fires twice") }
            } else if firing.remove(key) == nil {
                fail("step \(step): \(key) resolved without firing")
            }
        case .anomaly(let anomaly):
            highestUID = max(highestUID, anomaly.identity.uidNumber)
        case .start, .stats, .stop:
            break
        }
    }

    package mutating func checkTable(count: Int, counts: [EndpointState: Int], step: Int) {
        if count > maxConnections { fail("step \(step): \(count) tracked, bound \(maxConnections)") }
        let total = counts.values.reduce(0, +)
        if total != 2 * count { fail("step \(step): state counts sum to \(total) for \(count) connections") }
        if counts.values.contains(where: { $0 < 0 }) { fail("step \(step): a negative state count \(counts)") }
    }

    /// The endpoints by port add up to the state counts; no destination holds more ports than
    /// there are connections, nor fewer than none.
    package mutating func checkPorts(_ byPort: [String: [EndpointState: Int]]?, counts: [EndpointState: Int],
                                     held: Int?, tracked: Int, step: Int) {
        if let byPort {
            for state in EndpointState.allCases {
                let sum = byPort.values.reduce(0) { $0 + ($1[state] ?? 0) }
                if sum != counts[state] ?? 0 { fail("step \(step): \(state) by port sums to \(sum), not \(counts[state] ?? 0)") }
            }
        }
        if let held, held < 0 || held > tracked { fail("step \(step): \(held) ports held by \(tracked) connections") }
    }

    /// uids are given in order from C1: every one up to the highest seen has its record.
    package mutating func checkEveryConnectionClosed() {
        guard highestUID > 0 else { return }
        if let missing = (1...highestUID).first(where: { closed[$0] == nil }) {
            fail("no close record for C\(missing) (of \(highestUID))")
        }
    }
}
