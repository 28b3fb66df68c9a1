/// The table's bookkeeping when states change, and records written and removed.
extension ConnectionTable {
    // MARK: - State bookkeeping

    /// Compares states before and after a segment: counts, alerts resolved or armed, queues moved.
    /// Most segments change nothing: two byte compares and out.
    mutating func afterTransition(slot: Int, _ receipt: Receipt, at time: Timestamp,
                                          into events: inout [Event]) {
        let origNow = slots[slot].orig.state
        let respNow = slots[slot].resp.state
        if receipt.origBefore != origNow {
            stateChanged(slot: slot, side: .orig, from: receipt.origBefore, to: origNow, at: time, into: &events)
        }
        if receipt.respBefore != respNow {
            stateChanged(slot: slot, side: .resp, from: receipt.respBefore, to: respNow, at: time, into: &events)
        }
    }

    mutating func stateChanged(slot: Int, side: Side, from old: EndpointState, to new: EndpointState,
                                       at time: Timestamp, into events: inout [Event]) {
        count(old, -1)
        count(new, +1)
        tallyChanged(slot: slot, side: side, from: old, to: new)
        let firing = slots[slot].endpoints[side.index].alertFiring
        if firing, let alert = AlertKind(watching: old) {
            slots[slot].endpoints[side.index].alertFiring = false
            var resolved = AlertEvent(
                time: time, identity: slots[slot].identity, alert: alert, status: .resolved, side: side,
                since: enteredAt(slot: slot, side: side, fallback: time, old: old), duration: 0,
                threshold: configuration.threshold(for: alert))
            resolved.duration = time.nanoseconds(since: resolved.since)
            resolved.resolvedTo = new
            events.append(.alert(resolved))
        }
        if let alert = AlertKind(watching: new) {
            let deadline = time.adding(nanoseconds: configuration.threshold(for: alert)).nanoseconds
            push(TimerQueue.Entry(deadline: deadline, slot: UInt32(slot),
                                  generation: slots[slot].generation, side: side), to: alert)
        }
    }

    /// When the side entered `old`: kept by the teardown until the next transition overwrote it,
    /// so it is recomputed from the phase times the teardown holds.
    @inline(__always)
    func enteredAt(slot: Int, side: Side, fallback: Timestamp, old: EndpointState) -> Timestamp {
        let number = slots[slot].teardownNumber
        guard number != 0 else { return fallback }
        let teardown = teardowns[number]
        switch old {
        case .closeWait:
            // Entered when the peer's FIN passed.
            return teardown.finTime[side.peer.index] ?? fallback
        case .finWait2:
            return teardown.finAckedTime[side.index] ?? fallback
        case .lastAck:
            return teardown.finTime[side.index] ?? fallback
        case .synSent, .synReceived, .established, .finWait1, .closing, .timeWait, .closed:
            return fallback
        }
    }

    mutating func count(_ state: EndpointState, _ delta: Int) {
        stateCounts[state.ordinal] &+= delta   // at most two a tracked connection: never near overflow
    }

    // MARK: - Records and removal

    mutating func writeRecord(slot: Int, _ kind: CloseKind, at time: Timestamp, endedBy: EndedBy?,
                                      into events: inout [Event]) {
        let record = slots[slot].closeRecord(kind, at: time, endedBy: endedBy, teardowns: teardowns)
        events.append(.close(consume record))
    }

    /// After its record: TIME_WAIT for the active closer(s) for `--time-wait`, or a short hold
    /// after an RST. The record's slot is freed for a new connection; what TIME_WAIT needs moves
    /// to a residue, which takes over the record's index entry (the states stay counted).
    @inline(never)   // off the path most packets take
    mutating func enterResidue(slot: Int, hash: UInt64, at time: Timestamp) {
        let holdsTimeWait = slots[slot].orig.state == .timeWait || slots[slot].resp.state == .timeWait
        let r: Int
        if let free = freeResidues.popLast() {
            r = Int(free)
            residues[r] = slots[slot].residue(generation: residues[r].generation &+ 1, teardowns: teardowns)
        } else {
            r = residues.count
            residues.append(slots[slot].residue(generation: 0, teardowns: teardowns))
        }
        index.retarget(hash: hash, from: .record(slot), to: .residue(r))
        freeSlot(slot)
        let hold = holdsTimeWait ? configuration.timeWait : resetResidue
        let deadline = time.adding(nanoseconds: hold).nanoseconds
        timers.push(TimerQueue.Entry(deadline: deadline, slot: UInt32(r), generation: residues[r].generation, side: .orig),
                    .residue)
    }

    mutating func remove(slot: Int) {
        indexRemove(.record(slot), hash: slots[slot].key.hashValue(seed: seed))
        retireTunnel(uid: slots[slot].uidNumber)
        count(slots[slot].orig.state, -1)
        count(slots[slot].resp.state, -1)
        tallyRemoved(slots[slot].key, origIsA: slots[slot].origIsA, orig: slots[slot].orig.state, resp: slots[slot].resp.state)
        freeSlot(slot)
        liveCount -= 1
    }

    /// The slot back on the free list; timers still naming it are stale from here on.
    mutating func freeSlot(_ slot: Int) {
        slots[slot].isLive = false
        teardowns.release(slots[slot].teardownNumber)
        slots[slot].teardownNumber = 0
        slots[slot].generation &+= 1
        freeSlots.append(UInt32(slot))
    }

    /// TIME_WAIT over, an RST assassinated it, a new SYN replaced it, or the table needed room.
    @inline(never)   // off the path most packets take
    mutating func removeResidue(_ r: Int) {
        indexRemove(.residue(r), hash: residues[r].key.hashValue(seed: seed))
        retireTunnel(uid: residues[r].uidNumber)
        count(residues[r].states[0], -1)
        count(residues[r].states[1], -1)
        tallyRemoved(residues[r].key, origIsA: residues[r].origIsA, orig: residues[r].states[0], resp: residues[r].states[1])
        residues[r].isLive = false
        freeResidues.append(UInt32(r))
        liveCount -= 1
    }

    /// Whether a residue timer entry still stands for the residue it was made for.
    @inline(__always)
    func isCurrentResidue(_ entry: TimerQueue.Entry) -> Bool {
        let r = Int(entry.slot)
        return residues[r].isLive && entry.matches(residues[r].generation)
    }

    /// Writes the record of a connection that did not end on the wire, and removes it.
    mutating func end(slot: Int, at time: Timestamp, reason: EndedBy, into events: inout [Event]) {
        writeRecord(slot: slot, slots[slot].unfinishedCloseKind, at: time, endedBy: reason, into: &events)
        remove(slot: slot)
    }
}
