import Testing
@testable import FinwatchCore

/// One connection and its teardown store, fed segments by side: the chained fixtures of the
/// transition tests. orig 198.18.0.1:40022 (ISN 1000), resp 198.18.0.2:80 (ISN 5000).
struct Chain: ~Copyable {
    var connection: Connection
    var teardowns = TeardownStore()
    var events: [Event] = []
    var outcome = SegmentOutcome.tracked
    static let orig = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022)
    static let resp = Endpoint(ip: IPAddress("198.18.0.2")!, port: 80)

    /// orig's SYN at 0 ms, as the table starts a connection: SYN_SENT / CLOSED.
    init() {
        let syn = Chain.segment(.orig, .syn, seq: 1000, ack: 0, payload: 0, at: 0)
        let senderIsA = FlowKey.senderIsA(syn)
        connection = Connection(key: FlowKey(syn, senderIsA: senderIsA), origIsA: senderIsA, uidNumber: 1, generation: 0,
                                phase: .opening, handshakeSeen: true, firstSeen: syn.timestamp, lastSeen: syn.timestamp,
                                orig: EndpointRecord(state: .synSent), resp: EndpointRecord(state: .closed))
        outcome = observe(syn, from: .orig)
    }

    /// One segment from `side` through the connection's transitions, its teardown lent by the
    /// store as the table lends it.
    private mutating func observe(_ segment: TCPSegment, from side: Side) -> SegmentOutcome {
        teardowns.lend(to: &connection, at: segment.timestamp, into: &events) { connection, teardown, events in
            var receipt = Receipt(outcome: .tracked, isCopy: false, origBefore: connection.orig.state,
                                  respBefore: connection.resp.state, phaseBefore: connection.phase)
            receipt.outcome = connection.observe(segment, from: side, at: segment.timestamp, teardown: &teardown,
                                                 overflow: &receipt.overflow, into: &events)
            return receipt
        }.outcome
    }

    static func segment(_ side: Side, _ flags: TCPFlags, seq: UInt32, ack: UInt32, payload: UInt32,
                        at ms: Double) -> TCPSegment {
        let (source, destination) = side == .orig ? (orig, resp) : (resp, orig)
        return TCPSegment(timestamp: .ms(ms), source: source.ip, destination: destination.ip,
                          sourcePort: source.port, destinationPort: destination.port,
                          sequence: SequenceNumber(seq), acknowledgment: SequenceNumber(ack), flags: flags,
                          window: 65535, payloadLength: payload)
    }

    mutating func send(_ side: Side, _ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0, payload: UInt32 = 0, at ms: Double) {
        let segment = Chain.segment(side, flags, seq: seq, ack: ack, payload: payload, at: ms)
        outcome = observe(segment, from: side)
    }

    /// Whether a SYN from `side` would start a new connection on this 4-tuple.
    func startsNew(_ side: Side, seq: UInt32) -> Bool {
        connection.startsNewConnection(Chain.segment(side, .syn, seq: seq, ack: 0, payload: 0, at: 500),
                                       from: side)
    }

    var states: [EndpointState] { [connection.orig.state, connection.resp.state] }
    var anomalies: [Anomaly] { events.compactMap { if case .anomaly(let a) = $0 { a.anomaly } else { nil } } }
    var closedAs: CloseKind? { if case .closed(let kind) = outcome { kind } else { nil } }

    /// What is left once the record is written, as the table keeps it.
    var residue: Residue { connection.residue(generation: 0, teardowns: teardowns) }
}

/// The chain of fixtures, each the one before plus one segment.
enum Fixture {
    static func synSent() -> Chain { Chain() }
    /// resp's SYN+ACK at 1 ms.
    static func synReceived() -> Chain { var c = synSent(); c.send(.resp, [.syn, .ack], seq: 5000, ack: 1001, at: 1); return c }
    /// orig's ACK at 2 ms.
    static func established() -> Chain { var c = synReceived(); c.send(.orig, .ack, seq: 1001, ack: 5001, at: 2); return c }
    /// orig's FIN+ACK at 10 ms: FIN_WAIT_1 / CLOSE_WAIT.
    static func finWait1() -> Chain { var c = established(); c.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10); return c }
    /// resp's ACK of it at 12 ms: FIN_WAIT_2 / CLOSE_WAIT.
    static func finWait2() -> Chain { var c = finWait1(); c.send(.resp, .ack, seq: 5001, ack: 1002, at: 12); return c }
    /// resp's FIN at 40 ms: TIME_WAIT / LAST_ACK.
    static func lastAck() -> Chain { var c = finWait2(); c.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 40); return c }
    /// resp's FIN at 11 ms, not acknowledging orig's: CLOSING / CLOSING.
    static func closing() -> Chain { var c = finWait1(); c.send(.resp, [.fin, .ack], seq: 5001, ack: 1001, at: 11); return c }
    /// orig's final ACK at 41 ms: the record is written, TIME_WAIT / CLOSED.
    static func timeWait() -> Chain { var c = lastAck(); c.send(.orig, .ack, seq: 1002, ack: 5002, at: 41); return c }
}

@Suite("Teardown machine: opening (RFC 9293 §3.5)")
struct OpeningTransitionTests {
    @Test func synSent_syn_isTheSameSYNAgain() {
        var c = Fixture.synSent()
        let startsNew = c.startsNew(.orig, seq: 1000)
        #expect(!startsNew)
        c.send(.orig, .syn, seq: 1000, at: 1000)
        #expect(c.states == [.synSent, .closed] && c.connection.phase == .opening)
    }

    @Test func closed_syn_isASimultaneousOpenAndChangesNoState() {
        var c = Fixture.synSent()
        let startsNew = c.startsNew(.resp, seq: 5000)
        #expect(!startsNew)
        c.send(.resp, .syn, seq: 5000, at: 1)
        #expect(c.states == [.synSent, .closed])
    }

    @Test func closed_synAck_movesRespToSynReceived() {
        let c = Fixture.synReceived()
        #expect(c.states == [.synSent, .synReceived] && c.connection.sawSYNACK)
    }

    @Test func synSent_synAck_movesOrigToSynReceived() {
        var c = Fixture.synSent()
        c.send(.orig, [.syn, .ack], seq: 1000, ack: 5001, at: 1)
        #expect(c.states == [.synReceived, .closed])
    }

    @Test func synReceived_synAck_isTheAnswerAgain() {
        var c = Fixture.synReceived()
        c.send(.resp, [.syn, .ack], seq: 5000, ack: 1001, at: 201)
        #expect(c.states == [.synSent, .synReceived] && c.connection.phase == .opening)
    }

    @Test func synSent_ack_completesTheHandshake() {
        let c = Fixture.established()
        #expect(c.states == [.established, .established] && c.connection.phase == .open)
    }

    @Test func synReceived_ack_fromResp_completesNothing() {
        var c = Fixture.synReceived()
        c.send(.resp, .ack, seq: 5001, ack: 1001, at: 3)
        #expect(c.states == [.synSent, .synReceived] && c.connection.phase == .opening)
    }

    @Test func established_synAck_afterTheHandshake_changesNothing() {
        var c = Fixture.established()
        c.send(.resp, [.syn, .ack], seq: 5000, ack: 1001, at: 3)
        #expect(c.states == [.established, .established] && c.connection.phase == .open)
    }
}

@Suite("Teardown machine: a SYN on a tracked 4-tuple")
struct ReuseTransitionTests {
    @Test func established_syn_withANewISN_startsANewConnection() {
        let startsNew = Fixture.established().startsNew(.orig, seq: 9000)
        #expect(startsNew)
    }

    @Test func established_syn_withTheOpeningISN_isTheOldSYNAgain() {
        let startsNew = Fixture.established().startsNew(.orig, seq: 1000)
        #expect(!startsNew)
    }

    @Test func finWait1_syn_startsANewConnection() {
        let startsNew = Fixture.finWait1().startsNew(.orig, seq: 9000)
        #expect(startsNew)
    }

    @Test func closeWait_syn_fromResp_startsANewConnection() {
        let startsNew = Fixture.finWait1().startsNew(.resp, seq: 9000)
        #expect(startsNew)
    }
}

@Suite("Teardown machine: RST (RFC 9293 §3.10.7, RFC 5961 §3)")
struct ResetTransitionTests {
    @Test func closed_rst_whileOpening_isRefused() {
        var c = Fixture.synSent()
        c.send(.resp, [.rst, .ack], seq: 0, ack: 1001, at: 1)
        #expect(c.closedAs == .refused && c.states == [.closed, .closed])
    }

    @Test func synSent_rst_fromOrig_isAReset() {
        var c = Fixture.synReceived()
        c.send(.orig, .rst, seq: 1001, at: 2)
        #expect(c.closedAs == .reset && c.states == [.closed, .closed])
    }

    @Test func established_rst_inWindow_closesBothSides() {
        var c = Fixture.established()
        c.send(.orig, [.rst, .ack], seq: 1001, ack: 5001, at: 5)
        #expect(c.closedAs == .reset && c.states == [.closed, .closed])
        #expect(c.teardowns[c.connection.teardownNumber].resetState == .established)
    }

    @Test func established_rst_outOfWindow_isNotBelieved() {
        var c = Fixture.established()
        c.send(.orig, [.rst, .ack], seq: 900_000, ack: 5001, at: 5)
        #expect(c.closedAs == nil && c.states == [.established, .established])
        #expect(c.anomalies == [.resetOutOfWindow])
    }

    @Test func closeWait_rst_isAResetAfterFIN() {
        var c = Fixture.finWait2()
        c.send(.resp, [.rst, .ack], seq: 5001, ack: 1002, at: 30)
        #expect(c.closedAs == .resetAfterFIN && c.states == [.closed, .closed])
        #expect(c.anomalies == [.resetDuringTeardown])
    }
}

@Suite("Teardown machine: FIN (RFC 9293 §3.6)")
struct FINTransitionTests {
    @Test func established_fin_makesAnActiveAndAPassiveCloser() {
        let c = Fixture.finWait1()
        #expect(c.states == [.finWait1, .closeWait] && c.connection.phase == .tearingDown)
    }

    @Test func established_ack_withData_changesNoState() {
        var c = Fixture.established()
        c.send(.resp, .ack, seq: 5001, ack: 1001, payload: 100, at: 5)
        #expect(c.states == [.established, .established] && c.events.isEmpty)
    }

    @Test func closeWait_fin_afterItsACK_movesToLastAckAndPeerToTimeWait() {
        let c = Fixture.lastAck()
        #expect(c.states == [.timeWait, .lastAck] && c.closedAs == nil)
    }

    @Test func closeWait_fin_acknowledgingThePeersFIN_isTheAckThenTheFIN() {
        var c = Fixture.finWait1()
        c.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 11)
        #expect(c.states == [.timeWait, .lastAck])
        #expect(c.teardowns[c.connection.teardownNumber].crossed == false)
    }

    @Test func closeWait_fin_notAcknowledgingThePeersFIN_crosses() {
        let c = Fixture.closing()
        #expect(c.states == [.closing, .closing])
        #expect(c.teardowns[c.connection.teardownNumber].crossed)
    }

    @Test func closed_fin_beforeTheSYNAck_leavesItsSideAndClosesThePeer() {
        var c = Fixture.synSent()
        c.send(.resp, [.fin, .ack], seq: 5001, ack: 1001, at: 1)
        #expect(c.states == [.closeWait, .closed] && c.connection.phase == .tearingDown)
    }

    @Test func finWait1_finAgain_isARetransmission() {
        var c = Fixture.finWait1()
        c.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 210)
        #expect(c.states == [.finWait1, .closeWait] && c.anomalies == [.finRetransmit])
    }

    @Test func lastAck_finAgain_isARetransmission() {
        var c = Fixture.lastAck()
        c.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 240)
        #expect(c.states == [.timeWait, .lastAck] && c.anomalies == [.finRetransmit])
    }

    @Test func finWait1_fin_atALaterSequence_isNotARetransmission() {
        var c = Fixture.finWait1()
        c.send(.orig, [.fin, .ack], seq: 1005, ack: 5001, at: 20)
        #expect(c.states == [.finWait1, .closeWait] && c.anomalies.isEmpty)
    }
}

@Suite("Teardown machine: the peer's FIN acknowledged (RFC 9293 §3.10.7.4)")
struct FINAcknowledgedTransitionTests {
    @Test func closeWait_ackOfPeerFIN_movesPeerToFinWait2() {
        let c = Fixture.finWait2()
        #expect(c.states == [.finWait2, .closeWait] && c.closedAs == nil)
    }

    @Test func closing_ackOfPeerFIN_movesPeerToTimeWait() {
        var c = Fixture.closing()
        c.send(.orig, .ack, seq: 1002, ack: 5002, at: 12)
        #expect(c.states == [.closing, .timeWait] && c.closedAs == nil)
    }

    @Test func closing_ackOfPeerFIN_theLastOne_isSimultaneous() {
        var c = Fixture.closing()
        c.send(.orig, .ack, seq: 1002, ack: 5002, at: 12)
        c.send(.resp, .ack, seq: 5002, ack: 1002, at: 13)
        #expect(c.states == [.timeWait, .timeWait] && c.closedAs == .simultaneous)
    }

    @Test func timeWait_ackOfPeerFIN_closesThePassiveSideNormally() {
        let c = Fixture.timeWait()
        #expect(c.states == [.timeWait, .closed] && c.closedAs == .normal)
    }

    @Test func finWait2_ack_again_changesNothing() {
        var c = Fixture.finWait2()
        c.send(.resp, .ack, seq: 5001, ack: 1002, at: 13)
        #expect(c.states == [.finWait2, .closeWait] && c.closedAs == nil && c.events.isEmpty)
    }
}

@Suite("Teardown machine: TIME_WAIT residues")
struct ResidueTransitionTests {
    static let configuration = TrackerConfiguration()

    static func late(_ residue: inout Residue, _ side: Side, _ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0,
                     at ms: Double, into events: inout [Event]) -> Residue.Outcome {
        let segment = Chain.segment(side, flags, seq: seq, ack: ack, payload: 0, at: ms)
        return residue.receive(segment, senderIsA: FlowKey.senderIsA(segment), duplicateWindow: 0, into: &events)
    }

    @Test func timeWait_syn_reopensTheTupleWithAnAnomaly() {
        var residue = Fixture.timeWait().residue
        var events: [Event] = []
        #expect(Self.late(&residue, .orig, .syn, seq: 9000, at: 100, into: &events) == .replaced)
        #expect(events.count == 1)
    }

    @Test func closed_syn_whilePeerWaits_reopensTheTupleWithAnAnomaly() {
        var residue = Fixture.timeWait().residue
        var events: [Event] = []
        #expect(Self.late(&residue, .resp, .syn, seq: 9000, at: 100, into: &events) == .replaced)
        guard case .anomaly(let anomaly)? = events.first else { Issue.record("no anomaly"); return }
        #expect(anomaly.anomaly == .timeWaitReuse && anomaly.side == .orig)
    }

    @Test func closed_rst_toASideInTimeWait_endsTheResidue() {
        var residue = Fixture.timeWait().residue
        var events: [Event] = []
        #expect(Self.late(&residue, .resp, [.rst], seq: 5002, at: 100, into: &events) == .ended)
        guard case .anomaly(let anomaly)? = events.first else { Issue.record("no anomaly"); return }
        #expect(anomaly.anomaly == .timeWaitReset)
    }

    @Test func timeWait_rst_fromTheWaitingSide_isKept() {
        var residue = Fixture.timeWait().residue
        var events: [Event] = []
        #expect(Self.late(&residue, .orig, [.rst], seq: 1002, at: 100, into: &events) == .kept)
        #expect(events.isEmpty)
    }

    @Test func timeWait_ack_ofThePeersFINAgain_isAFinalAckRetransmission() {
        var residue = Fixture.timeWait().residue
        var events: [Event] = []
        #expect(Self.late(&residue, .orig, .ack, seq: 1002, ack: 5002, at: 300, into: &events) == .kept)
        guard case .anomaly(let anomaly)? = events.first else { Issue.record("no anomaly"); return }
        #expect(anomaly.anomaly == .finalAckRetransmit && anomaly.count == 1)
    }

    @Test func closed_finAgain_provesThePeerStillInLastAck() {
        var residue = Fixture.timeWait().residue
        var events: [Event] = []
        #expect(Self.late(&residue, .resp, [.fin, .ack], seq: 5001, ack: 1002, at: 300, into: &events) == .kept)
        guard case .anomaly(let anomaly)? = events.first else { Issue.record("no anomaly"); return }
        #expect(anomaly.anomaly == .finRetransmit && anomaly.state == .lastAck)
    }
}

@Suite("Teardown machine: a FIN proved by the segment after it")
struct UnseenFINTests {
    /// orig's FIN (seq 1001) is lost before the capture point and crosses resp's FIN; orig's
    /// next segment, one past that FIN, also acknowledges resp's FIN: the close is simultaneous,
    /// and orig's FIN, when it shows up, is its retransmission.
    @Test func crossingFINs_withTheFirstFINMissing_areSimultaneousAndTheLateFINARetransmission() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1001, at: 10)   // crosses orig's unseen FIN
        wire.send(.orig, .ack, seq: 1002, ack: 5002, at: 11)            // one past orig's FIN, acks resp's
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5002, at: 210)  // orig's FIN, sent again
        wire.send(.resp, .ack, seq: 5002, ack: 1002, at: 211)
        let record = try #require(wire.closes.first)
        #expect(wire.closes.count == 1)
        #expect(record.close == .simultaneous && record.activeCloser == .both)
        #expect((record.origState, record.respState) == (.timeWait, .timeWait))
        #expect(wire.anomalies.map(\.anomaly) == [.finRetransmit])
        #expect(wire.anomalies.first?.side == .orig)
    }

    @Test func closeWait_ackOnePastAnUnseenFIN_movesTheSenderOn() {
        var c = Fixture.established()
        c.send(.resp, [.fin, .ack], seq: 5001, ack: 1001, at: 10)
        #expect(c.states == [.closeWait, .finWait1])
        c.send(.orig, .ack, seq: 1002, ack: 5002, at: 11)
        #expect(c.states == [.closing, .timeWait])
        #expect(c.connection.orig.sentFIN && c.connection.orig.finSequence == SequenceNumber(1001))
    }

    @Test func established_ackOnePastTheLastByte_onAnOpenConnection_provesNothing() {
        var c = Fixture.established()
        c.send(.orig, .ack, seq: 1002, ack: 5001, at: 10)   // a lost byte of data looks the same
        #expect(c.states == [.established, .established] && !c.connection.orig.sentFIN)
    }
}
