/// What one segment did to a connection, for the table to act on (timers, records, removal).
enum SegmentOutcome {
    /// Nothing beyond state changes the table picks up by comparing states.
    case tracked
    /// The teardown completed or an RST ended it: write the close record, keep a residue.
    case closed(CloseKind)
}

/// What a segment leaves for the teardown store, which the connection's transitions never
/// see: they are lent the connection's `Teardown`, plain data with room for the close
/// sequence's first steps, and the store keeps the rare rest.
struct TeardownOverflow {
    /// The segment's step in the close sequence, when the teardown's inline steps are taken.
    var step: SequenceStep?
    /// A FIN sent again: its interval joins the side's list, and the anomaly lists them all.
    var finRetransmit: FINRetransmit?
}

/// A FIN seen again at its sequence number, by `side`, `interval` after the copy before (none
/// when the FIN before was proved, not seen).
struct FINRetransmit {
    var side: Side
    var interval: Int64?
}

/// What `receive` did, in one small value, so the table touches the record once per packet.
struct Receipt {
    var outcome: SegmentOutcome
    var isCopy: Bool
    var origBefore: EndpointState
    var respBefore: EndpointState
    var phaseBefore: RecordPhase
    var overflow = TeardownOverflow()
}

/// What `receiveWhileTearingDown` did with a segment it took.
enum QuietReceipt {
    /// A copy seen on another interface.
    case copy
    /// Taken; its close-sequence step, when the teardown's inline steps are taken.
    case taken(stepPastInline: SequenceStep?)
}

extension Connection {
    /// One captured segment, all of it in one mutating access: copy detection, which side sent
    /// it, then the transitions. Copying a record out of the table and back costs more than the
    /// transitions themselves. `teardown` is this connection's, or a stale value the first FIN
    /// or RST overwrites (read only once `phase` is `.tearingDown`).
    mutating func receive(_ segment: TCPSegment, senderIsA: Bool, duplicateWindow: Int64,
                          teardown: inout Teardown, into events: inout [Event]) -> Receipt {
        var receipt = Receipt(outcome: .tracked, isCopy: false, origBefore: orig.state, respBefore: resp.state,
                              phaseBefore: phase)
        if isCopyOnAnotherInterface(segment, window: duplicateWindow) {
            receipt.isCopy = true
            return receipt
        }
        let side: Side = senderIsA == origIsA ? .orig : .resp
        receipt.outcome = observe(segment, from: side, at: segment.timestamp, teardown: &teardown,
                                  overflow: &receipt.overflow, into: &events)
        return receipt
    }

    /// `receive` for the common case, which `isPlainSegmentWhileOpen` recognises: no SYN, FIN or
    /// RST on a connection whose sides are both ESTABLISHED and that has no teardown yet (no FIN
    /// was sent, so nothing can be acknowledged). Such a segment changes no state; it moves the
    /// counters, the history and the sequence facts, exactly as `observe` would, without the
    /// teardown's machinery. Returns false for a copy seen on another interface. Inlined into the
    /// table's loop without exception: the call and its saved registers were a fifth of the path.
    @inline(always)
    mutating func receiveWhileOpen(_ segment: TCPSegment, senderIsA: Bool, duplicateWindow: Int64) -> Bool {
        if isCopyOnAnotherInterface(segment, window: duplicateWindow) { return false }
        noteQuietSegment(segment, from: senderIsA == origIsA ? .orig : .resp)
        return true
    }

    /// `receive` for a segment without SYN, FIN or RST once a teardown has begun, when it changes
    /// no state either (`isQuietWhileTearingDown`): a half-close's data and the ACKs to it. The
    /// open fast path's bookkeeping, and the segment's step in the close sequence. nil: not such
    /// a segment, `receive`'s to take.
    mutating func receiveWhileTearingDown(_ segment: TCPSegment, senderIsA: Bool, duplicateWindow: Int64,
                                          teardown: inout Teardown) -> QuietReceipt? {
        let side: Side = senderIsA == origIsA ? .orig : .resp
        guard Self.isQuietWhileTearingDown(segment, sender: endpoints[side.index], peer: endpoints[side.peer.index]) else {
            return nil
        }
        if isCopyOnAnotherInterface(segment, window: duplicateWindow) { return .copy }
        let step = teardown.step(from: side, flags: segment.flags, at: segment.timestamp)
        noteQuietSegment(segment, from: side)
        return .taken(stepPastInline: step)
    }

    /// A segment that changes no state, teardown or not: no ACK of a FIN for the first time, no
    /// FIN proved, no data past its sender's FIN. Static, on the two sides' facts: called on
    /// `self` out of line, it would copy the whole record first; inlined, it copies neither side.
    @inline(__always)
    private static func isQuietWhileTearingDown(_ segment: TCPSegment, sender: EndpointRecord,
                                                peer: EndpointRecord) -> Bool {
        if segment.payloadLength > 0 {
            if sender.sentFIN { return false }   // perhaps data after its FIN
        } else if provesUnseenFIN(segment, sender: sender) {
            return false
        }
        return !(segment.flags.contains(.ack) && peer.sentFIN && !peer.finAcknowledged
                 && !(segment.acknowledgment < peer.finSequence + 1))
    }

    /// What `observe` does with a segment that changes no state: counters, history, sequence facts.
    @inline(always)
    private mutating func noteQuietSegment(_ segment: TCPSegment, from side: Side) {
        if segment.timestamp > lastSeen { lastSeen = segment.timestamp }
        endpoints[side.index].packets &+= 1
        // recordHistory for a segment with no SYN, FIN or RST.
        if segment.payloadLength > 0 {
            history.record(.data, from: side)
        } else if segment.flags.contains(.ack) {
            history.record(.ack, from: side)
        }
        if segment.window == 0 { history.record(.zeroWindow, from: side) }
        if segment.flags.contains(.ack) { noteAcknowledgment(segment.acknowledgment, from: side) }
        endpoints[side.index].window = segment.window
        noteSequence(end: segment.sequence + segment.payloadLength, from: side)
    }

    /// Whether `receiveWhileOpen` may take `segment` instead of `receive`.
    func isPlainSegmentWhileOpen(_ segment: TCPSegment) -> Bool {
        phase == .open && segment.flags.rawValue & (TCPFlags.syn.rawValue | TCPFlags.fin.rawValue | TCPFlags.rst.rawValue) == 0
    }

    /// The highest acknowledgment number `side` has sent (its RCV.NXT as seen on the wire).
    @inline(__always)
    private mutating func noteAcknowledgment(_ ack: SequenceNumber, from side: Side) {
        if !endpoints[side.index].hasAcked || endpoints[side.index].lastAck < ack {
            endpoints[side.index].lastAck = ack
            endpoints[side.index].hasAcked = true
        }
    }

    /// One past the highest sequence number `side` has sent (SND.NXT as seen on the wire).
    @inline(__always)
    private mutating func noteSequence(end: SequenceNumber, from side: Side) {
        if !endpoints[side.index].hasSequence || endpoints[side.index].nextSequence < end {
            endpoints[side.index].nextSequence = end
            endpoints[side.index].hasSequence = true
        }
    }

    /// On `any`, one segment crossing a veth, a bridge and an uplink is captured on each: the same
    /// fingerprint within a few ms on another interface (or where the capture does not say) is a
    /// copy. A retransmission differs: Linux's RTO is at least 200 ms and IPv4 gives it a new id.
    @inline(__always)
    mutating func isCopyOnAnotherInterface(_ segment: TCPSegment, window: Int64) -> Bool {
        let fingerprint = Connection.fingerprint(segment)
        let interface = segment.interfaceIndex ?? .max
        let isCopy = (orig.packets | resp.packets) != 0
            && Connection.isCopy(fingerprint, interface, at: segment.timestamp, window: window,
                                 of: (lastFingerprint, lastInterface, lastSeen))
        if !isCopy {
            lastFingerprint = fingerprint
            lastInterface = interface
        }
        return isCopy
    }

    /// The copy rule for records and residues alike: the last segment's fingerprint again, within
    /// `window`, on another interface (or where the capture does not say).
    @inline(__always)
    static func isCopy(_ fingerprint: UInt32, _ interface: UInt32, at time: Timestamp, window: Int64,
                       of last: (fingerprint: UInt32, interface: UInt32, seen: Timestamp)) -> Bool {
        fingerprint == last.fingerprint && time.nanoseconds &- last.seen.nanoseconds <= window
            && (interface != last.interface || interface == .max)
    }

    /// What tells a copy of a segment from another segment: 32 bits, so a false match needs an
    /// equal hash within the duplicate window on the same connection.
    @inline(__always)
    static func fingerprint(_ segment: TCPSegment) -> UInt32 {
        var mixed = UInt64(segment.sequence.raw) << 32 | UInt64(segment.acknowledgment.raw)
        mixed ^= UInt64(segment.flags.rawValue) << 56 ^ UInt64(segment.payloadLength) << 20
        mixed ^= UInt64(segment.ipIdentification) << 4 ^ UInt64(segment.window) << 40
        mixed ^= UInt64(segment.sourcePort) << 8
        mixed = (mixed ^ mixed >> 29) &* 0xBF58_476D_1CE4_E5B9
        return UInt32(truncatingIfNeeded: mixed ^ mixed >> 32)
    }

    /// Applies one segment sent by `side`: each of its controls through `TeardownMachine`, whose
    /// decisions are written here and into `teardown`. Events that belong to this connection
    /// alone (anomalies) are appended to `events`; what the teardown has no room for goes into
    /// `overflow` for the store, and the table handles what needs the clock or the table.
    mutating func observe(_ segment: TCPSegment, from side: Side, at time: Timestamp, teardown: inout Teardown,
                          overflow: inout TeardownOverflow, into events: inout [Event]) -> SegmentOutcome {
        let flags = segment.flags
        let peer = side.peer
        if time > lastSeen { lastSeen = time }
        endpoints[side.index].packets &+= 1
        recordHistory(segment, from: side)

        if phase == .tearingDown { overflow.step = teardown.step(from: side, flags: flags, at: time) }

        // MARK: SYN — a new connection on the 4-tuple (`.reusesTuple`) is the table's to act on,
        // before this record is touched (`startsNewConnection`).
        if flags.contains(.syn) {
            let transition = ask(flags.contains(.ack) ? .synAck : .syn, from: side)
            endpoints[side.index].windowScale = segment.windowScale ?? 0
            endpoints[side.index].nextSequence = segment.sequence + 1
            endpoints[side.index].hasSequence = true
            if flags.contains(.ack) { sawSYNACK = true } else { endpoints[side.index].sentSYN = true }
            apply(transition, from: side, at: time, teardown: &teardown)
        }

        // MARK: RST
        if flags.contains(.rst) { return observeReset(segment, from: side, at: time, teardown: &teardown, into: &events) }

        // MARK: A FIN the capture missed, sent before this segment
        if phase == .tearingDown && Self.provesUnseenFIN(segment, sender: endpoints[side.index]) {
            // Never a FIN sent again: a FIN is proved only when its sender has shown none.
            _ = observeFIN(at: segment.sequence + UInt32.max, acknowledgment: nil, seen: false, flags: flags,
                           from: side, at: time, teardown: &teardown)
        }

        // MARK: ACK — before the FIN, so a FIN+ACK first acknowledges the peer's FIN.
        var outcome = SegmentOutcome.tracked
        if flags.contains(.ack) {
            let ack = segment.acknowledgment
            noteAcknowledgment(ack, from: side)
            // The machine's ACK rows change a record's state only while it opens (the handshake's
            // third segment); for every other state the answer is `.none`, not asked per segment.
            if !flags.contains(.syn) && phase == .opening {
                apply(ask(.ack, from: side), from: side, at: time, teardown: &teardown)
            }
            if endpoints[peer.index].sentFIN && !endpoints[peer.index].finAcknowledged
                && !(ack < endpoints[peer.index].finSequence + 1) {
                endpoints[peer.index].finAcknowledged = true
                if phase == .tearingDown { teardown.finAckedTime[peer.index] = time }
                let crossed = phase == .tearingDown && teardown.crossed
                let transition = ask(.ackOfPeerFIN, from: side, with: crossed ? .finsCrossed : [])
                apply(transition, from: side, at: time, teardown: &teardown)
                if let close = transition.close { outcome = .closed(close) }
            }
        }
        endpoints[side.index].window = segment.window

        // MARK: Sequence space and data
        if !flags.contains(.syn) {
            noteSequence(end: segment.sequence + segment.payloadLength + (flags.contains(.fin) ? 1 : 0), from: side)
        }
        if segment.payloadLength > 0 && endpoints[side.index].sentFIN
            && !(segment.sequence < endpoints[side.index].finSequence + 1) && !endpoints[side.index].reportedDataAfterFIN {
            reportDataAfterFIN(Int(segment.payloadLength), from: side, at: time, into: &events)
        }

        // MARK: FIN
        if flags.contains(.fin) {
            overflow.finRetransmit = observeFIN(at: segment.sequence + segment.payloadLength,
                                                acknowledgment: flags.contains(.ack) ? segment.acknowledgment : nil,
                                                seen: true, flags: flags, from: side, at: time, teardown: &teardown)
        }
        return outcome
    }

    /// Once per side: the event is built apart from `observe`, whose every call would otherwise
    /// carry the room and the registers for it.
    @inline(never)
    private mutating func reportDataAfterFIN(_ bytes: Int, from side: Side, at time: Timestamp,
                                             into events: inout [Event]) {
        endpoints[side.index].reportedDataAfterFIN = true
        anomalies.insert(.dataAfterFIN)
        events.append(.anomaly(AnomalyEvent(
            time: time, identity: identity, anomaly: .dataAfterFIN, side: side, count: bytes,
            state: endpoints[side.index].state, detail: "payload beyond the sender's own FIN")))
    }

    /// Whether a SYN on this tracked 4-tuple starts a new connection: the machine's answer,
    /// asked before the record is touched.
    func startsNewConnection(_ segment: TCPSegment, from side: Side) -> Bool {
        var facts = self.facts(from: side)
        if orig.sentSYN && orig.nextSequence == segment.sequence + 1 { facts.insert(.repeatsOpeningSYN) }
        return TeardownMachine.transition(sender: endpoints[side.index].state, peer: endpoints[side.peer.index].state,
                                          kind: .syn, facts: facts).effects.contains(.reusesTuple)
    }

    /// The facts about this connection the machine may need, from `side`'s point of view (but
    /// `.finsCrossed`, which lives in the teardown: passed where it matters).
    @inline(__always)
    private func facts(from side: Side) -> SegmentFacts {
        var facts: SegmentFacts = []
        if phase == .opening { facts.insert(.opening) }
        if side == .orig { facts.insert(.fromOpener) }
        if sawSYNACK { facts.insert(.synAckSeen) }
        if orig.sentFIN || resp.sentFIN { facts.insert(.finSeen) }
        if endpoints[side.index].finAcknowledged { facts.insert(.ownFINAcknowledged) }
        return facts
    }

    /// The machine's transition for a segment of `kind` from `side`, with the connection's facts.
    /// Inlined without exception (`@inline(__always)` is a hint the optimizer declined here), so
    /// each caller's kind leaves only that kind's rows. Marked mutating though it writes nothing:
    /// were it ever kept out of line, a call on a non-mutating `self` would copy the whole record.
    @inline(always)
    private mutating func ask(_ kind: SegmentKind, from side: Side, with extra: SegmentFacts = []) -> Transition {
        TeardownMachine.transition(sender: endpoints[side.index].state, peer: endpoints[side.peer.index].state,
                                   kind: kind, facts: facts(from: side).union(extra))
    }

    /// Writes what the machine decided: the teardown begun, the phase, each new state a plain
    /// stamp (with the time it was entered, once a teardown holds times).
    @inline(__always)
    private mutating func apply(_ transition: Transition, from side: Side, at time: Timestamp,
                                teardown: inout Teardown) {
        if transition.sender == nil && transition.peer == nil && transition.effects.isEmpty { return }   // most answers
        if transition.effects.contains(.beginsTeardown) { beginTeardown(at: time, teardown: &teardown) }
        if transition.effects.contains(.establishes) { phase = .open }
        if transition.effects.contains(.crossesFINs) { teardown.crossed = true }
        if let state = transition.sender { stamp(state, for: side, at: time, teardown: &teardown) }
        if let state = transition.peer { stamp(state, for: side.peer, at: time, teardown: &teardown) }
    }

    /// Writes `side`'s state, and when it was entered once the teardown keeps such times.
    @inline(__always)
    private mutating func stamp(_ state: EndpointState, for side: Side, at time: Timestamp,
                                teardown: inout Teardown) {
        endpoints[side.index].state = state
        if phase == .tearingDown { teardown.stateSince[side.index] = time }
    }

    /// The first FIN or RST: the teardown begins, both sides in their state since the first segment.
    private mutating func beginTeardown(at time: Timestamp, teardown: inout Teardown) {
        if phase == .tearingDown { return }
        teardown = Teardown(start: time, since: firstSeen)
        phase = .tearingDown
    }

    // MARK: - FIN

    /// RFC 9293 §3.4: a FIN occupies one sequence number, so a segment one past all its sender has
    /// shown proves a FIN the capture missed (lost before the capture point). Asked only once a
    /// teardown has begun: on an open connection, a lost one-byte segment would look the same.
    private static func provesUnseenFIN(_ segment: TCPSegment, sender: EndpointRecord) -> Bool {
        !sender.sentFIN && sender.hasSequence && segment.payloadLength == 0
            && segment.flags.rawValue & (TCPFlags.syn.rawValue | TCPFlags.fin.rawValue | TCPFlags.rst.rawValue) == 0
            && segment.sequence == sender.nextSequence + 1
    }

    /// A FIN from `side` occupying `finSequence`: seen on the wire, or proved by a later segment
    /// (`seen` false: then what it acknowledged is unknown, and it has no copy time). Returns
    /// the FIN seen again, for the store to keep its interval and write the anomaly.
    private mutating func observeFIN(at finSequence: SequenceNumber, acknowledgment: SequenceNumber?, seen: Bool,
                                     flags: TCPFlags, from side: Side, at time: Timestamp,
                                     teardown: inout Teardown) -> FINRetransmit? {
        let peer = side.peer
        if endpoints[side.index].sentFIN {
            // A FIN at another sequence number is data after FIN, flagged with the data.
            guard finSequence == endpoints[side.index].finSequence,
                  ask(.finAgain, from: side).effects.contains(.finRetransmitted) else { return nil }
            return noteFINRetransmit(from: side, at: time, teardown: &teardown)
        }
        // Did the sender acknowledge the peer's FIN before sending its own? If not, the FINs crossed.
        let acknowledgesPeerFIN = acknowledgment.map {
            endpoints[peer.index].sentFIN && !($0 < endpoints[peer.index].finSequence + 1)
        } ?? false
        let crosses = endpoints[peer.index].sentFIN && !acknowledgesPeerFIN && !endpoints[peer.index].finAcknowledged
        apply(ask(.fin, from: side, with: crosses ? .crossesPeerFIN : []),
              from: side, at: time, teardown: &teardown)
        if teardown.steps.count == 0 { teardown.beginSteps(from: side, flags: flags) }
        if teardown.firstFINSide == nil { teardown.firstFINSide = side }
        endpoints[side.index].sentFIN = true
        endpoints[side.index].finSequence = finSequence
        teardown.finTime[side.index] = time
        if seen { teardown.lastFINCopy[side.index] = time }
        return nil
    }

    /// A FIN sent again: counted, and reported for the teardown store, which keeps the intervals
    /// between copies with the teardown's rest and writes the `fin_retransmit` anomaly listing them.
    private mutating func noteFINRetransmit(from side: Side, at time: Timestamp,
                                            teardown: inout Teardown) -> FINRetransmit {
        endpoints[side.index].finRetransmits &+= 1
        // The first FIN began the teardown, and it lasts until the record: after that a FIN sent
        // again is the residue's business.
        let interval = teardown.lastFINCopy[side.index].map { time.nanoseconds(since: $0) }
        teardown.lastFINCopy[side.index] = time
        history.record(.retransmit, from: side)
        anomalies.insert(.finRetransmit)
        return FINRetransmit(side: side, interval: interval)
    }

    // MARK: - RST

    private mutating func observeReset(_ segment: TCPSegment, from side: Side, at time: Timestamp,
                                       teardown: inout Teardown, into events: inout [Event]) -> SegmentOutcome {
        let peer = side.peer
        // RFC 5961 §3: believe an RST only inside the receiver's window. Without an ACK from the
        // receiver yet (a SYN just sent) there is no window to check against.
        var inWindow = true
        if phase != .opening && endpoints[peer.index].hasAcked {
            let offset = segment.sequence.distance(from: endpoints[peer.index].lastAck)
            inWindow = offset >= 0 && UInt32(offset) < max(endpoints[peer.index].scaledWindow, 1)
        }
        let transition = ask(.rst, from: side, with: inWindow ? .inWindow : [])
        if transition.effects.contains(.resetOutOfWindow) {
            anomalies.insert(.resetOutOfWindow)
            events.append(.anomaly(AnomalyEvent(
                time: time, identity: identity, anomaly: .resetOutOfWindow, side: side,
                state: endpoints[side.index].state,
                detail: "RST seq \(segment.sequence.raw) outside the receiver's window at \(endpoints[peer.index].lastAck.raw)")))
        }
        guard let kind = transition.close else { return .tracked }
        // RFC 9293 §3.10.7.1: a reset sent from no connection takes its sequence number from the
        // segment's ACK and has no ACK bit, or answers an ACK-less segment (a SYN) with seq 0.
        let fromNoConnection = !segment.flags.contains(.ack) || (phase == .opening && segment.sequence.raw == 0)
        let resetState = fromNoConnection ? EndpointState.closed : endpoints[side.index].state
        if transition.effects.contains(.resetDuringTeardown) {
            anomalies.insert(.resetDuringTeardown)
            events.append(.anomaly(AnomalyEvent(
                time: time, identity: identity, anomaly: .resetDuringTeardown, side: side,
                state: resetState)))
        }
        apply(transition, from: side, at: time, teardown: &teardown)
        if teardown.steps.count == 0 { teardown.beginSteps(from: side, flags: segment.flags) }
        teardown.resetBy = side
        teardown.resetState = resetState
        return .closed(kind)
    }

    // MARK: - History

    private mutating func recordHistory(_ segment: TCPSegment, from side: Side) {
        let flags = segment.flags
        if (flags.contains(.syn) && (flags.contains(.fin) || flags.contains(.rst)))
            || (flags.contains(.fin) && flags.contains(.rst)) {
            history.record(.inconsistent, from: side)
        }
        if flags.contains(.syn) {
            history.record(flags.contains(.ack) ? .synAck : .syn, from: side)
        } else if flags.contains(.rst) {
            history.record(.rst, from: side)
        } else {
            if flags.contains(.fin) { history.record(.fin, from: side) }
            if segment.payloadLength > 0 { history.record(.data, from: side) }
            if !flags.contains(.fin) && segment.payloadLength == 0 && flags.contains(.ack) {
                history.record(.ack, from: side)
            }
        }
        if segment.window == 0 && !flags.contains(.rst) { history.record(.zeroWindow, from: side) }
    }
}
