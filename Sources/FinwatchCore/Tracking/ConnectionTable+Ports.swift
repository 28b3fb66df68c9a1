/// The opt-in tallies kept beside the table's per-state counts: endpoints by service port
/// (`--metrics-ports`) and the local ports held toward each remote service (port exhaustion).
/// Both move exactly where `stateCounts` moves; with neither configured each hook is one branch.
package struct PortTally: Sendable {
    let breakdown: PortBreakdown?
    /// Endpoints per (bucket, state): `bucket * stateCount + state.ordinal`.
    var byPort: [Int]
    var use: EphemeralPortUse?

    init(configuration: TrackerConfiguration) {
        breakdown = configuration.metricsPorts
        byPort = Array(repeating: 0, count: (breakdown?.bucketCount ?? 0) * EndpointState.allCases.count)
        use = configuration.portExhaustion.map {
            EphemeralPortUse(threshold: $0, shards: configuration.portExhaustionShards, range: configuration.ephemeralPortRange)
        }
    }

    var isActive: Bool { breakdown != nil || use != nil }
}

extension ConnectionTable {
    /// A side of the connection keyed `key` moved from `old` to `new` (nil: not tracked before, or
    /// not any more). Returns a port exhaustion warning when this made the opener's destination
    /// reach the threshold.
    @inline(never)   // off the path most packets take, and only when configured
    mutating func tallyPorts(_ key: FlowKey, origIsA: Bool, side: Side, from old: EndpointState?,
                             to new: EndpointState?) -> PortExhaustion? {
        let (orig, resp) = origIsA ? (key.aPort, key.bPort) : (key.bPort, key.aPort)
        if let breakdown = ports.breakdown {
            let base = breakdown.bucket(orig: orig, resp: resp) * EndpointState.allCases.count
            if let old { ports.byPort[base + old.ordinal] -= 1 }
            if let new { ports.byPort[base + new.ordinal] += 1 }
        }
        guard side == .orig, ports.use != nil else { return nil }
        return ports.use!.openerMoved(EphemeralPortUse.Destination(key, origIsA: origIsA), from: old, to: new)
    }

    /// A new connection in `slot` counted with its first states; a warning becomes an anomaly of
    /// this connection, the one that reached the threshold.
    mutating func tallyStarted(slot: Int, at time: Timestamp, into events: inout [Event]) {
        guard ports.isActive else { return }
        let (key, origIsA) = (slots[slot].key, slots[slot].origIsA)
        _ = tallyPorts(key, origIsA: origIsA, side: .resp, from: nil, to: slots[slot].resp.state)
        if let warning = tallyPorts(key, origIsA: origIsA, side: .orig, from: nil, to: slots[slot].orig.state) {
            var anomaly = AnomalyEvent(time: time, identity: slots[slot].identity, anomaly: .portExhaustion,
                                       side: .orig, count: warning.held)
            anomaly.portExhaustion = warning
            events.append(.anomaly(anomaly))
        }
    }

    /// One side of the connection in `slot` changed state.
    mutating func tallyChanged(slot: Int, side: Side, from old: EndpointState, to new: EndpointState) {
        guard ports.isActive else { return }
        // Only a new connection adds a held port: a state change never reaches the threshold.
        _ = tallyPorts(slots[slot].key, origIsA: slots[slot].origIsA, side: side, from: old, to: new)
    }

    /// A connection (record or residue) left the table in these states.
    mutating func tallyRemoved(_ key: FlowKey, origIsA: Bool, orig: EndpointState, resp: EndpointState) {
        guard ports.isActive else { return }
        _ = tallyPorts(key, origIsA: origIsA, side: .orig, from: orig, to: nil)
        _ = tallyPorts(key, origIsA: origIsA, side: .resp, from: resp, to: nil)
    }

    /// Every connection forgotten at once.
    mutating func tallyRemoveAll() {
        for index in ports.byPort.indices { ports.byPort[index] = 0 }
        ports.use?.removeAll()
    }

    // MARK: - Views

    /// The local port range read live: a narrower one warns sooner, from the next connection on.
    package mutating func setEphemeralPortRange(_ range: EphemeralPortRange?) {
        ports.use?.setRange(range)
    }

    /// Endpoints by `--metrics-ports` label and state now; nil without the flag.
    package func endpointCountsByPort() -> [String: [EndpointState: Int]]? {
        guard let breakdown = ports.breakdown else { return nil }
        var counts: [String: [EndpointState: Int]] = [:]
        for (bucket, label) in breakdown.labels.enumerated() {
            var row: [EndpointState: Int] = [:]
            for state in EndpointState.allCases {
                row[state] = ports.byPort[bucket * EndpointState.allCases.count + state.ordinal]
            }
            counts[label] = row
        }
        return counts
    }

    /// The most local ports held toward one destination now, and the range they come from; nil
    /// when port exhaustion is not watched.
    package func ephemeralPortUse() -> (busiest: Int, range: EphemeralPortRange?)? {
        guard let use = ports.use else { return nil }
        return (use.busiest, use.range)
    }
}
