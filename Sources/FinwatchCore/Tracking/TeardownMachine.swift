/// What a segment is, for the teardown machine: its controls reduced once, before anything
/// switches on them. A segment carrying several controls asks the machine once for each, in the
/// order `Connection.observe` takes them: SYN, RST (which ends the segment's business), the ACK
/// field (the handshake, then the peer's FIN acknowledged), then FIN — so a FIN+ACK first
/// acknowledges the peer's FIN, then closes its sender's side.
enum SegmentKind: UInt8, CaseIterable, BitwiseCopyable {
    /// A SYN without ACK.
    case syn
    /// A SYN+ACK.
    case synAck
    /// An RST, with or without ACK.
    case rst
    /// The ACK field of a segment without SYN, when it acknowledges no FIN for the first time.
    case ack
    /// The ACK field acknowledging the peer's FIN for the first time.
    case ackOfPeerFIN
    /// The sender's first FIN: seen on the wire, or proved by a segment one past it.
    case fin
    /// A FIN the sender showed before, at the same sequence number: a retransmission.
    case finAgain
}

/// What the machine needs to know besides the two states: facts about the segment and the
/// connection, named once by the caller (`Connection.facts`, `Residue.observe`).
struct SegmentFacts: OptionSet, BitwiseCopyable {
    let rawValue: UInt16

    /// The record is still opening: no handshake completed, no FIN or RST yet.
    static let opening = SegmentFacts(rawValue: 1 << 0)
    /// The sender is orig, the side that opened.
    static let fromOpener = SegmentFacts(rawValue: 1 << 1)
    /// A SYN+ACK has been seen on this connection.
    static let synAckSeen = SegmentFacts(rawValue: 1 << 2)
    /// A SYN with the opening SYN's sequence number: that SYN again, not a new connection.
    static let repeatsOpeningSYN = SegmentFacts(rawValue: 1 << 3)
    /// An RST the receiver would believe (RFC 5961 §3): inside its window, or before it has one.
    static let inWindow = SegmentFacts(rawValue: 1 << 4)
    /// Either side has sent a FIN.
    static let finSeen = SegmentFacts(rawValue: 1 << 5)
    /// This first FIN does not acknowledge the peer's FIN, which nothing has acknowledged yet:
    /// both were sent before either arrived (RFC 9293 §3.6, case 2).
    static let crossesPeerFIN = SegmentFacts(rawValue: 1 << 6)
    /// The sender's own FIN has been acknowledged.
    static let ownFINAcknowledged = SegmentFacts(rawValue: 1 << 7)
    /// This connection's FINs crossed.
    static let finsCrossed = SegmentFacts(rawValue: 1 << 8)
    /// The close record is written: what is left is a TIME_WAIT residue (or the hold after an RST).
    static let afterRecord = SegmentFacts(rawValue: 1 << 9)
    /// The acknowledgment number is one past the peer's FIN.
    static let acknowledgesPeerFIN = SegmentFacts(rawValue: 1 << 10)
    /// No payload, no FIN: an ACK and nothing else.
    static let pureACK = SegmentFacts(rawValue: 1 << 11)
}

/// What else a transition does besides moving states; the connection, the residue and the table
/// act on these (teardown storage, anomalies, records, timers).
struct TransitionEffects: OptionSet, BitwiseCopyable {
    let rawValue: UInt16

    /// The first FIN or RST: the connection's teardown begins (its times, its close sequence).
    static let beginsTeardown = TransitionEffects(rawValue: 1 << 0)
    /// The handshake's third segment: the record is open.
    static let establishes = TransitionEffects(rawValue: 1 << 1)
    /// The FINs crossed: the close will be `simultaneous`, with both sides active closers.
    static let crossesFINs = TransitionEffects(rawValue: 1 << 2)
    /// The anomaly `fin_retransmit`.
    static let finRetransmitted = TransitionEffects(rawValue: 1 << 3)
    /// The anomaly `reset_out_of_window`: the RST is not believed.
    static let resetOutOfWindow = TransitionEffects(rawValue: 1 << 4)
    /// The anomaly `reset_during_teardown`.
    static let resetDuringTeardown = TransitionEffects(rawValue: 1 << 5)
    /// A new connection on this 4-tuple: the tracked one ended unseen, or its TIME_WAIT is cut short.
    static let reusesTuple = TransitionEffects(rawValue: 1 << 6)
    /// The anomaly `time_wait_reuse`.
    static let timeWaitReuse = TransitionEffects(rawValue: 1 << 7)
    /// The residue ends: an RST reached a side in TIME_WAIT.
    static let endsResidue = TransitionEffects(rawValue: 1 << 8)
    /// The anomaly `time_wait_reset` (RFC 1337).
    static let timeWaitReset = TransitionEffects(rawValue: 1 << 9)
    /// The anomaly `final_ack_retransmit`.
    static let finalAckRetransmitted = TransitionEffects(rawValue: 1 << 10)
}

/// What the machine decided for one segment (or one control of it).
struct Transition: Equatable {
    /// The sender's new state; nil: unchanged.
    var sender: EndpointState?
    /// The peer's new state; nil: unchanged.
    var peer: EndpointState?
    var effects: TransitionEffects
    /// The connection ended on the wire, and how: its record is written now.
    var close: CloseKind?

    init(sender: EndpointState? = nil, peer: EndpointState? = nil, effects: TransitionEffects = [],
         close: CloseKind? = nil) {
        self.sender = sender
        self.peer = peer
        self.effects = effects
        self.close = close
    }

    /// Nothing changes.
    static let none = Transition()
}

/// The teardown of one connection as seen from the capture point, as one table: the states of
/// a segment's sender and of its peer, the segment's kind and facts in, a `Transition` out. Each
/// transition is written once, for a sender and its peer; the other direction is the same row
/// with the roles swapped. Pure: no storage, no events, no clock — `Connection` stamps the new
/// states and the table schedules and writes records from the effects.
enum TeardownMachine {
    /// Inlined where it is asked, without exception: each caller names one kind, so only that
    /// kind's rows are left.
    @inline(always)
    static func transition(sender: EndpointState, peer: EndpointState, kind: SegmentKind,
                           facts: SegmentFacts) -> Transition {
        switch (sender, kind) {
        // MARK: SYN
        case (_, .syn) where facts.contains(.afterRecord):
            // RFC 9293 §3.10.7.4, RFC 6191: a new SYN may reopen a 4-tuple in TIME_WAIT.
            return Transition(effects: sender == .timeWait || peer == .timeWait ? [.reusesTuple, .timeWaitReuse] : .reusesTuple)
        case (_, .syn) where facts.contains(.opening) || facts.contains(.repeatsOpeningSYN):
            return .none   // the opening SYN again, or the peer's (simultaneous open): no state yet
        case (.synSent, .syn), (.synReceived, .syn), (.established, .syn), (.finWait1, .syn), (.finWait2, .syn),
             (.closeWait, .syn), (.closing, .syn), (.lastAck, .syn), (.timeWait, .syn), (.closed, .syn):
            return Transition(effects: .reusesTuple)   // the old connection ended unseen (a reboot, its last segments lost)

        // MARK: SYN+ACK (RFC 9293 §3.5)
        case (.synSent, .synAck) where facts.contains(.opening), (.closed, .synAck) where facts.contains(.opening):
            return Transition(sender: .synReceived)   // the SYN answered (or, from orig, a simultaneous open)
        case (.synSent, .synAck), (.synReceived, .synAck), (.established, .synAck), (.finWait1, .synAck),
             (.finWait2, .synAck), (.closeWait, .synAck), (.closing, .synAck), (.lastAck, .synAck),
             (.timeWait, .synAck), (.closed, .synAck):
            return .none   // already SYN_RECEIVED, or a SYN+ACK again after the handshake

        // MARK: RST (RFC 9293 §3.10.7, RFC 5961 §3)
        case (_, .rst) where facts.contains(.afterRecord):
            // RFC 1337: an RST to a side in TIME_WAIT ends it early ("TIME_WAIT assassination").
            return peer == .timeWait ? Transition(effects: [.endsResidue, .timeWaitReset]) : .none
        case (_, .rst) where !facts.contains(.inWindow):
            return Transition(effects: .resetOutOfWindow)   // RFC 5961 §3: a blind reset, not believed
        case (.closed, .rst) where facts.contains(.opening) && !facts.contains(.synAckSeen):
            // §3.10.7.1: the SYN's receiver had no listener. Only resp is CLOSED while opening.
            return Transition(peer: peer == .closed ? nil : .closed, effects: .beginsTeardown, close: .refused)
        case (_, .rst) where facts.contains(.finSeen):
            return Transition(sender: sender == .closed ? nil : .closed, peer: peer == .closed ? nil : .closed,
                              effects: [.beginsTeardown, .resetDuringTeardown], close: .resetAfterFIN)
        case (.synSent, .rst), (.synReceived, .rst), (.established, .rst), (.finWait1, .rst), (.finWait2, .rst),
             (.closeWait, .rst), (.closing, .rst), (.lastAck, .rst), (.timeWait, .rst), (.closed, .rst):
            // §3.10.7.3: both sides CLOSED, no TIME_WAIT.
            return Transition(sender: sender == .closed ? nil : .closed, peer: peer == .closed ? nil : .closed,
                              effects: .beginsTeardown, close: .reset)

        // MARK: ACK
        case (.timeWait, .ack) where facts.contains(.afterRecord):
            // §3.10.7.4: TIME_WAIT acknowledges the peer's FIN again: the first final ACK was lost.
            return facts.isSuperset(of: [.acknowledgesPeerFIN, .pureACK]) ? Transition(effects: .finalAckRetransmitted) : .none
        case (.synSent, .ack) where facts.isSuperset(of: [.opening, .fromOpener, .synAckSeen]),
             (.synReceived, .ack) where facts.isSuperset(of: [.opening, .fromOpener, .synAckSeen]):
            // §3.5: the third segment of the handshake.
            return Transition(sender: .established, peer: peer == .established ? nil : .established, effects: .establishes)
        case (.synSent, .ack), (.synReceived, .ack), (.established, .ack), (.finWait1, .ack), (.finWait2, .ack),
             (.closeWait, .ack), (.closing, .ack), (.lastAck, .ack), (.timeWait, .ack), (.closed, .ack):
            return .none   // data and window updates: no state

        // MARK: ACK of the peer's FIN (RFC 9293 §3.10.7.4)
        case (_, .ackOfPeerFIN):
            // FIN_WAIT_1→FIN_WAIT_2, CLOSING→TIME_WAIT, LAST_ACK→CLOSED; when the sender's own FIN
            // was acknowledged before, this is the last ACK of the teardown.
            let close: CloseKind? = facts.contains(.ownFINAcknowledged)
                ? (facts.contains(.finsCrossed) ? .simultaneous : .normal) : nil
            return Transition(peer: peer.afterFINAcknowledged, close: close)

        // MARK: FIN (RFC 9293 §3.6)
        case (.synSent, .fin), (.synReceived, .fin), (.established, .fin):
            // Case 1, active close; the peer's state follows the FIN, assumed delivered.
            return Transition(sender: .finWait1, peer: peer.receivingFIN, effects: .beginsTeardown)
        case (.closeWait, .fin) where facts.contains(.crossesPeerFIN):
            // Case 2: sent before the peer's FIN arrived, so it was FIN_WAIT_1 then, CLOSING now.
            return Transition(sender: .closing, peer: peer.receivingFIN, effects: [.beginsTeardown, .crossesFINs])
        case (.closeWait, .fin):
            return Transition(sender: .lastAck, peer: peer.receivingFIN, effects: .beginsTeardown)   // its program called close()
        case (.finWait1, .fin), (.finWait2, .fin), (.closing, .fin), (.lastAck, .fin), (.timeWait, .fin), (.closed, .fin):
            // CLOSED: a side never seen to open closes (resp before its SYN+ACK). The others follow
            // the sender's own FIN, so its FIN is `finAgain`: listed for exhaustiveness only.
            return Transition(peer: peer.receivingFIN,
                              effects: facts.contains(.crossesPeerFIN) ? [.beginsTeardown, .crossesFINs] : .beginsTeardown)

        // MARK: The same FIN again
        case (_, .finAgain):
            // The peer never got it, or its ACK was lost: the sender's TCP retransmits (§3.8.1).
            // After the record it proves the sender still in LAST_ACK whatever the capture saw.
            return Transition(effects: .finRetransmitted)
        }
    }
}

extension EndpointState {
    /// The receiver's state once a FIN reaches it.
    var receivingFIN: EndpointState? {
        switch self {
        case .synSent, .synReceived, .established: .closeWait   // §3.6: passive close, its program must close()
        case .finWait1: .closing                                // §3.6 case 2: the FINs crossed
        case .finWait2: .timeWait                               // §3.10.7.4: FIN in FIN-WAIT-2
        case .closeWait, .closing, .lastAck, .timeWait, .closed: nil
        }
    }

    /// The state of a side once its FIN is acknowledged.
    var afterFINAcknowledged: EndpointState? {
        switch self {
        case .finWait1: .finWait2   // active closer; the peer has not closed yet
        case .closing: .timeWait    // the FINs crossed; this was the last ACK
        case .lastAck: .closed      // passive closer done
        case .synSent, .synReceived, .established, .finWait2, .closeWait, .timeWait, .closed: nil
        }
    }
}
