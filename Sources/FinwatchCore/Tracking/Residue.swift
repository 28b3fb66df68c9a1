/// What is left of a connection once its close record is written: held for `--time-wait` after
/// the final ACK (10 s after an RST) so late segments become anomalies of the same uid, not a
/// new connection. Only what TIME_WAIT's business needs (RFC 9293 §3.10.7.4): a retransmitted
/// FIN, a final ACK sent again, a new SYN, an RST.
///
/// 88 bytes against a record's 152: a busy server closes thousands of connections a second and
/// holds each for 60 s, so residues outnumber open connections many times over. Kept apart from
/// the records, they also leave the records' arena dense with the connections packets are for.
struct Residue: BitwiseCopyable {
    // Ordered so the value packs without padding: the one-byte fields sit in the key's tail.
    var key: FlowKey
    /// Both sides' states as the record left them (TIME_WAIT, CLOSED; after an RST, any).
    var states: InlineArray<2, EndpointState>
    var finalAckRetransmits: UInt8
    var uidNumber: UInt64
    /// Copy detection, as in the record: the last segment's time, fingerprint and interface.
    var lastSeen: Timestamp
    /// The latest copy of a FIN (`lastFINCopyIsResp` says whose), so a FIN sent again in
    /// TIME_WAIT reports its gap from the copy before: the back-off, even after the record. One
    /// side's only: after a record the FIN still unacknowledged is the later one, and keeping
    /// both would cost every residue 8 bytes more for FINs crossing twice.
    var lastFINCopy: OptionalTime
    var lastFingerprint: UInt32
    var lastInterface: UInt32
    /// The sequence number each side's FIN occupies (meaningful where `sentFIN`).
    var finSequence: InlineArray<2, SequenceNumber>
    var generation: UInt32
    var finRetransmits: InlineArray<2, UInt8>
    private var facts = PackedFlags()

    var origIsA: Bool { get { facts[1] } set { facts[1] = newValue } }
    var handshakeSeen: Bool { get { facts[2] } set { facts[2] = newValue } }
    /// False once freed; the index and the residue timers never reach a freed residue knowingly.
    var isLive: Bool { get { facts[4] } set { facts[4] = newValue } }
    private var origSentFIN: Bool { get { facts[8] } set { facts[8] = newValue } }
    private var respSentFIN: Bool { get { facts[16] } set { facts[16] = newValue } }
    private var lastFINCopyIsResp: Bool { get { facts[32] } set { facts[32] = newValue } }

    init(key: FlowKey, uidNumber: UInt64, origIsA: Bool, handshakeSeen: Bool, orig: EndpointRecord,
         resp: EndpointRecord, finalAckRetransmits: UInt8, lastSeen: Timestamp, lastFINCopy: (side: Side, time: Timestamp)?,
         lastFingerprint: UInt32, lastInterface: UInt32, generation: UInt32) {
        self.key = key
        states = [orig.state, resp.state]
        self.finalAckRetransmits = finalAckRetransmits
        self.uidNumber = uidNumber
        self.lastSeen = lastSeen
        self.lastFINCopy = OptionalTime(lastFINCopy?.time)
        self.lastFingerprint = lastFingerprint
        self.lastInterface = lastInterface
        finSequence = [orig.finSequence, resp.finSequence]
        self.generation = generation
        finRetransmits = [orig.finRetransmits, resp.finRetransmits]
        self.origIsA = origIsA
        self.handshakeSeen = handshakeSeen
        isLive = true
        origSentFIN = orig.sentFIN
        respSentFIN = resp.sentFIN
        lastFINCopyIsResp = lastFINCopy?.side == .resp
    }

    func sentFIN(_ side: Side) -> Bool { side == .orig ? origSentFIN : respSentFIN }

    var identity: ConnectionIdentity { key.identity(uidNumber: uidNumber, origIsA: origIsA, handshakeSeen: handshakeSeen) }

    /// What a late segment did, for the table to act on.
    enum Outcome {
        /// A copy of the last segment captured on another interface: ignored.
        case copy
        /// Held on (an anomaly may have been written).
        case kept
        /// A SYN on the 4-tuple: end the residue and start a new connection with this SYN.
        case replaced
        /// An RST assassinated the TIME_WAIT (RFC 1337): remove the residue.
        case ended
    }

    /// One late segment on this residue.
    mutating func receive(_ segment: TCPSegment, senderIsA: Bool, duplicateWindow: Int64,
                          into events: inout [Event]) -> Outcome {
        let fingerprint = Connection.fingerprint(segment)
        let interface = segment.interfaceIndex ?? .max
        if Connection.isCopy(fingerprint, interface, at: segment.timestamp, window: duplicateWindow,
                             of: (lastFingerprint, lastInterface, lastSeen)) {
            return .copy
        }
        lastFingerprint = fingerprint
        lastInterface = interface
        if segment.timestamp > lastSeen { lastSeen = segment.timestamp }
        let side: Side = senderIsA == origIsA ? .orig : .resp
        return observe(segment, from: side, into: &events)
    }

    /// A late segment through the same machine as the record's, its controls reduced the way
    /// TIME_WAIT takes them (RFC 9293 §3.10.7.4): a SYN, else an RST, else the same FIN again,
    /// else the ACK field.
    private mutating func observe(_ segment: TCPSegment, from side: Side, into events: inout [Event]) -> Outcome {
        let flags = segment.flags
        let time = segment.timestamp
        let peer = side.peer
        let kind: SegmentKind
        if flags.contains(.syn) && !flags.contains(.ack) {
            kind = .syn
        } else if flags.contains(.rst) {
            kind = .rst
        } else if flags.contains(.fin) && sentFIN(side) && segment.sequence + segment.payloadLength == finSequence[side.index] {
            kind = .finAgain
        } else if flags.contains(.ack) {
            kind = .ack
        } else {
            return .kept
        }
        var facts = SegmentFacts.afterRecord
        if flags.contains(.ack) && sentFIN(peer) && segment.acknowledgment == finSequence[peer.index] + 1 {
            facts.insert(.acknowledgesPeerFIN)
        }
        if !flags.contains(.fin) && segment.payloadLength == 0 { facts.insert(.pureACK) }
        let transition = TeardownMachine.transition(sender: states[side.index], peer: states[peer.index],
                                                    kind: kind, facts: facts)
        let effects = transition.effects
        if effects.contains(.timeWaitReuse) {
            let waiting: Side = states[peer.index] == .timeWait ? peer : side
            events.append(.anomaly(AnomalyEvent(
                time: time, identity: identity, anomaly: .timeWaitReuse, side: waiting, state: .timeWait,
                detail: "new SYN from \(side.rawValue) while \(waiting.rawValue) is in TIME_WAIT")))
        }
        if effects.contains(.timeWaitReset) {
            events.append(.anomaly(AnomalyEvent(
                time: time, identity: identity, anomaly: .timeWaitReset, side: peer, state: .timeWait,
                detail: "RST from \(side.rawValue) to a side in TIME_WAIT (RFC 1337)")))
        }
        if effects.contains(.finRetransmitted) {
            finRetransmits[side.index] &+= 1
            let previous = lastFINCopyIsResp == (side == .resp) ? lastFINCopy.time : nil
            lastFINCopy.time = time
            lastFINCopyIsResp = side == .resp
            // A FIN sent again proves its sender still in LAST_ACK whatever the capture point saw.
            let state = states[side.index] == .closed ? EndpointState.lastAck : states[side.index]
            events.append(.anomaly(AnomalyEvent(
                time: time, identity: identity, anomaly: .finRetransmit, side: side,
                count: Int(finRetransmits[side.index]), interval: previous.map { time.nanoseconds(since: $0) },
                state: state)))
        }
        if effects.contains(.finalAckRetransmitted) {
            finalAckRetransmits &+= 1
            events.append(.anomaly(AnomalyEvent(
                time: time, identity: identity, anomaly: .finalAckRetransmit, side: side,
                count: Int(finalAckRetransmits), state: .timeWait)))
        }
        if effects.contains(.reusesTuple) { return .replaced }
        if effects.contains(.endsResidue) { return .ended }
        return .kept
    }
}

extension Connection {
    /// What is left of this connection once its record is written (read in place in the table,
    /// not copied out first: inlined, as an out-of-line call on a record in the table copied it).
    @inline(__always)
    func residue(generation: UInt32, teardowns: borrowing TeardownStore) -> Residue {
        Residue(key: key, uidNumber: uidNumber, origIsA: origIsA, handshakeSeen: handshakeSeen, orig: orig, resp: resp,
                finalAckRetransmits: finalAckRetransmits, lastSeen: lastSeen,
                lastFINCopy: teardownNumber == 0 ? nil : teardowns[teardownNumber].latestFINCopy,
                lastFingerprint: lastFingerprint, lastInterface: lastInterface, generation: generation)
    }
}
