/// What one segment did to a connection, for the table to act on (timers, records, removal).
enum SegmentOutcome {
    /// Nothing beyond state changes the table picks up by comparing states.
    case tracked
    /// The teardown completed or an RST ended it: write the close record, keep a residue.
    case closed(CloseKind)
}

/// What `receive` did, in one small value, so the table touches the record once per packet.
struct Receipt {
    var outcome: SegmentOutcome
    var isCopy: Bool
    var origBefore: EndpointState
    var respBefore: EndpointState
    var phaseBefore: RecordPhase
}

extension Connection {
    /// One captured segment, all of it in one mutating access: copy detection, which side sent
    /// it, then the transitions. Copying a record out of the table and back costs more than the
    /// transitions themselves.
    mutating func receive(_ segment: TCPSegment, senderIsA: Bool, duplicateWindow: Int64,
                          teardowns: inout TeardownStore, into events: inout [Event]) -> Receipt {
        var receipt = Receipt(outcome: .tracked, isCopy: false, origBefore: orig.state, respBefore: resp.state,
                              phaseBefore: phase)
        if isCopyOnAnotherInterface(segment, window: duplicateWindow) {
            receipt.isCopy = true
            return receipt
        }
        let side: Side = senderIsA == origIsA ? .orig : .resp
        receipt.outcome = observe(segment, from: side, at: segment.timestamp, teardowns: &teardowns, into: &events)
        return receipt
    }

    /// `receive` for the common case, which `isPlainSegmentWhileOpen` recognises: no SYN, FIN or
    /// RST on a connection whose sides are both ESTABLISHED and that has no teardown yet (no FIN
    /// was sent, so nothing can be acknowledged). Such a segment changes no state; it moves the
    /// counters, the history and the sequence facts, exactly as `observe` would, without the
    /// teardown's machinery. Returns false for a copy seen on another interface.
    mutating func receiveWhileOpen(_ segment: TCPSegment, senderIsA: Bool, duplicateWindow: Int64) -> Bool {
        if isCopyOnAnotherInterface(segment, window: duplicateWindow) { return false }
        let side: Side = senderIsA == origIsA ? .orig : .resp
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
        return true
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

    /// Applies one segment sent by `side`. Events that belong to this connection alone
    /// (anomalies) are appended to `events`; the table handles what needs the clock or the table.
    mutating func observe(_ segment: TCPSegment, from side: Side, at time: Timestamp,
                          teardowns: inout TeardownStore, into events: inout [Event]) -> SegmentOutcome {
        let flags = segment.flags
        let peer = side.peer
        if time > lastSeen { lastSeen = time }
        endpoints[side.index].packets &+= 1
        recordHistory(segment, from: side)

        if teardownNumber != 0 && phase == .closing {
            let start = teardowns[teardownNumber].start
            teardowns[teardownNumber].append(SequenceStep(from: side, flags: flags, offset: time.nanoseconds(since: start)))
        }

        // MARK: Handshake
        if flags.contains(.syn) {
            endpoints[side.index].windowScale = segment.windowScale ?? 0
            endpoints[side.index].nextSequence = segment.sequence + 1
            endpoints[side.index].hasSequence = true
            if flags.contains(.ack) {
                sawSYNACK = true
                if phase == .opening { endpoints[side.index].state = .synReceived }
            } else {
                endpoints[side.index].sentSYN = true
            }
        }

        // MARK: Reset
        if flags.contains(.rst) { return observeReset(segment, from: side, at: time, teardowns: &teardowns, into: &events) }

        // MARK: Acknowledgment — before the FIN, so a FIN+ACK first acknowledges the peer's FIN.
        if flags.contains(.ack) {
            let ack = segment.acknowledgment
            noteAcknowledgment(ack, from: side)
            if phase == .opening && side == .orig && sawSYNACK && !flags.contains(.syn) {
                // The third segment of the handshake: both sides are ESTABLISHED.
                endpoints[0].state = .established
                endpoints[1].state = .established
                phase = .open
            }
            if endpoints[peer.index].sentFIN && !endpoints[peer.index].finAcknowledged && !(ack < endpoints[peer.index].finSequence + 1) {
                finAcknowledged(of: peer, at: time, teardowns: &teardowns)
            }
        }
        endpoints[side.index].window = segment.window

        // MARK: Sequence space and data
        if !flags.contains(.syn) {
            noteSequence(end: segment.sequence + segment.payloadLength + (flags.contains(.fin) ? 1 : 0), from: side)
        }
        if segment.payloadLength > 0 && endpoints[side.index].sentFIN
            && !(segment.sequence < endpoints[side.index].finSequence + 1) && !endpoints[side.index].reportedDataAfterFIN {
            endpoints[side.index].reportedDataAfterFIN = true
            anomalies.insert(.dataAfterFIN)
            events.append(.anomaly(AnomalyEvent(
                time: time, identity: identity, anomaly: .dataAfterFIN, side: side,
                count: Int(segment.payloadLength), state: endpoints[side.index].state,
                detail: "payload beyond the sender's own FIN")))
        }

        // MARK: FIN
        if flags.contains(.fin) {
            observeFIN(segment, from: side, at: time, teardowns: &teardowns, into: &events)
        }

        if orig.sentFIN && resp.sentFIN && orig.finAcknowledged && resp.finAcknowledged {
            return .closed(teardownNumber != 0 && teardowns[teardownNumber].crossed ? .simultaneous : .normal)
        }
        return .tracked
    }

    /// The only writer of an endpoint's state after the handshake: stamps when it was entered.
    mutating func enter(_ state: EndpointState, for side: Side, at time: Timestamp, teardowns: inout TeardownStore) {
        endpoints[side.index].state = state
        teardowns[beginTeardown(at: time, teardowns: &teardowns)].stateSince[side.index] = time
    }

    /// The number of this connection's teardown, created by the first FIN or RST.
    @discardableResult
    mutating func beginTeardown(at time: Timestamp, teardowns: inout TeardownStore) -> UInt32 {
        if teardownNumber != 0 { return teardownNumber }
        teardownNumber = teardowns.make(start: time, since: firstSeen)
        phase = .closing
        return teardownNumber
    }

    // MARK: - FIN

    private mutating func observeFIN(_ segment: TCPSegment, from side: Side, at time: Timestamp,
                                     teardowns: inout TeardownStore, into events: inout [Event]) {
        let peer = side.peer
        let finSequence = segment.sequence + segment.payloadLength
        if endpoints[side.index].sentFIN {
            guard finSequence == endpoints[side.index].finSequence else { return }   // a later FIN: data after FIN, flagged above
            // The same FIN again: a retransmission (a keep-alive carries no FIN, so it never lands here).
            noteFINRetransmit(from: side, at: time, teardowns: &teardowns, into: &events)
            return
        }
        let number = beginTeardown(at: time, teardowns: &teardowns)
        if teardowns[number].steps.isEmpty {
            teardowns[number].append(SequenceStep(from: side, flags: segment.flags, offset: 0))
        }
        if teardowns[number].firstFINSide == nil { teardowns[number].firstFINSide = side }
        endpoints[side.index].sentFIN = true
        endpoints[side.index].finSequence = finSequence
        teardowns[number].finTime[side.index] = time
        teardowns[number].lastFINCopy[side.index] = time

        // Did the sender acknowledge the peer's FIN before sending its own? If not, the FINs crossed.
        let acknowledgesPeerFIN = segment.flags.contains(.ack) && endpoints[peer.index].sentFIN
            && !(segment.acknowledgment < endpoints[peer.index].finSequence + 1)
        let crossed = endpoints[peer.index].sentFIN && !acknowledgesPeerFIN && !endpoints[peer.index].finAcknowledged
        if crossed { teardowns[number].crossed = true }

        switch endpoints[side.index].state {
        case .synSent, .synReceived, .established:
            enter(.finWait1, for: side, at: time, teardowns: &teardowns)           // RFC 9293 §3.6: active close
        case .closeWait:
            // The peer's FIN passed us first; if this FIN does not acknowledge it, this side sent
            // its FIN before receiving the peer's: it was FIN_WAIT_1 and is now CLOSING.
            enter(crossed ? .closing : .lastAck, for: side, at: time, teardowns: &teardowns)
        case .finWait1, .finWait2, .closing, .lastAck, .timeWait, .closed:
            break                                           // already sent a FIN: unreachable
        }
        // The FIN is assumed delivered: the receiver's state follows it.
        switch endpoints[peer.index].state {
        case .synSent, .synReceived, .established:
            enter(.closeWait, for: peer, at: time, teardowns: &teardowns)          // passive side: its program must close()
        case .finWait1:
            enter(.closing, for: peer, at: time, teardowns: &teardowns)            // FINs crossed, its own not yet acknowledged
        case .finWait2:
            enter(.timeWait, for: peer, at: time, teardowns: &teardowns)           // RFC 9293 §3.10.7.4: FIN in FIN-WAIT-2
        case .closeWait, .closing, .lastAck, .timeWait, .closed:
            break
        }
    }

    private mutating func noteFINRetransmit(from side: Side, at time: Timestamp, teardowns: inout TeardownStore,
                                            into events: inout [Event]) {
        endpoints[side.index].finRetransmits &+= 1
        // The first FIN began the teardown, and it lasts until the record: after that a FIN sent
        // again is the residue's business.
        let number = teardownNumber
        var interval: Int64?
        if let last = teardowns[number].lastFINCopy[side.index] {
            let gap = time.nanoseconds(since: last)
            interval = gap
            if teardowns[number].finIntervals[side.index].count < Teardown.maxIntervals {
                teardowns[number].finIntervals[side.index].append(gap)
            }
        }
        teardowns[number].lastFINCopy[side.index] = time
        history.record(.retransmit, from: side)
        anomalies.insert(.finRetransmit)
        events.append(.anomaly(AnomalyEvent(
            time: time, identity: identity, anomaly: .finRetransmit, side: side,
            count: Int(endpoints[side.index].finRetransmits), interval: interval,
            intervals: teardowns[number].finIntervals[side.index], state: endpoints[side.index].state)))
    }

    /// The FIN sent by `side` has just been acknowledged by its peer.
    private mutating func finAcknowledged(of side: Side, at time: Timestamp, teardowns: inout TeardownStore) {
        endpoints[side.index].finAcknowledged = true
        if teardownNumber != 0 { teardowns[teardownNumber].finAckedTime[side.index] = time }
        switch endpoints[side.index].state {
        case .finWait1: enter(.finWait2, for: side, at: time, teardowns: &teardowns)   // active closer; peer not closed yet
        case .closing: enter(.timeWait, for: side, at: time, teardowns: &teardowns)    // FINs crossed; this was the last ACK
        case .lastAck: enter(.closed, for: side, at: time, teardowns: &teardowns)      // passive closer done: teardown complete
        case .synSent, .synReceived, .established, .finWait2, .closeWait, .timeWait, .closed:
            break                                               // duplicate ACK: no transition
        }
    }

    // MARK: - RST

    private mutating func observeReset(_ segment: TCPSegment, from side: Side, at time: Timestamp,
                                       teardowns: inout TeardownStore, into events: inout [Event]) -> SegmentOutcome {
        let peer = side.peer
        // RFC 5961 §3: believe an RST only inside the receiver's window. Without an ACK from the
        // receiver yet (a SYN just sent) there is no window to check against.
        if phase != .opening && endpoints[peer.index].hasAcked {
            let offset = segment.sequence.distance(from: endpoints[peer.index].lastAck)
            let window = max(endpoints[peer.index].scaledWindow, 1)
            if offset < 0 || UInt32(offset) >= window {
                anomalies.insert(.resetOutOfWindow)
                events.append(.anomaly(AnomalyEvent(
                    time: time, identity: identity, anomaly: .resetOutOfWindow, side: side,
                    state: endpoints[side.index].state,
                    detail: "RST seq \(segment.sequence.raw) outside the receiver's window at \(endpoints[peer.index].lastAck.raw)")))
                return .tracked
            }
        }
        // RFC 9293 §3.10.7.1: a reset sent from no connection takes its sequence number from the
        // segment's ACK and has no ACK bit, or answers an ACK-less segment (a SYN) with seq 0.
        let fromNoConnection = !segment.flags.contains(.ack) || (phase == .opening && segment.sequence.raw == 0)
        let resetState = fromNoConnection ? EndpointState.closed : endpoints[side.index].state
        let sawFIN = orig.sentFIN || resp.sentFIN
        let kind: CloseKind
        if phase == .opening && side == .resp && !sawSYNACK {
            kind = .refused
        } else if sawFIN {
            kind = .resetAfterFIN
            anomalies.insert(.resetDuringTeardown)
            events.append(.anomaly(AnomalyEvent(
                time: time, identity: identity, anomaly: .resetDuringTeardown, side: side,
                state: resetState)))
        } else {
            kind = .reset
        }
        let number = beginTeardown(at: time, teardowns: &teardowns)
        if teardowns[number].steps.isEmpty {
            teardowns[number].append(SequenceStep(from: side, flags: segment.flags, offset: 0))
        }
        teardowns[number].resetTime = time
        teardowns[number].resetBy = side
        teardowns[number].resetState = resetState
        if endpoints[side.index].state != .closed { enter(.closed, for: side, at: time, teardowns: &teardowns) }
        if endpoints[peer.index].state != .closed { enter(.closed, for: peer, at: time, teardowns: &teardowns) }
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
