/// End of input, capture drops, and what the table shows of itself.
extension ConnectionTable {
    // MARK: - End of input

    /// End of input or shutdown: every tracked connection gets its close record (`reason` goes to
    /// its `ended_by`); firing alerts stay firing.
    ///
    /// `flush` is handed the events every `batch` records, so hundreds of thousands of records
    /// never sit in memory at once (the caller writes and clears them).
    package mutating func finish(at time: Timestamp, reason: EndedBy, into events: inout [Event],
                                 batch: Int = 1024, flush: (inout [Event]) -> Void = { _ in }) {
        let time = Timestamp(nanoseconds: max(time.nanoseconds, latest))   // never before a segment seen
        // Oldest first, so the output reads in the order connections began. The uids are read in
        // one pass over the slots and sorted on their own, each packed with its slot into one
        // word: a sort comparing records would read two of them per comparison, each a cache miss
        // in a table this full. The index is let go first: nothing is looked up from here on,
        // and this runs when the table is fullest, so its memory is what the list reuses.
        index.removeAll(keepingNothing: true)
        var uids = (lowest: UInt64.max, highest: UInt64(0))
        for slot in slots.indices where slots[slot].isLive {
            uids = (min(uids.lowest, slots[slot].uidNumber), max(uids.highest, slots[slot].uidNumber))
        }
        let slotBits = UInt64(index.referenceBits)   // at most 32: the uid's distance from the lowest gets the rest
        if uids.lowest <= uids.highest && (uids.highest - uids.lowest) >> (64 - slotBits) != 0 {
            // Live uids further apart than the packing allows (a run of billions of connections
            // with one of its first still open): the pairs unpacked, twice the memory.
            var live: [(uid: UInt64, slot: UInt32)] = []
            live.reserveCapacity(liveCount)
            for slot in slots.indices where slots[slot].isLive {
                live.append((slots[slot].uidNumber, UInt32(slot)))
            }
            live.sort { $0.uid < $1.uid }
            for entry in live { finishRecord(slot: Int(entry.slot), at: time, reason: reason, into: &events, batch: batch, flush: flush) }
        } else {
            var packed: [UInt64] = []
            packed.reserveCapacity(liveCount)
            for slot in slots.indices where slots[slot].isLive {
                packed.append((slots[slot].uidNumber - uids.lowest) << slotBits | UInt64(slot))
            }
            packed.sort()
            let slotField: UInt64 = (1 << slotBits) - 1
            for key in packed {
                finishRecord(slot: Int(key & slotField), at: time, reason: reason, into: &events, batch: batch, flush: flush)
            }
        }
        removeAll()
    }

    /// One connection's record at end of input, handed on with the others `batch` at a time.
    mutating func finishRecord(slot: Int, at time: Timestamp, reason: EndedBy, into events: inout [Event],
                                       batch: Int, flush: (inout [Event]) -> Void) {
        let start = events.count
        writeRecord(slot: slot, slots[slot].unfinishedCloseKind, at: time, endedBy: reason, into: &events)
        if !tunnels.entries.isEmpty { annotateTunnels(&events, from: start) }
        if events.count >= batch { flush(&events) }
    }

    /// Forgets every connection at once: after `finish`, nothing is left to find, so no record is
    /// taken out of the index one by one.
    mutating func removeAll() {
        tunnels = TunnelRegistry()
        slots.removeAll()
        freeSlots.removeAll()
        residues.removeAll()
        freeResidues.removeAll()
        teardowns = TeardownStore()
        index.removeAll()
        liveCount = 0
        for state in stateCounts.indices { stateCounts[state] = 0 }
        tallyRemoveAll()
        timers = Timers()
    }

    /// libpcap dropped packets: every connection tracked now may be missing segments.
    package mutating func noteCaptureDrops() {
        for slot in slots.indices where slots[slot].isLive {
            slots[slot].mayHaveLostSegments = true
        }
    }

    // MARK: - Views

    /// Endpoints in each RFC state now.
    package func endpointCounts() -> [EndpointState: Int] {
        var counts: [EndpointState: Int] = [:]
        for state in EndpointState.allCases { counts[state] = stateCounts[state.ordinal] }
        return counts
    }

    /// The sides half-closed now (CLOSE_WAIT, FIN_WAIT_2, LAST_ACK), oldest problem first.
    package func halfClosedSnapshot() -> [ConnectionSnapshot] {
        var rows: [ConnectionSnapshot] = []
        for slot in slots.indices where slots[slot].isLive && slots[slot].phase == .tearingDown {
            let connection = slots[slot]
            for side in Side.allCases where AlertKind(watching: connection[side].state) != nil {
                var identity = connection.identity
                _ = annotate(&identity)
                rows.append(ConnectionSnapshot(
                    identity: identity, origState: connection.orig.state,
                    respState: connection.resp.state, side: side, state: connection[side].state,
                    since: connection.since(side, in: teardowns), alertFiring: connection[side].alertFiring,
                    lastSeen: connection.lastSeen))
            }
        }
        return rows.sorted { $0.since < $1.since }
    }
}

extension EndpointState {
    /// Position in `allCases`, for per-state counters without a dictionary on the hot path.
    var ordinal: Int {
        switch self {
        case .synSent: 0
        case .synReceived: 1
        case .established: 2
        case .finWait1: 3
        case .finWait2: 4
        case .closeWait: 5
        case .closing: 6
        case .lastAck: 7
        case .timeWait: 8
        case .closed: 9
        }
    }
}
