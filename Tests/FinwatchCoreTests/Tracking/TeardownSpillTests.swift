import Testing
@testable import FinwatchCore

/// What a teardown keeps past its inline room, through the table as it runs: the close
/// sequence's steps 5 to 32 and the FIN intervals live in the store's spill, which the next
/// teardown reuses once a record is written.
@Suite("Tracking: a teardown's spill")
struct TeardownSpillTests {
    /// orig closes at 10 ms, then resp sends data for 40 rounds, each answered by orig's ACK,
    /// one a millisecond: the sequence keeps its first 32 steps, each at its own offset and side,
    /// and says it was cut.
    @Test func longHalfClose_keeps32StepsAtTheirOffsets_andIsCut() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        for round in 0..<40 {
            let sent = UInt32(100 * round)
            wire.send(.resp, [.psh, .ack], seq: 5001 + sent, ack: 1002, payload: 100, at: 11 + 2 * Double(round))
            wire.send(.orig, .ack, seq: 1002, ack: 5101 + sent, at: 12 + 2 * Double(round))
        }
        wire.send(.resp, [.fin, .ack], seq: 9001, ack: 1002, at: 100)
        wire.send(.orig, .ack, seq: 1002, ack: 9002, at: 101)

        let record = try #require(wire.closes.first)
        #expect(record.close == .normal)
        #expect(record.sequence.count == CloseSequence.capacity)
        #expect(record.sequenceTruncated)
        #expect(record.sequence.map(\.offset) == (0..<32).map { ms(Double($0)) })
        #expect(record.sequence.first?.flags == [.fin, .ack])
        let sides = record.sequence.dropFirst().map(\.from)
        #expect(sides == (1..<32).map { $0 % 2 == 1 ? .resp : .orig })
    }

    /// A connection whose orig sent its FIN three times keeps two intervals; the next connection
    /// takes over its freed teardown and spill and must start with none of them.
    @Test func reusedSpill_startsWithoutTheIntervalsOfTheTeardownBefore() throws {
        var wire = Wire()
        wire.handshake()
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 10)
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 30)
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 70)
        wire.send(.resp, .ack, seq: 5001, ack: 1002, at: 71)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 72)
        wire.send(.orig, .ack, seq: 1002, ack: 5002, at: 73)

        wire.orig.port = 40023
        wire.send(.orig, [.syn], seq: 1000, at: 100)
        wire.send(.resp, [.syn, .ack], seq: 5000, ack: 1001, at: 101)
        wire.send(.orig, .ack, seq: 1001, ack: 5001, at: 102)
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 110)
        wire.send(.orig, [.fin, .ack], seq: 1001, ack: 5001, at: 410)
        wire.send(.resp, .ack, seq: 5001, ack: 1002, at: 411)
        wire.send(.resp, [.fin, .ack], seq: 5001, ack: 1002, at: 412)
        wire.send(.orig, .ack, seq: 1002, ack: 5002, at: 413)

        let closes = wire.closes
        try #require(closes.count == 2)
        #expect(closes[0].origFINIntervals == [ms(20), ms(40)])
        #expect(closes[1].origFINIntervals == [ms(300)])
        #expect(closes[1].respFINIntervals.isEmpty)
        #expect(closes[1].sequence.count == 5 && !closes[1].sequenceTruncated)
        let retransmits = wire.anomalies.filter { $0.anomaly == .finRetransmit }
        #expect(retransmits.map(\.intervals) == [[ms(20)], [ms(20), ms(40)], [ms(300)]])
    }
}
