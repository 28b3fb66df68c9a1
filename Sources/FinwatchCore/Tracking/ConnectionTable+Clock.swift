/// The table's clock: alerts, TIME_WAIT's end, idle timeouts, and eviction when full.
extension ConnectionTable {
    // MARK: - Clock

    /// Moves the clock to `time`: fires alerts whose threshold passed, ends TIME_WAIT and idle
    /// connections. Offline the packet clock, live the host clock.
    package mutating func advance(to time: Timestamp, into events: inout [Event]) {
        let now = time.nanoseconds
        guard now >= timers.nextDue else { return }
        let start = enterCall(events)
        defer { leaveCall(start, &events) }
        for alert in AlertKind.allCases { fireAlerts(alert, now: time, into: &events) }
        while let head = timers.first(.residue), head.deadline <= now {
            timers.popFirst(.residue)
            guard isCurrentResidue(head) else { continue }
            // TIME_WAIT over (2*MSL): the active closer is CLOSED and the 4-tuple free again.
            removeResidue(Int(head.slot))
        }
        expireIdle(.opening, now: time, into: &events)
        expireIdle(.open, now: time, into: &events)
        expireIdle(.tearingDown, now: time, into: &events)
        timers.recomputeNextDue()
    }

    mutating func fireAlerts(_ alert: AlertKind, now: Timestamp, into events: inout [Event]) {
        while let head = timers.first(TimerKind(alert)), head.deadline <= now.nanoseconds {
            timers.popFirst(TimerKind(alert))
            let s = Int(head.slot)
            guard Self.isCurrent(head, alert, in: slots) else { continue }
            slots[s].endpoints[head.side.index].alertFiring = true
            slots[s].anomalies.insert(alert.anomaly)
            let since = slots[s].since(head.side, in: teardowns)
            events.append(.alert(AlertEvent(
                time: now, identity: slots[s].identity, alert: alert, status: .firing, side: head.side,
                since: since, duration: now.nanoseconds(since: since),
                threshold: configuration.threshold(for: alert))))
        }
    }

    /// Each connection has one idle entry at a time, in the queue of the phase it had when the
    /// entry was made; a connection found in another phase moves to its own queue then. So a
    /// connection that opened, closed and lingered costs one 16-byte entry, not one per phase.
    mutating func expireIdle(_ phase: RecordPhase, now: Timestamp, into events: inout [Event]) {
        var budget = 100_000   // bounded work per tick; the rest waits for the next one
        while budget > 0, let head = timers.first(TimerKind(idle: phase)), head.deadline <= now.nanoseconds {
            budget -= 1
            timers.popFirst(TimerKind(idle: phase))
            let s = Int(head.slot)
            guard Self.isCurrentIdle(head, in: slots) else { continue }
            let current = slots[s].phase
            let quietUntil = slots[s].lastSeen.adding(nanoseconds: idleTimeout(current))
            if quietUntil <= now {
                end(slot: s, at: now, reason: .idleTimeout, into: &events)
            } else {
                pushIdle(TimerQueue.Entry(deadline: quietUntil.nanoseconds, slot: head.slot,
                                          generation: slots[s].generation, side: .orig), current)
            }
        }
    }

    // MARK: - Eviction

    /// Frees one slot for a new connection, sacrificing what matters least: a residue (its record
    /// is written), then an unanswered SYN (a flood's), then the quietest open connection, and
    /// half-closed ones — what users watch — only when nothing else is left.
    mutating func evictOne(at time: Timestamp, into events: inout [Event]) -> Bool {
        while let head = timers.popFirst(.residue) {
            guard isCurrentResidue(head) else { continue }
            removeResidue(Int(head.slot))
            evictions &+= 1
            return true
        }
        for phase in [RecordPhase.opening, .open, .tearingDown] {
            var budget = 64   // second chances per eviction, so a busy table stays O(1)
            while let head = timers.first(TimerKind(idle: phase)) {
                timers.popFirst(TimerKind(idle: phase))
                let s = Int(head.slot)
                guard Self.isCurrentIdle(head, in: slots) else { continue }
                if slots[s].phase != phase {
                    // Queued under an earlier phase: move it to its own queue (its only entry).
                    let current = slots[s].phase
                    pushIdle(TimerQueue.Entry(deadline: slots[s].lastSeen.adding(nanoseconds: idleTimeout(current)).nanoseconds,
                                              slot: head.slot, generation: slots[s].generation, side: .orig), current)
                    continue
                }
                let quietSince = slots[s].lastSeen.adding(nanoseconds: idleTimeout(phase)).nanoseconds
                if quietSince > head.deadline && budget > 0 {
                    // Active since it was queued: a second chance at the back, as CLOCK does.
                    budget -= 1
                    pushIdle(TimerQueue.Entry(deadline: quietSince, slot: head.slot,
                                              generation: slots[s].generation, side: .orig), phase)
                    continue
                }
                end(slot: s, at: time, reason: .eviction, into: &events)
                evictions &+= 1
                return true
            }
        }
        return false
    }

    // MARK: - Timer queues

    // The helpers below read `self` and are marked to be inlined: a non-mutating method that is
    // called, not inlined, takes the whole table (360 bytes) as a copy, once per packet for `find`.

    @inline(__always)
    func idleTimeout(_ phase: RecordPhase) -> Int64 {
        switch phase {
        case .opening: configuration.idleTimeoutHandshake
        case .open: configuration.idleTimeoutEstablished
        case .tearingDown: configuration.idleTimeoutHalfClosed
        }
    }

    mutating func pushIdle(_ entry: TimerQueue.Entry, _ phase: RecordPhase) {
        timers.push(entry, TimerKind(idle: phase))
        if idleTimerEntries > compactionThreshold { compactIdleTimers() }
    }

    /// Alert timer entries waiting, stale ones included.
    package var alertTimerEntries: Int { timers.count(.closeWait) + timers.count(.finWait2) + timers.count(.lastAck) }

    /// Idle timer entries waiting, stale ones included.
    package var idleTimerEntries: Int { timers.count(.opening) + timers.count(.open) + timers.count(.tearingDown) }

    /// Stale entries tolerated beyond the records' own before a queue is swept.
    static let timerCompactionSlack = 4096

    /// Entries a kind of timers may hold before its stale ones are swept: twice the records and
    /// the slack. Wrapping arithmetic: the slots are far fewer than `Int.max / 2`.
    @inline(__always)
    var compactionThreshold: Int { 2 &* recordCount &+ ConnectionTable.timerCompactionSlack }

    /// Whether an idle entry still stands for its connection: the slot holds the connection it
    /// was made for (a connection that became a residue left its slot: a residue's end is the
    /// residue timer's).
    @inline(__always)
    static func isCurrentIdle(_ entry: TimerQueue.Entry, in slots: borrowing Arena<Connection>) -> Bool {
        let s = Int(entry.slot)
        return slots[s].isLive && entry.matches(slots[s].generation)
    }

    /// Whether an alert entry still stands: its side is still in the alert's state, not yet firing.
    @inline(__always)
    static func isCurrent(_ entry: TimerQueue.Entry, _ alert: AlertKind, in slots: borrowing Arena<Connection>) -> Bool {
        let s = Int(entry.slot)
        let side = entry.side.index
        return slots[s].isLive && entry.matches(slots[s].generation)
            && slots[s].endpoints[side].state == alert.state && !slots[s].endpoints[side].alertFiring
    }

    /// Sweeps the stale idle entries. Idle timeouts are days long and an entry is never removed
    /// when its connection ends, so on a host where connections live past the handshake timeout
    /// the queues grew by 16 bytes per connection ended, for five days: gigabytes at a thousand
    /// connections a second. Each connection with a record has one entry, so a sweep leaves at
    /// most `recordCount`, and the next waits for as many pushes again: amortised O(1) per push.
    mutating func compactIdleTimers() {
        Self.compactIdle(&timers, slots)
    }

    mutating func schedule(idleTimerFor slot: Int, at time: Timestamp) {
        let phase = slots[slot].phase
        let deadline = time.adding(nanoseconds: idleTimeout(phase)).nanoseconds
        pushIdle(TimerQueue.Entry(deadline: deadline, slot: UInt32(slot),
                                  generation: slots[slot].generation, side: .orig), phase)
    }

    mutating func push(_ entry: TimerQueue.Entry, to alert: AlertKind) {
        let entries = timers.push(entry, TimerKind(alert))
        // Most sides leave the state long before a threshold of hours: swept like the idle timers.
        if entries > compactionThreshold { compactAlertTimers(alert) }
    }

    /// Drops the entries of `alert`'s queue whose side has left the state (or already fires).
    mutating func compactAlertTimers(_ alert: AlertKind) {
        Self.compact(alert, &timers, slots)
    }

    // A sweep asks the records which entries still stand while it changes the queues: these
    // take the two fields apart, as a closure reading the records through the table could not.

    private static func compactIdle(_ timers: inout Timers, _ slots: borrowing Arena<Connection>) {
        for kind in [TimerKind.opening, .open, .tearingDown] { timers.compact(kind) { isCurrentIdle($0, in: slots) } }
    }

    private static func compact(_ alert: AlertKind, _ timers: inout Timers, _ slots: borrowing Arena<Connection>) {
        timers.compact(TimerKind(alert)) { isCurrent($0, alert, in: slots) }
    }
}
