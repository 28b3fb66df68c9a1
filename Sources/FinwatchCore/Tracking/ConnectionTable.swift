/// Every tracked connection, keyed by its 4-tuple, with the timers that end them. The only
/// entry point of the tracker: segments and clock ticks in, events out.
///
/// Memory: records live in one dense slot arena reserved for `maxConnections` up front (pages
/// are touched only as slots are used) and an open-addressing index of 4-byte slot numbers, so
/// an open connection costs its record plus a few bytes of index. A connection whose record is
/// written leaves its slot for an 88-byte `Residue` in an arena of their own, under the same
/// index entry. Time: a lookup is a hash and a short probe; timers are FIFO queues (one per
/// kind, each with one fixed duration), so no per-packet cost grows with the number of
/// connections.
package struct ConnectionTable: ~Copyable {
    package let configuration: TrackerConfiguration
    package internal(set) var evictions: UInt64 = 0
    /// Copies of one segment captured again on another interface, ignored.
    package internal(set) var duplicates: UInt64 = 0
    /// New connections not tracked because the table was full of connections it must not evict.
    package internal(set) var rejected: UInt64 = 0

    var slots: Arena<Connection>
    /// TIME_WAIT and the short hold after an RST: what is left of connections already written.
    var residues: Arena<Residue>
    var freeResidues = Arena<UInt32>()
    /// The teardowns of the connections closing now, apart from their records.
    var teardowns: TeardownStore
    var freeSlots = Arena<UInt32>()
    /// Where each 4-tuple's record or residue is.
    var index: FlowIndex
    var liveCount = 0
    var nextUID: UInt64 = 1
    let seed: UInt64
    /// Endpoints per state, by `EndpointState.ordinal`.
    var stateCounts = InlineArray<10, Int>(repeating: 0)
    /// Endpoints by --metrics-ports label, local ports held per destination: opt-in, beside stateCounts.
    var ports: PortTally

    /// The tunnels of tunnelled connections, by uid (ConnectionTable+Tunnels).
    var tunnels = TunnelRegistry()

    /// Alerts, residues' ends and idle timeouts, one queue per kind.
    var timers = Timers()
    /// The latest segment time seen: the table's clock never runs backwards (see `observe`).
    var latest: Int64 = .min

    /// How long a connection ended by an RST is held to absorb segments still in flight.
    let resetResidue: Int64

    /// The most slots reserved up front (152 MB of address space).
    static let reservedSlotsLimit = 1 << 20

    package init(configuration: TrackerConfiguration, hashSeed: UInt64 = 0x5EED_F1A7_C0FF_EE00) {
        self.configuration = configuration
        seed = hashSeed
        resetResidue = min(configuration.timeWait, 10 * DurationText.second)
        // Reserved, not touched: pages arrive as slots are used, and the arena never copies itself
        // to grow under load. Past a million slots it grows instead: reserving 2^31 records
        // (326 GB of address space) is refused by the kernel, and the process aborts.
        let reserved = min(max(configuration.maxConnections, 16), ConnectionTable.reservedSlotsLimit)
        slots = Arena(reserving: reserved)
        residues = Arena(reserving: reserved)
        teardowns = TeardownStore(reserving: reserved)
        index = FlowIndex(maxConnections: configuration.maxConnections)
        ports = PortTally(configuration: configuration)
    }

    /// Tracked connections now, TIME_WAIT residues included.
    package var count: Int { liveCount }

    /// Connections with a record (not yet written), residues left out: the only ones idle and
    /// alert timers stand for.
    var recordCount: Int { slots.count &- freeSlots.count }   // every free slot is one of the slots

    // MARK: - Segments

    /// Feeds one segment; appends what it caused to `events` (which the caller reuses, so the
    /// hot path allocates nothing).
    package mutating func observe(_ segment: TCPSegment, into events: inout [Event]) {
        let start = enterCall(events)
        observeSegment(segment, mask: 0, into: &events)
        leaveCall(start, &events)
    }

    /// One segment, keyed with `mask` when it came through a tunnel (0: a plain segment).
    @inline(__always)
    mutating func observeSegment(_ segment: TCPSegment, mask: UInt64, into events: inout [Event]) {
        guard segment.timestamp.nanoseconds >= latest else {
            observeLate(segment, mask: mask, into: &events)
            return
        }
        latest = segment.timestamp.nanoseconds
        let senderIsA = FlowKey.senderIsA(segment)
        var key = FlowKey(segment, senderIsA: senderIsA)
        if mask != 0 { key.mask(mask) }
        var hash = key.hashValue(seed: seed)
        var found = find(key, hash: hash)
        if found == nil && (mask != 0 || !tunnels.entries.isEmpty) {
            found = otherCopy(segment, senderIsA: senderIsA, mask: mask, key: &key, hash: &hash)
        }
        guard let reference = found else {
            startConnection(segment, key: key, senderIsA: senderIsA, hash: hash, into: &events)
            return
        }
        guard case .record(let s) = reference else {
            if case .residue(let r) = reference {
                observeResidue(r, segment, senderIsA: senderIsA, key: key, hash: hash, into: &events)
            }
            return
        }
        if slots[s].isPlainSegmentWhileOpen(segment) {
            // Most segments: data and ACKs mid-connection, which change no state.
            if !slots[s].receiveWhileOpen(segment, senderIsA: senderIsA, duplicateWindow: configuration.duplicateWindow) {
                duplicates &+= 1
            }
            return
        }
        if slots[s].phase == .tearingDown
            && segment.flags.rawValue & (TCPFlags.syn.rawValue | TCPFlags.fin.rawValue | TCPFlags.rst.rawValue) == 0 {
            // A half-close's data and the ACKs to it: no state changes, a step in the close sequence.
            let number = slots[s].teardownNumber
            switch slots[s].receiveWhileTearingDown(segment, senderIsA: senderIsA,
                                                    duplicateWindow: configuration.duplicateWindow,
                                                    teardown: &teardowns[number]) {
            case .copy:
                duplicates &+= 1
                return
            case .taken(let step):
                if let step { teardowns.appendPastInline(step, to: number) }
                return
            case nil:
                break
            }
        }
        if segment.flags.contains(.syn) && !segment.flags.contains(.ack)
            && slots[s].startsNewConnection(segment, from: slots[s].side(senderIsA: senderIsA)) {
            // The old connection ended unseen (its host rebooted, or its last segments were
            // lost): written as it stands, before the SYN touches it.
            end(slot: s, at: segment.timestamp, reason: .reused, into: &events)
            startConnection(segment, key: key, senderIsA: senderIsA, hash: hash, into: &events)
            return
        }
        let receipt = receive(slot: s, segment, senderIsA: senderIsA, into: &events)
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

    /// `segment` through the connection's transitions, lent its teardown by the store.
    @inline(__always)
    mutating func receive(slot s: Int, _ segment: TCPSegment, senderIsA: Bool, into events: inout [Event]) -> Receipt {
        let window = configuration.duplicateWindow
        return teardowns.lend(to: &slots[s], at: segment.timestamp, into: &events) { connection, teardown, events in
            connection.receive(segment, senderIsA: senderIsA, duplicateWindow: window, teardown: &teardown, into: &events)
        }
    }

    /// A segment stamped before one already seen (a capture file out of order, the host clock
    /// stepped back) counts as seen at the latest time: a duration can never go negative.
    @inline(never)   // rare; apart, so the segment on the common path is never copied to be restamped
    mutating func observeLate(_ segment: TCPSegment, mask: UInt64, into events: inout [Event]) {
        var segment = segment
        segment.timestamp = Timestamp(nanoseconds: latest)
        observeSegment(segment, mask: mask, into: &events)
    }

    /// A late segment on a connection already written: TIME_WAIT's business.
    @inline(never)   // off the path most packets take
    mutating func observeResidue(_ r: Int, _ segment: TCPSegment, senderIsA: Bool, key: FlowKey, hash: UInt64,
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
        let start = enterCall(events)
        defer { leaveCall(start, &events) }
        let others = batch.otherFrames
        var next = 0
        for index in batch.segments.indices {
            while next < others.count && others[next].position == index {
                if packetClock { advance(to: others[next].time, into: &events) }
                next += 1
            }
            let segment = batch.segments[index]
            // `advance` does nothing before the next deadline: checked here, not in a call per packet.
            if packetClock && segment.timestamp.nanoseconds >= timers.nextDue { advance(to: segment.timestamp, into: &events) }
            if segment.tunnel == 0 {
                observeSegment(segment, mask: 0, into: &events)
            } else {
                observeSegment(segment, tunnel: batch.tunnel(of: segment), into: &events)
            }
        }
        while next < others.count {
            if packetClock { advance(to: others[next].time, into: &events) }
            next += 1
        }
    }

    mutating func startConnection(_ segment: TCPSegment, key: FlowKey, senderIsA: Bool, hash: UInt64,
                                          into events: inout [Event]) {
        let flags = segment.flags
        // An RST for a connection never seen (the peer's view of a connection reset before the
        // capture began, a scan's answer) gets a record of its own, `handshake_seen: false`, as
        // Zeek logs one; it starts in ESTABLISHED by the usual mid-stream rule, so the record says
        // `reset` by its sender. A flood of them is bounded by the table like any connection.
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
        indexInsert(.record(slot), hash: hash)
        count(slots[slot].orig.state, +1)
        count(slots[slot].resp.state, +1)
        tallyStarted(slot: slot, at: segment.timestamp, into: &events)
        schedule(idleTimerFor: slot, at: segment.timestamp)

        // The first segment goes through the same transitions as every other.
        let receipt = receive(slot: slot, segment, senderIsA: senderIsA, into: &events)
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
}
