/// Every tracked connection, keyed by its 4-tuple, with the timers that end them. The only
/// entry point of the tracker: segments and clock ticks in, events out.
///
/// Memory: records live in one dense slot array reserved for `maxConnections` up front (pages
/// are touched only as slots are used) and an open-addressing index of 4-byte slot numbers, so
/// an open connection costs its record plus a few bytes of index. A connection whose record is
/// written leaves its slot for an 88-byte `Residue` in an array of their own, under the same
/// index entry. Time: a lookup is a hash and a short probe; timers are FIFO queues (one per
/// kind, each with one fixed duration), so no per-packet cost grows with the number of
/// connections.
package struct ConnectionTable: ~Copyable {
    package let configuration: TrackerConfiguration
    package private(set) var evictions: UInt64 = 0
    /// Copies of one segment captured again on another interface, ignored.
    package private(set) var duplicates: UInt64 = 0
    /// New connections not tracked because the table was full of connections it must not evict.
    package private(set) var rejected: UInt64 = 0

    private var slots: [Connection] = []
    /// TIME_WAIT and the short hold after an RST: what is left of connections already written.
    private var residues: [Residue] = []
    private var freeResidues: [UInt32] = []
    /// The teardowns of the connections closing now, apart from their records.
    private var teardowns = TeardownStore()
    private var freeSlots: [UInt32] = []
    /// Open addressing, linear probing: 0 is empty, otherwise a reference in the low bits
    /// (`slotMask`: slot + 1, or `residueFlag` | residue + 1) and the top bits of the key's hash
    /// above them (the tag). A probe that meets another key is almost always told by its tag,
    /// without reading that record: the records are far bigger than the cache, and each one
    /// read was a cache miss.
    private var index: [UInt32]
    /// Bits that hold a reference: enough for `maxConnections` and the residue flag above it;
    /// the rest of the word is the tag.
    private let slotMask: UInt32
    /// The reference's top bit: set, the rest numbers a residue; clear, a record's slot.
    private let residueFlag: UInt32
    private let tagShift: UInt32
    private var liveCount = 0
    private var nextUID: UInt64 = 1
    private let seed: UInt64
    private var stateCounts = [Int](repeating: 0, count: EndpointState.allCases.count)

    private var closeWaitTimers = TimerQueue()
    private var finWait2Timers = TimerQueue()
    private var lastAckTimers = TimerQueue()
    /// Residues (TIME_WAIT, or the short hold after an RST), by expiry.
    private var residueTimers = TimerQueue()
    /// Idle timeouts by phase; also the eviction order (oldest activity first).
    private var openingTimers = TimerQueue()
    private var openTimers = TimerQueue()
    private var closingTimers = TimerQueue()
    /// The earliest deadline at any queue's head: `advance` is one comparison until then.
    private var nextDue: Int64 = .max

    /// How long a connection ended by an RST is held to absorb segments still in flight.
    private let resetResidue: Int64

    /// The most slots reserved up front (152 MB of address space).
    static let reservedSlotsLimit = 1 << 20

    package init(configuration: TrackerConfiguration, hashSeed: UInt64 = 0x5EED_F1A7_C0FF_EE00) {
        self.configuration = configuration
        seed = hashSeed
        resetResidue = min(configuration.timeWait, 10 * DurationText.second)
        // Reserved, not touched: pages arrive as slots are used, and the array never copies itself
        // to grow under load. Past a million slots it grows instead: reserving 2^31 records
        // (326 GB of address space) is refused by the kernel, and the process aborts.
        let reserved = min(max(configuration.maxConnections, 16), ConnectionTable.reservedSlotsLimit)
        slots.reserveCapacity(reserved)
        residues.reserveCapacity(reserved)
        teardowns.reserve(reserved)
        index = [UInt32](repeating: 0, count: 1024)
        let numberBits = UInt64(max(configuration.maxConnections, 16) + 1).bitWidth
            - UInt64(max(configuration.maxConnections, 16) + 1).leadingZeroBitCount
        let slotBits = numberBits + 1   // and the residue flag
        // The command line stops at 100 million (`maximumConnectionsLimit`), far below this.
        precondition(slotBits <= 32, "maxConnections \(configuration.maxConnections) needs more than 32 bits of index")
        slotMask = slotBits >= 32 ? .max : (1 << UInt32(slotBits)) - 1
        residueFlag = 1 << UInt32(slotBits - 1)
        tagShift = UInt32(min(slotBits, 32))
    }

    /// Tracked connections now, TIME_WAIT residues included.
    package var count: Int { liveCount }

    /// Connections with a record (not yet written), residues left out: the only ones idle and
    /// alert timers stand for.
    private var recordCount: Int { slots.count - freeSlots.count }

    // MARK: - Segments

    /// Feeds one segment; appends what it caused to `events` (which the caller reuses, so the
    /// hot path allocates nothing).
    package mutating func observe(_ segment: TCPSegment, into events: inout [Event]) {
        let senderIsA = FlowKey.senderIsA(segment)
        let key = FlowKey(segment, senderIsA: senderIsA)
        let hash = key.hashValue(seed: seed)
        guard let reference = find(key, hash: hash) else {
            startConnection(segment, key: key, senderIsA: senderIsA, hash: hash, into: &events)
            return
        }
        if reference & residueFlag != 0 {
            observeResidue(residueNumber(reference), segment, senderIsA: senderIsA, key: key, hash: hash,
                           into: &events)
            return
        }
        let s = Int(reference) - 1
        if slots[s].isPlainSegmentWhileOpen(segment) {
            // Most segments: data and ACKs mid-connection, which change no state.
            if !slots[s].receiveWhileOpen(segment, senderIsA: senderIsA, duplicateWindow: configuration.duplicateWindow) {
                duplicates &+= 1
            }
            return
        }
        if segment.flags.contains(.syn) && !segment.flags.contains(.ack)
            && slots[s].startsNewConnection(segment, from: slots[s].side(senderIsA: senderIsA), teardowns: teardowns) {
            // The old connection ended unseen (its host rebooted, or its last segments were
            // lost): written as it stands, before the SYN touches it.
            end(slot: s, at: segment.timestamp, reason: "reused", into: &events)
            startConnection(segment, key: key, senderIsA: senderIsA, hash: hash, into: &events)
            return
        }
        let window = configuration.duplicateWindow
        let receipt = slots[s].receive(segment, senderIsA: senderIsA, duplicateWindow: window,
                                       teardowns: &teardowns, into: &events)
        if receipt.isCopy {
            duplicates &+= 1
            return
        }
        afterTransition(slot: s, receipt, at: segment.timestamp, into: &events)
        if case .closed(let kind) = receipt.outcome {
            writeRecord(slot: s, kind, at: segment.timestamp, endedBy: nil, into: &events)
            enterResidue(slot: s, hash: hash, at: segment.timestamp)
        }
    }

    /// A late segment on a connection already written: TIME_WAIT's business.
    @inline(never)   // off the path most packets take
    private mutating func observeResidue(_ r: Int, _ segment: TCPSegment, senderIsA: Bool, key: FlowKey, hash: UInt64,
                                         into events: inout [Event]) {
        switch residues[r].receive(segment, senderIsA: senderIsA, duplicateWindow: configuration.duplicateWindow,
                                   into: &events) {
        case .copy:
            duplicates &+= 1
        case .kept:
            break
        case .replaced:
            removeResidue(r)
            startConnection(segment, key: key, senderIsA: senderIsA, hash: hash, into: &events)
        case .ended:
            removeResidue(r)
        }
    }

    /// Every frame of `batch` in capture order. On the packet clock (offline) the clock moves to
    /// each frame's time before its segment, TCP or not, so a due alert fires at the first frame
    /// past its deadline whatever connection that frame belongs to.
    package mutating func observe(_ batch: borrowing SegmentBatch, packetClock: Bool, into events: inout [Event]) {
        let others = batch.otherFrames
        var next = 0
        for index in batch.segments.indices {
            while next < others.count && others[next].position == index {
                if packetClock { advance(to: others[next].time, into: &events) }
                next += 1
            }
            let segment = batch.segments[index]
            // `advance` does nothing before the next deadline: checked here, not in a call per packet.
            if packetClock && segment.timestamp.nanoseconds >= nextDue { advance(to: segment.timestamp, into: &events) }
            observe(segment, into: &events)
        }
        while next < others.count {
            if packetClock { advance(to: others[next].time, into: &events) }
            next += 1
        }
    }

    private mutating func startConnection(_ segment: TCPSegment, key: FlowKey, senderIsA: Bool, hash: UInt64,
                                          into events: inout [Event]) {
        let flags = segment.flags
        // An RST for an unknown connection (a scan's answer, backscatter) starts nothing.
        if flags.contains(.rst) { return }
        if liveCount >= configuration.maxConnections {
            guard evictOne(at: segment.timestamp, into: &events) else {
                rejected &+= 1
                return
            }
        }
        let opening = flags.contains(.syn)
        let origIsA: Bool
        let handshakeSeen: Bool
        if opening {
            // A SYN names orig; a SYN+ACK names its receiver (the SYN itself was missed).
            origIsA = flags.contains(.ack) ? !senderIsA : senderIsA
            handshakeSeen = !flags.contains(.ack)
        } else {
            let senderIsOrig = ConnectionTable.inferSenderIsOrig(segment)
            origIsA = senderIsOrig == senderIsA
            handshakeSeen = false
        }
        var connection = Connection(
            key: key, origIsA: origIsA, uidNumber: nextUID, generation: 0,
            phase: opening ? .opening : .open, handshakeSeen: handshakeSeen,
            firstSeen: segment.timestamp, lastSeen: segment.timestamp,
            orig: EndpointRecord(state: opening ? .synSent : .established),
            resp: EndpointRecord(state: opening ? .closed : .established))
        if !handshakeSeen { connection.history.recordFlipped() }
        nextUID &+= 1

        let slot: Int
        if let free = freeSlots.popLast() {
            slot = Int(free)
            connection.generation = slots[slot].generation &+ 1
            slots[slot] = connection
        } else {
            slot = slots.count
            slots.append(connection)
        }
        liveCount += 1
        insertIndex(UInt32(slot), hash: hash)
        count(slots[slot].orig.state, +1)
        count(slots[slot].resp.state, +1)
        schedule(idleTimerFor: slot, at: segment.timestamp)

        // The first segment goes through the same transitions as every other.
        let receipt = slots[slot].receive(segment, senderIsA: senderIsA,
                                         duplicateWindow: configuration.duplicateWindow,
                                         teardowns: &teardowns, into: &events)
        afterTransition(slot: slot, receipt, at: segment.timestamp, into: &events)
        if case .closed(let kind) = receipt.outcome {
            writeRecord(slot: slot, kind, at: segment.timestamp, endedBy: nil, into: &events)
            enterResidue(slot: slot, hash: hash, at: segment.timestamp)
        }
    }

    /// Which side opened a connection whose SYN was not seen: a port below 1024 answers; else a
    /// port in Linux's ephemeral range (32768–60999) opened; else the higher port opened; on a
    /// tie the sender of the first segment seen is orig. The README documents this rule.
    static func inferSenderIsOrig(_ segment: TCPSegment) -> Bool {
        let (source, destination) = (segment.sourcePort, segment.destinationPort)
        if (source < 1024) != (destination < 1024) { return destination < 1024 }
        let ephemeral: ClosedRange<UInt16> = 32768...60999
        if ephemeral.contains(source) != ephemeral.contains(destination) { return ephemeral.contains(source) }
        if source != destination { return source > destination }
        return true
    }

    // MARK: - State bookkeeping

    /// Compares states before and after a segment: counts, alerts resolved or armed, queues moved.
    /// Most segments change nothing: two byte compares and out.
    private mutating func afterTransition(slot: Int, _ receipt: Receipt, at time: Timestamp,
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

    private mutating func stateChanged(slot: Int, side: Side, from old: EndpointState, to new: EndpointState,
                                       at time: Timestamp, into events: inout [Event]) {
        count(old, -1)
        count(new, +1)
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
    private func enteredAt(slot: Int, side: Side, fallback: Timestamp, old: EndpointState) -> Timestamp {
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

    private mutating func count(_ state: EndpointState, _ delta: Int) {
        stateCounts[state.ordinal] += delta
    }

    // MARK: - Records and removal

    private mutating func writeRecord(slot: Int, _ kind: CloseKind, at time: Timestamp, endedBy: String?,
                                      into events: inout [Event]) {
        events.append(.close(slots[slot].closeRecord(kind, at: time, endedBy: endedBy, teardowns: teardowns)))
    }

    /// After its record: TIME_WAIT for the active closer(s) for `--time-wait`, or a short hold
    /// after an RST. The record's slot is freed for a new connection; what TIME_WAIT needs moves
    /// to a residue, which takes over the record's index entry (the states stay counted).
    @inline(never)   // off the path most packets take
    private mutating func enterResidue(slot: Int, hash: UInt64, at time: Timestamp) {
        let holdsTimeWait = slots[slot].orig.state == .timeWait || slots[slot].resp.state == .timeWait
        let r: Int
        if let free = freeResidues.popLast() {
            r = Int(free)
            residues[r] = slots[slot].residue(generation: residues[r].generation &+ 1, teardowns: teardowns)
        } else {
            r = residues.count
            residues.append(slots[slot].residue(generation: 0, teardowns: teardowns))
        }
        retargetIndex(hash: hash, from: UInt32(slot + 1), to: residueReference(r))
        freeSlot(slot)
        let hold = holdsTimeWait ? configuration.timeWait : resetResidue
        let deadline = time.adding(nanoseconds: hold).nanoseconds
        residueTimers.push(TimerQueue.Entry(deadline: deadline, slot: UInt32(r),
                                            generation: residues[r].generation, side: .orig))
        nextDue = min(nextDue, deadline)
    }

    private mutating func remove(slot: Int) {
        removeIndex(slots[slot].key, reference: UInt32(slot + 1))
        count(slots[slot].orig.state, -1)
        count(slots[slot].resp.state, -1)
        freeSlot(slot)
        liveCount -= 1
    }

    /// The slot back on the free list; timers still naming it are stale from here on.
    private mutating func freeSlot(_ slot: Int) {
        slots[slot].isLive = false
        teardowns.release(slots[slot].teardownNumber)
        slots[slot].teardownNumber = 0
        slots[slot].generation &+= 1
        freeSlots.append(UInt32(slot))
    }

    /// TIME_WAIT over, an RST assassinated it, a new SYN replaced it, or the table needed room.
    @inline(never)   // off the path most packets take
    private mutating func removeResidue(_ r: Int) {
        removeIndex(residues[r].key, reference: residueReference(r))
        count(residues[r].states[0], -1)
        count(residues[r].states[1], -1)
        residues[r].isLive = false
        freeResidues.append(UInt32(r))
        liveCount -= 1
    }

    /// Whether a residue timer entry still stands for the residue it was made for.
    @inline(__always)
    private func isCurrentResidue(_ entry: TimerQueue.Entry) -> Bool {
        let r = Int(entry.slot)
        return residues[r].isLive && entry.matches(residues[r].generation)
    }

    /// Writes the record of a connection that did not end on the wire, and removes it.
    private mutating func end(slot: Int, at time: Timestamp, reason: String, into events: inout [Event]) {
        writeRecord(slot: slot, slots[slot].unfinishedCloseKind, at: time, endedBy: reason, into: &events)
        remove(slot: slot)
    }

    // MARK: - Clock

    /// Moves the clock to `time`: fires alerts whose threshold passed, ends TIME_WAIT and idle
    /// connections. Offline the packet clock, live the host clock.
    package mutating func advance(to time: Timestamp, into events: inout [Event]) {
        let now = time.nanoseconds
        guard now >= nextDue else { return }
        for alert in AlertKind.allCases { fireAlerts(alert, now: time, into: &events) }
        while let head = residueTimers.first, head.deadline <= now {
            _ = residueTimers.popFirst()
            guard isCurrentResidue(head) else { continue }
            // TIME_WAIT over (2*MSL): the active closer is CLOSED and the 4-tuple free again.
            removeResidue(Int(head.slot))
        }
        expireIdle(.opening, now: time, into: &events)
        expireIdle(.open, now: time, into: &events)
        expireIdle(.closing, now: time, into: &events)
        recomputeNextDue()
    }

    private mutating func fireAlerts(_ alert: AlertKind, now: Timestamp, into events: inout [Event]) {
        while let head = alertHead(alert), head.deadline <= now.nanoseconds {
            popAlert(alert)
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
    private mutating func expireIdle(_ phase: RecordPhase, now: Timestamp, into events: inout [Event]) {
        var budget = 100_000   // bounded work per tick; the rest waits for the next one
        while budget > 0, let head = idleHead(phase), head.deadline <= now.nanoseconds {
            budget -= 1
            popIdle(phase)
            let s = Int(head.slot)
            guard Self.isCurrentIdle(head, in: slots) else { continue }
            let current = slots[s].phase
            let quietUntil = slots[s].lastSeen.adding(nanoseconds: idleTimeout(current))
            if quietUntil <= now {
                end(slot: s, at: now, reason: "idle_timeout", into: &events)
            } else {
                pushIdle(TimerQueue.Entry(deadline: quietUntil.nanoseconds, slot: head.slot,
                                          generation: slots[s].generation, side: .orig), current)
            }
        }
    }

    /// End of input or shutdown: every tracked connection gets its close record (`reason` goes to
    /// its `ended_by`); firing alerts stay firing.
    ///
    /// `flush` is handed the events every `batch` records, so hundreds of thousands of records
    /// never sit in memory at once (the caller writes and clears them).
    package mutating func finish(at time: Timestamp, reason: String, into events: inout [Event],
                                 batch: Int = 1024, flush: (inout [Event]) -> Void = { _ in }) {
        // Oldest first, so the output reads in the order connections began. The uids are read in
        // one pass over the slots and sorted on their own, each packed with its slot into one
        // word: a sort comparing records would read two of them per comparison, each a cache miss
        // in a table this full. The index is let go first: nothing is looked up from here on,
        // and this runs when the table is fullest, so its memory is what the list reuses.
        index = []
        var uids = (lowest: UInt64.max, highest: UInt64(0))
        for slot in slots.indices where slots[slot].isLive {
            uids = (min(uids.lowest, slots[slot].uidNumber), max(uids.highest, slots[slot].uidNumber))
        }
        let slotBits = UInt64(tagShift)   // at most 32: the uid's distance from the lowest gets the rest
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
    private mutating func finishRecord(slot: Int, at time: Timestamp, reason: String, into events: inout [Event],
                                       batch: Int, flush: (inout [Event]) -> Void) {
        writeRecord(slot: slot, slots[slot].unfinishedCloseKind, at: time, endedBy: reason, into: &events)
        if events.count >= batch { flush(&events) }
    }

    /// Forgets every connection at once: after `finish`, nothing is left to find, so no record is
    /// taken out of the index one by one.
    private mutating func removeAll() {
        slots.removeAll(keepingCapacity: true)
        freeSlots.removeAll()
        residues.removeAll(keepingCapacity: true)
        freeResidues.removeAll()
        teardowns = TeardownStore()
        index = [UInt32](repeating: 0, count: 1024)
        liveCount = 0
        for state in stateCounts.indices { stateCounts[state] = 0 }
        closeWaitTimers = TimerQueue()
        finWait2Timers = TimerQueue()
        lastAckTimers = TimerQueue()
        residueTimers = TimerQueue()
        openingTimers = TimerQueue()
        openTimers = TimerQueue()
        closingTimers = TimerQueue()
        nextDue = .max
    }

    /// libpcap dropped packets: every connection tracked now may be missing segments.
    package mutating func noteCaptureDrops() {
        for slot in slots.indices where slots[slot].isLive {
            slots[slot].mayHaveLostSegments = true
        }
    }

    // MARK: - Eviction

    /// Frees one slot for a new connection, sacrificing what matters least: a residue (its record
    /// is written), then an unanswered SYN (a flood's), then the quietest open connection, and
    /// half-closed ones — what users watch — only when nothing else is left.
    private mutating func evictOne(at time: Timestamp, into events: inout [Event]) -> Bool {
        while let head = residueTimers.popFirst() {
            guard isCurrentResidue(head) else { continue }
            removeResidue(Int(head.slot))
            evictions &+= 1
            return true
        }
        for phase in [RecordPhase.opening, .open, .closing] {
            var budget = 64   // second chances per eviction, so a busy table stays O(1)
            while let head = idleHead(phase) {
                popIdle(phase)
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
                end(slot: s, at: time, reason: "eviction", into: &events)
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
    private func idleTimeout(_ phase: RecordPhase) -> Int64 {
        switch phase {
        case .opening: configuration.idleTimeoutHandshake
        case .open: configuration.idleTimeoutEstablished
        case .closing: configuration.idleTimeoutHalfClosed
        }
    }

    /// The earliest idle timer of `phase`'s queue.
    @inline(__always)
    private func idleHead(_ phase: RecordPhase) -> TimerQueue.Entry? {
        switch phase {
        case .opening: openingTimers.first
        case .open: openTimers.first
        case .closing: closingTimers.first
        }
    }

    private mutating func popIdle(_ phase: RecordPhase) {
        switch phase {
        case .opening: _ = openingTimers.popFirst()
        case .open: _ = openTimers.popFirst()
        case .closing: _ = closingTimers.popFirst()
        }
    }

    private mutating func pushIdle(_ entry: TimerQueue.Entry, _ phase: RecordPhase) {
        switch phase {
        case .opening: openingTimers.push(entry)
        case .open: openTimers.push(entry)
        case .closing: closingTimers.push(entry)
        }
        nextDue = min(nextDue, entry.deadline)
        if idleTimerEntries > 2 * recordCount + ConnectionTable.timerCompactionSlack { compactIdleTimers() }
    }

    /// Alert timer entries waiting, stale ones included.
    package var alertTimerEntries: Int { closeWaitTimers.count + finWait2Timers.count + lastAckTimers.count }

    /// Idle timer entries waiting, stale ones included.
    package var idleTimerEntries: Int { openingTimers.count + openTimers.count + closingTimers.count }

    /// Stale entries tolerated beyond the records' own before a queue is swept.
    static let timerCompactionSlack = 4096

    /// Whether an idle entry still stands for its connection: the slot holds the connection it
    /// was made for (a connection that became a residue left its slot: a residue's end is the
    /// residue timer's).
    @inline(__always)
    private static func isCurrentIdle(_ entry: TimerQueue.Entry, in slots: [Connection]) -> Bool {
        let s = Int(entry.slot)
        return slots[s].isLive && entry.matches(slots[s].generation)
    }

    /// Whether an alert entry still stands: its side is still in the alert's state, not yet firing.
    @inline(__always)
    private static func isCurrent(_ entry: TimerQueue.Entry, _ alert: AlertKind, in slots: [Connection]) -> Bool {
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
    private mutating func compactIdleTimers() {
        let slots = self.slots   // read by the closure while the queues change: a reference, not a copy
        let isCurrent = { Self.isCurrentIdle($0, in: slots) }
        openingTimers.compact(keeping: isCurrent)
        openTimers.compact(keeping: isCurrent)
        closingTimers.compact(keeping: isCurrent)
        recomputeNextDue()
    }

    private mutating func schedule(idleTimerFor slot: Int, at time: Timestamp) {
        let phase = slots[slot].phase
        let deadline = time.adding(nanoseconds: idleTimeout(phase)).nanoseconds
        pushIdle(TimerQueue.Entry(deadline: deadline, slot: UInt32(slot),
                                  generation: slots[slot].generation, side: .orig), phase)
    }

    /// The earliest timer of `alert`'s queue.
    @inline(__always)
    private func alertHead(_ alert: AlertKind) -> TimerQueue.Entry? {
        switch alert {
        case .closeWaitLingering: closeWaitTimers.first
        case .finWait2Lingering: finWait2Timers.first
        case .lastAckLingering: lastAckTimers.first
        }
    }

    private mutating func popAlert(_ alert: AlertKind) {
        switch alert {
        case .closeWaitLingering: _ = closeWaitTimers.popFirst()
        case .finWait2Lingering: _ = finWait2Timers.popFirst()
        case .lastAckLingering: _ = lastAckTimers.popFirst()
        }
    }

    private mutating func push(_ entry: TimerQueue.Entry, to alert: AlertKind) {
        let entries: Int
        switch alert {
        case .closeWaitLingering: closeWaitTimers.push(entry); entries = closeWaitTimers.count
        case .finWait2Lingering: finWait2Timers.push(entry); entries = finWait2Timers.count
        case .lastAckLingering: lastAckTimers.push(entry); entries = lastAckTimers.count
        }
        nextDue = min(nextDue, entry.deadline)
        // Most sides leave the state long before a threshold of hours: swept like the idle timers.
        if entries > 2 * recordCount + ConnectionTable.timerCompactionSlack { compactAlertTimers(alert) }
    }

    /// Drops the entries of `alert`'s queue whose side has left the state (or already fires).
    private mutating func compactAlertTimers(_ alert: AlertKind) {
        let slots = self.slots
        let isCurrent = { Self.isCurrent($0, alert, in: slots) }
        switch alert {
        case .closeWaitLingering: closeWaitTimers.compact(keeping: isCurrent)
        case .finWait2Lingering: finWait2Timers.compact(keeping: isCurrent)
        case .lastAckLingering: lastAckTimers.compact(keeping: isCurrent)
        }
        recomputeNextDue()
    }

    private mutating func recomputeNextDue() {
        let heads = [closeWaitTimers.first, finWait2Timers.first, lastAckTimers.first, residueTimers.first,
                     openingTimers.first, openTimers.first, closingTimers.first] as InlineArray<7, TimerQueue.Entry?>
        var due = Int64.max
        for index in heads.indices { if let head = heads[index] { due = min(due, head.deadline) } }
        nextDue = due
    }

    // MARK: - Index

    /// The reference (slot + 1, or `residueFlag` | residue + 1) indexed for `key`.
    @inline(__always)
    private func find(_ key: FlowKey, hash: UInt64) -> UInt32? {
        let mask = index.count - 1
        let wanted = tag(hash)
        var position = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = index[position]
            if entry == 0 { return nil }
            if entry & ~slotMask == wanted {
                let reference = entry & slotMask
                if self.key(of: reference) == key { return reference }
            }
            position = (position + 1) & mask
        }
    }

    /// The key of the record or residue an index reference names.
    @inline(__always)
    private func key(of reference: UInt32) -> FlowKey {
        reference & residueFlag == 0 ? slots[Int(reference) - 1].key : residues[residueNumber(reference)].key
    }

    /// The index reference of residue `r`, and back.
    private func residueReference(_ r: Int) -> UInt32 { residueFlag | UInt32(r + 1) }
    @inline(__always)
    private func residueNumber(_ reference: UInt32) -> Int { Int(reference & ~residueFlag) - 1 }

    /// The hash's top bits, placed above the slot bits (none when the slots need all 32).
    @inline(__always)
    private func tag(_ hash: UInt64) -> UInt32 {
        tagShift >= 32 ? 0 : UInt32(truncatingIfNeeded: hash >> 32) << tagShift
    }

    private mutating func insertIndex(_ slot: UInt32, hash: UInt64) {
        if (liveCount + 1) * 2 > index.count { growIndex() }
        let mask = index.count - 1
        var position = Int(truncatingIfNeeded: hash) & mask
        while index[position] != 0 { position = (position + 1) & mask }
        index[position] = tag(hash) | (slot + 1)
    }

    /// The entry naming `old` names `new` from now on; its place and tag stay (same key).
    private mutating func retargetIndex(hash: UInt64, from old: UInt32, to new: UInt32) {
        let mask = index.count - 1
        var position = Int(truncatingIfNeeded: hash) & mask
        while index[position] & slotMask != old {
            if index[position] == 0 { return }   // not indexed: nothing to retarget
            position = (position + 1) & mask
        }
        index[position] = index[position] & ~slotMask | new
    }

    private mutating func growIndex() {
        let old = index
        index = [UInt32](repeating: 0, count: old.count * 2)
        let mask = index.count - 1
        for entry in old where entry != 0 {
            var position = Int(truncatingIfNeeded: key(of: entry & slotMask).hashValue(seed: seed)) & mask
            while index[position] != 0 { position = (position + 1) & mask }
            index[position] = entry
        }
    }

    /// Backward-shift deletion: no tombstones, so probes stay short however long the run.
    private mutating func removeIndex(_ key: FlowKey, reference: UInt32) {
        let mask = index.count - 1
        var hole = Int(truncatingIfNeeded: key.hashValue(seed: seed)) & mask
        while index[hole] & slotMask != reference {
            if index[hole] == 0 { return }   // not indexed: nothing to remove
            hole = (hole + 1) & mask
        }
        index[hole] = 0
        var next = (hole + 1) & mask
        while index[next] != 0 {
            let home = Int(truncatingIfNeeded: self.key(of: index[next] & slotMask).hashValue(seed: seed)) & mask
            // Move the entry back into the hole if its home is not between the hole and itself.
            let distanceToHome = (next - home) & mask
            let distanceToHole = (next - hole) & mask
            if distanceToHome >= distanceToHole {
                index[hole] = index[next]
                index[next] = 0
                hole = next
            }
            next = (next + 1) & mask
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
        for slot in slots.indices where slots[slot].isLive && slots[slot].phase == .closing {
            let connection = slots[slot]
            for side in Side.allCases where AlertKind(watching: connection[side].state) != nil {
                rows.append(ConnectionSnapshot(
                    identity: connection.identity, origState: connection.orig.state,
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
