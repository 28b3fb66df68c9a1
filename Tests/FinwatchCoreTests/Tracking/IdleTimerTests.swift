import Testing
@testable import FinwatchCore

/// Idle timeouts are days long and their entries are not removed when a connection ends; the
/// table sweeps the stale ones so that a daemon running for months holds entries for the
/// connections it tracks, not for every connection that ended in the last five days.
@Suite("Idle timers")
struct IdleTimerTests {
    @Test func compact_keepsTheCurrentEntriesInOrder() {
        var queue = TimerQueue()
        for deadline in Int64(0)..<10_000 {
            queue.push(TimerQueue.Entry(deadline: deadline, slot: UInt32(deadline), generation: 1, side: .orig))
        }
        _ = queue.popFirst()
        queue.compact { $0.deadline % 3 == 0 }
        #expect(queue.count == 3_333)
        var deadlines: [Int64] = []
        while let entry = queue.popFirst() { deadlines.append(entry.deadline) }
        #expect(deadlines == Array(stride(from: 3, to: 10_000, by: 3)))
        #expect(queue.count == 0)
    }

    @Test func endedConnections_leaveNoIdleEntriesBehind_andTheLiveOneStillTimesOut() {
        let second: Int64 = 1_000_000_000
        var table = ConnectionTable(configuration: TrackerConfiguration())
        var events: [Event] = []
        var clock: Int64 = 0
        func feed(_ segment: TCPSegment) {
            table.advance(to: segment.timestamp, into: &events)
            table.observe(segment, into: &events)
        }
        // One connection picked up mid-stream and then silent: its idle entry is days long.
        let silent = 1_000_000
        feed(IndexScenario.segment(silent, fromClient: true, .ack, seq: 1, ack: 1, payload: 10, at: clock))
        // 50,000 more picked up mid-stream (the open phase's 5-day idle timer each), each reset
        // at once; their 10-second residues end as the clock moves on.
        let connections = 50_000
        for i in 0..<connections {
            clock += second / 1000
            feed(IndexScenario.segment(i, fromClient: true, .ack, seq: 1, ack: 1, payload: 10, at: clock))
            feed(IndexScenario.segment(i, fromClient: false, [.rst, .ack], seq: 1, ack: 11, at: clock))
        }
        clock += 20 * second
        table.advance(to: Timestamp(nanoseconds: IndexScenario.start + clock), into: &events)
        #expect(table.count == 1)
        #expect(table.idleTimerEntries <= 2 + ConnectionTable.timerCompactionSlack,
                "\(table.idleTimerEntries) idle entries for 1 connection")
        let resets = IndexScenario.closes(events).filter { $0.close == .reset }
        #expect(resets.count == connections)

        // Five days on, the silent one still ends by its idle timeout: the sweeps kept its entry.
        events.removeAll()
        clock += 5 * 24 * 3600 * second + second
        table.advance(to: Timestamp(nanoseconds: IndexScenario.start + clock), into: &events)
        let idle = IndexScenario.closes(events)
        #expect(idle.count == 1)
        #expect(idle.first?.endedBy == .idleTimeout)
        #expect(idle.first?.identity.orig.port == IndexScenario.client(silent).port)
        #expect(table.count == 0)
    }

    /// A threshold of hours: every passive close passes through CLOSE_WAIT and leaves an entry
    /// for the threshold's length; swept, they do not pile up, and a side still stuck still fires.
    @Test func closedSides_leaveNoAlertEntriesBehind_andAStuckOneStillFires() {
        let second: Int64 = 1_000_000_000
        var configuration = TrackerConfiguration()
        configuration.closeWaitThreshold = 6 * 3600 * second
        var table = ConnectionTable(configuration: configuration)
        var events: [Event] = []
        var clock: Int64 = 0
        func feed(_ i: Int, client: Bool, _ flags: TCPFlags, seq: UInt32, ack: UInt32, payload: UInt32 = 0) {
            clock += second / 10_000
            let segment = IndexScenario.segment(i, fromClient: client, flags, seq: seq, ack: ack, payload: payload, at: clock)
            table.advance(to: segment.timestamp, into: &events)
            table.observe(segment, into: &events)
        }
        // The stuck one: the client closes, the server acknowledges and never closes.
        let stuck = 1_000_000
        feed(stuck, client: true, .ack, seq: 1, ack: 1, payload: 10)
        feed(stuck, client: true, [.fin, .ack], seq: 11, ack: 1)
        feed(stuck, client: false, .ack, seq: 1, ack: 12)
        // Ten rounds of 10,000 that close in full (the server sits in CLOSE_WAIT a moment, then
        // closes too), each round's TIME_WAIT residues ending before the next.
        let rounds = 10, perRound = 10_000
        var peak = 0
        for round in 0..<rounds {
            for n in 0..<perRound {
                let i = round * perRound + n
                feed(i, client: true, .ack, seq: 1, ack: 1, payload: 10)
                feed(i, client: true, [.fin, .ack], seq: 11, ack: 1)
                feed(i, client: false, .ack, seq: 1, ack: 12)
                feed(i, client: false, [.fin, .ack], seq: 1, ack: 12)
                feed(i, client: true, .ack, seq: 12, ack: 2)
                peak = max(peak, table.alertTimerEntries)
            }
            clock += 61 * second
            table.advance(to: Timestamp(nanoseconds: IndexScenario.start + clock), into: &events)
        }
        #expect(IndexScenario.closes(events).filter { $0.close == .normal }.count == rounds * perRound)
        // Without sweeps the CLOSE_WAIT queue alone would hold all 100,000 until the threshold.
        #expect(peak <= 3 * (2 * (perRound + 1) + ConnectionTable.timerCompactionSlack),
                "\(peak) alert entries at most, for at most \(perRound + 1) connections")

        clock += 6 * 3600 * second
        table.advance(to: Timestamp(nanoseconds: IndexScenario.start + clock), into: &events)
        let closeWait = events.compactMap { if case .alert(let alert) = $0, alert.alert == .closeWaitLingering { alert } else { nil } }
        #expect(closeWait.count == 1)
        #expect(closeWait.first?.status == .firing && closeWait.first?.side == .resp)
        #expect(closeWait.first?.identity.orig.port == IndexScenario.client(stuck).port)
    }
}
