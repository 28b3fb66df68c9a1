import Testing
@testable import FinwatchCore

@Suite("Close classes")
struct CloseClassTests {
    @Test func fourWayClose_origFirst_isNormalWithEveryPhaseTimed() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)          // FIN_WAIT_1 / CLOSE_WAIT
        wire.send(.resp, [.ack], seq: 5001, ack: 1002, at: 12)                // FIN_WAIT_2
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 40)          // LAST_ACK
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 41)                // TIME_WAIT / CLOSED
        let record = try #require(wire.closes.first)
        #expect(wire.closes.count == 1)
        #expect(record.close == .normal)
        #expect(record.activeCloser == .orig)
        #expect(record.resetBy == nil && record.resetState == nil)
        #expect((record.origState, record.respState) == (.timeWait, .closed))
        #expect(record.durations.finWait1 == ms(2))
        #expect(record.durations.finWait2 == ms(28))
        #expect(record.durations.closeWait == ms(30))
        #expect(record.durations.lastAck == ms(1))
        #expect(record.durations.teardown == ms(31))
        #expect(record.durations.lifetime == ms(41))
        #expect(record.history == "ShAFaf")
        #expect(record.sequence.map(\.from) == [.orig, .resp, .resp, .orig])
        #expect(record.sequence.map(\.offset) == [0, ms(2), ms(30), ms(31)])
        #expect((record.origPackets, record.respPackets) == (4, 3))
        #expect(record.identity.handshakeSeen)
        #expect(record.time == .ms(41))
    }

    @Test func respClosesFirst_isNormalWithRespActive() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1001, at: 10)
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5002, at: 11)
        wire.send(.resp, [.ack], seq: 5002, ack: 1002, at: 12)
        let record = try #require(wire.closes.first)
        #expect(record.close == .normal && record.activeCloser == .resp)
        #expect((record.origState, record.respState) == (.closed, .timeWait))
    }

    @Test func finPiggybackedOnACK_isNormalWithZeroFinWait2() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 10.014)
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 10.026)
        let record = try #require(wire.closes.first)
        #expect(record.close == .normal)
        #expect(record.durations.finWait2 == 0)
        #expect(record.durations.finWait1 == 14_000)
        #expect(record.durations.closeWait == 14_000)
        #expect(record.durations.lastAck == 12_000)
        #expect(record.durations.teardown == 26_000)
        #expect(record.history == "ShAFf")
    }

    @Test func crossingFINs_areSimultaneousWithBothInTimeWait() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1001, at: 10.5)   // does not acknowledge orig's FIN
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 11)
        wire.send(.resp, [.ack], seq: 5002, ack: 1002, at: 11.2)
        let record = try #require(wire.closes.first)
        #expect(record.close == .simultaneous)
        #expect(record.activeCloser == .both)
        #expect((record.origState, record.respState) == (.timeWait, .timeWait))
        #expect(record.durations.closeWait == nil)
        #expect(record.durations.teardown == ms(1.2))
    }

    @Test func rstInEstablished_isResetWithTheResettersState() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.rst, .ack], seq: 1001, ack: 5001, at: 5)
        let record = try #require(wire.closes.first)
        #expect(record.close == .reset)
        #expect(record.resetBy == .orig && record.resetState == .established)
        #expect(record.activeCloser == nil)
        #expect(record.durations.teardown == nil)
        #expect(record.sequence.count == 1)
    }

    @Test func rstFromCloseWait_isResetAfterFINInCloseWait() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.ack], seq: 5001, ack: 1002, at: 11)
        wire.send(.resp, [.rst, .ack], seq: 5001, ack: 1002, at: 500)          // program aborted in CLOSE_WAIT
        let record = try #require(wire.closes.first)
        #expect(record.close == .resetAfterFIN)
        #expect(record.resetBy == .resp && record.resetState == .closeWait)
        #expect(record.activeCloser == .orig)
        #expect(record.anomalies.contains(.resetDuringTeardown))
        #expect(record.durations.teardown == ms(490))
        #expect(wire.anomalies.map(\.anomaly) == [.resetDuringTeardown])
    }

    @Test func rstWithoutACKAfterLateFIN_wasSentFromNoConnection() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.ack], seq: 5001, ack: 1002, at: 11)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 70_000)       // orig's FIN_WAIT_2 timed out long ago
        wire.send(.orig, [.rst], seq: 1002, at: 70_000.1)                       // answered from CLOSED: no ACK bit
        let record = try #require(wire.closes.first)
        #expect(record.close == .resetAfterFIN)
        #expect(record.resetBy == .orig && record.resetState == .closed)
    }

    @Test func synAnsweredByRST_isRefused() throws {
        var wire = Wire()
        wire.send(.orig, [.syn], seq: 1000, at: 0)
        wire.send(.resp, [.rst, .ack], seq: 0, ack: 1001, at: 0.05)
        let record = try #require(wire.closes.first)
        #expect(record.close == .refused)
        #expect(record.resetBy == .resp && record.resetState == .closed)
        #expect(record.identity.handshakeSeen)
        #expect(record.history == "Sr")
    }

    @Test func synNeverAnswered_isNoAnswerAtEndOfInput() throws {
        var wire = Wire()
        wire.send(.orig, [.syn], seq: 1000, at: 0)
        wire.send(.orig, [.syn], seq: 1000, at: 1000)
        wire.send(.orig, [.syn], seq: 1000, at: 3000)
        wire.finish(3000)
        let record = try #require(wire.closes.first)
        #expect(record.close == .noAnswer)
        #expect(record.endedBy == .endOfInput)
        #expect((record.origState, record.respState) == (.synSent, .closed))
        #expect(record.origPackets == 3)
    }

    @Test func endOfInput_writesHalfClosedAndUnterminated() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.ack], seq: 5001, ack: 1002, at: 11)
        wire.orig.port = 40023
        wire.handshake()
        wire.finish(20)
        #expect(wire.closes.map(\.close) == [.halfClosed, .unterminated])
        #expect(wire.closes.map(\.activeCloser) == [.orig, nil])
        #expect(wire.closes[0].durations.closeWait == nil)
        #expect((wire.closes[0].origState, wire.closes[0].respState) == (.finWait2, .closeWait))
        #expect(wire.table.count == 0)
    }
}

@Suite("Sequence numbers")
struct SequenceTests {
    @Test func ackCoveringFINAcrossWrapAround_acknowledgesIt() throws {
        var wire = Wire()
        wire.send(.orig, [.syn], seq: 0xFFFF_FFFD, at: 0)
        wire.send(.resp, [.syn, .ack], seq: 5000, ack: 0xFFFF_FFFE, at: 1)
        wire.send(.orig, [.ack], seq: 0xFFFF_FFFE, ack: 5001, at: 2)
        wire.send(.orig, [.fin, .ack], seq: 0xFFFF_FFFE, ack: 5001, at: 3)     // FIN occupies 0xFFFFFFFE
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 0xFFFF_FFFF, at: 4)
        wire.send(.orig, [.ack], seq: 0xFFFF_FFFF, ack: 5002, at: 5)
        #expect(wire.closes.first?.close == .normal)
    }

    @Test func ackShortOfTheFIN_doesNotAcknowledgeIt() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack, .psh], seq: 1001, ack: 5001, payload: 100, at: 10)   // FIN at 1101
        wire.send(.resp, [.ack], seq: 5001, ack: 1101, at: 11)                           // covers the data only
        wire.finish(12)
        #expect((wire.closes.first?.origState, wire.closes.first?.respState) == (.finWait1, .closeWait))
    }

    @Test func keepAlive_isNotAFINRetransmission() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.ack], seq: 5001, ack: 1002, at: 11)
        wire.send(.resp, [.ack], seq: 5000, ack: 1002, at: 7200)    // keep-alive: SND.NXT − 1, no FIN
        wire.finish(7201)
        #expect(wire.closes.first?.origFINRetransmits == 0)
        #expect(wire.anomalies.isEmpty)
    }

    @Test func rstOutsideTheWindow_isReportedNotBelieved() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.resp, [.rst, .ack], seq: 5001 &+ 1_000_000, ack: 1001, at: 5)
        #expect(wire.closes.isEmpty)
        #expect(wire.anomalies.map(\.anomaly) == [.resetOutOfWindow])
        wire.send(.resp, [.rst, .ack], seq: 5001, ack: 1001, at: 6)
        #expect(wire.closes.first?.close == .reset)
    }
}

@Suite("Retransmissions and TIME_WAIT")
struct RetransmissionTests {
    @Test func finSentAgain_countsRetransmitsWithTheirBackoff() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 210)
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 610)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 611)
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 612)
        let record = try #require(wire.closes.first)
        #expect(record.origFINRetransmits == 2)
        #expect(record.origFINIntervals == [ms(200), ms(400)])
        #expect(record.anomalies.contains(.finRetransmit))
        #expect(record.history.text.contains("T"))
        #expect(wire.anomalies.map(\.count) == [1, 2])
        #expect(wire.anomalies.map(\.interval) == [ms(200), ms(400)])
        #expect(record.durations.finWait1 == ms(601))
    }

    /// The teardown keeps 15 intervals; each anomaly still says its own gap past them.
    @Test func finSentAgainPastTheKeptIntervals_stillGivesEachGap() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        for copy in 1...17 { wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10 + Double(copy) * 100) }
        #expect(wire.anomalies.map(\.count) == Array(1...17))
        #expect(wire.anomalies.allSatisfy { $0.interval == ms(100) })
        #expect(wire.anomalies.last?.intervals.count == Teardown.maxIntervals)
    }

    @Test func finalAckLostPastCapture_becomesAnomaliesOfTheSameUID() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 11)
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 12)                  // written here
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 212)           // resp never got it
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 212.1)
        let uid = try #require(wire.closes.first?.identity.uid)
        #expect(wire.closes.count == 1)
        #expect(wire.anomalies.map(\.anomaly) == [.finRetransmit, .finalAckRetransmit])
        #expect(wire.anomalies.allSatisfy { $0.identity.uid == uid })
        #expect(wire.anomalies[0].side == .resp)
        // The back-off survives the record: the gap from resp's FIN before it (at 11 ms).
        #expect(wire.anomalies[0].interval == ms(201) && wire.anomalies[0].count == 1)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 612)           // the ACK lost again
        #expect(wire.anomalies.last?.interval == ms(400) && wire.anomalies.last?.count == 2)
        #expect(wire.closes.count == 1)
    }

    /// FINs crossed: both sides' FINs were unacknowledged at once. A residue keeps the later
    /// FIN's time only, so the earlier side's copy says no gap rather than a wrong one.
    @Test func crossedFINsSentAgainAfterTheRecord_giveOnlyGapsTheyCanProve() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1001, at: 10.5)          // crossed: resp's is later
        wire.send(.resp, [.ack], seq: 5002, ack: 1002, at: 11)
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 11.5)                // both TIME_WAIT: written
        #expect(wire.closes.first?.activeCloser == .both)
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5002, at: 210)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 211)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 611)
        let fins = wire.anomalies.filter { $0.anomaly == .finRetransmit }
        #expect(fins.map(\.side) == [.orig, .resp, .resp])
        #expect(fins.map(\.interval) == [nil, nil, ms(400)])
    }

    @Test func synOnATupleInTimeWait_isTimeWaitReuseThenANewConnection() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1001, at: 10)            // resp closes first
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5002, at: 11)
        wire.send(.resp, [.ack], seq: 5002, ack: 1002, at: 12)                  // resp in TIME_WAIT
        wire.send(.orig, [.syn], seq: 90_000, at: 5000)
        let reuse = try #require(wire.anomalies.first)
        #expect(reuse.anomaly == .timeWaitReuse && reuse.side == .resp)
        #expect(reuse.identity.uid == "C1")
        wire.finish(5001)
        #expect(wire.closes.map(\.identity.uid) == ["C1", "C2"])
    }

    @Test func rstToTimeWait_isTimeWaitReset() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 11)
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 12)
        wire.send(.resp, [.rst], seq: 5002, at: 30)
        #expect(wire.anomalies.map(\.anomaly) == [.timeWaitReset])
        #expect(wire.table.count == 0)
    }

    @Test func timeWaitEnds_afterTheConfiguredHold() throws {
        var wire = Wire { $0.timeWait = 60 * DurationText.second }
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 11)
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 12)
        #expect(wire.table.endpointCounts()[.timeWait] == 1)
        wire.tick(60_011)
        #expect(wire.table.count == 1)
        wire.tick(60_012)
        #expect(wire.table.count == 0)
        #expect(wire.table.endpointCounts()[.timeWait] == 0)
    }

    @Test func copyOnAnotherInterface_isNeitherAPacketNorARetransmission() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10, ipID: 77, interface: 3)
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10.01, ipID: 77, interface: 4)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 11)
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 12)
        let record = try #require(wire.closes.first)
        #expect(record.origFINRetransmits == 0)
        #expect(record.origPackets == 4)
        #expect(wire.table.duplicates == 1)
    }
}

@Suite("Alerts on the packet clock")
struct AlertTests {
    @Test func closeWaitPastThreshold_firesThenResolvesOnTheFIN() throws {
        var wire = Wire { $0.closeWaitThreshold = 1 * DurationText.second }
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.ack], seq: 5001, ack: 1002, at: 11)
        wire.tick(1009)
        #expect(wire.alerts.isEmpty)
        wire.tick(1010.5)                                                    // any later time past the deadline
        let firing = try #require(wire.alerts.first)
        #expect(firing.status == .firing && firing.alert == .closeWaitLingering && firing.side == .resp)
        #expect(firing.since == .ms(10) && firing.duration == ms(1000.5) && firing.threshold == ms(1000))
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 2510)
        let resolved = try #require(wire.alerts.last)
        #expect(resolved.status == .resolved && resolved.duration == ms(2500) && resolved.resolvedTo == .lastAck)
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 2511)
        let record = try #require(wire.closes.first)
        #expect(record.anomalies.contains(.closeWaitLingering))
        #expect(record.durations.closeWait == ms(2500))
    }

    @Test func firingAlert_staysFiringAtEndOfInput() throws {
        var wire = Wire {
            $0.finWait2Threshold = 5 * DurationText.second
            $0.closeWaitThreshold = 5 * DurationText.second
        }
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.ack], seq: 5001, ack: 1002, at: 11)
        wire.tick(6000)
        wire.finish(7000)
        #expect(wire.alerts.map(\.status) == [.firing, .firing])               // CLOSE_WAIT and FIN_WAIT_2 both
        #expect(Set(wire.alerts.map(\.alert)) == [.closeWaitLingering, .finWait2Lingering])
        #expect(wire.closes.first?.close == .halfClosed)
    }
}

@Suite("Half-close, mid-stream and memory bound")
struct TableTests {
    @Test func halfCloseWithDataStillFlowingBack_staysHalfClosed() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)           // shutdown(SHUT_WR)
        wire.send(.resp, [.ack, .psh], seq: 5001, ack: 1002, payload: 1000, at: 11)
        wire.send(.orig, [.ack], seq: 1002, ack: 6001, at: 12)
        wire.send(.resp, [.fin, .ack], seq: 6001, ack: 1002, at: 20)
        wire.send(.orig, [.ack], seq: 1002, ack: 6002, at: 21)
        let record = try #require(wire.closes.first)
        #expect(record.close == .normal)
        #expect(record.durations.closeWait == ms(10))
        #expect(!record.anomalies.contains(.dataAfterFIN))
    }

    @Test func payloadBeyondOwnFIN_isDataAfterFIN() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.orig, [.ack, .psh], seq: 1002, ack: 5001, payload: 10, at: 11)
        #expect(wire.anomalies.map(\.anomaly) == [.dataAfterFIN])
    }

    @Test func midStreamConnection_infersOrigFromThePorts() throws {
        var wire = Wire()
        wire.send(.resp, [.ack, .psh], seq: 5001, ack: 1001, payload: 10, at: 0)   // server speaks first
        wire.finish(1)
        let record = try #require(wire.closes.first)
        #expect(!record.identity.handshakeSeen)
        #expect(record.identity.orig == wire.orig)                                   // the ephemeral port opened
        #expect(record.history.text.hasPrefix("^"))
    }

    @Test func fullTable_evictsQuietEstablishedBeforeHalfClosed() throws {
        var wire = Wire { $0.maxConnections = 2 }
        wire.handshake()                                                             // C1: will be half-closed
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.orig.port = 40023
        wire.handshake()                                                             // C2: established, quiet
        wire.orig.port = 40024
        wire.send(.orig, [.syn], seq: 1000, at: 20)                                  // C3 needs a slot
        #expect(wire.table.evictions == 1)
        let evicted = try #require(wire.closes.first)
        #expect(evicted.identity.uid == "C2" && evicted.endedBy == .eviction && evicted.close == .unterminated)
        #expect(wire.table.count == 2)
    }

    @Test func synFlood_staysWithinMaxConnections() {
        var wire = Wire { $0.maxConnections = 1000 }
        for port in 0..<20_000 {
            wire.orig.port = UInt16(1024 + port)
            wire.send(.orig, [.syn], seq: 1000, at: Double(port))
        }
        #expect(wire.table.count == 1000)
        #expect(wire.table.evictions == 19_000)
        #expect(wire.closes.count == 19_000)
        #expect(wire.closes.allSatisfy { $0.close == .noAnswer })
    }

    @Test func snapshot_listsHalfClosedSidesOldestFirst() {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.ack], seq: 5001, ack: 1002, at: 11)
        let rows = wire.table.halfClosedSnapshot()
        #expect(rows.map(\.state) == [.closeWait, .finWait2])
        #expect(rows.map(\.side) == [.resp, .orig])
        #expect(rows.map(\.since) == [.ms(10), .ms(11)])
    }
}

@Suite("Capture drops")
struct CaptureDropTests {
    @Test func dropsWhileTracked_markTheRecordUncertain_notLaterConnections() throws {
        var wire = Wire()
        wire.handshake()
        wire.table.noteCaptureDrops()                                              // libpcap says it dropped
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 11)
        wire.send(.orig, [.ack], seq: 1002, ack: 5002, at: 12)
        wire.orig.port = 40023
        wire.handshake()                                                           // opened after the drop
        wire.finish(20)
        #expect(wire.closes.map(\.identity.uid) == ["C1", "C2"])
        #expect(wire.closes[0].anomalies.contains(.captureDrops))
        #expect(!wire.closes[1].anomalies.contains(.captureDrops))
    }
}
