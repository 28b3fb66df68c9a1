@testable import FinwatchCore
import Testing

/// The live clock's step rule, on a simulated host: the wall clock reads `monotonic + wallOffset`,
/// packets are stamped by it and delivered `lag` later.
@Suite("ClockStepGuard") struct ClockStepGuardTests {
    static let second: Int64 = 1_000_000_000
    /// 2026-12-03T00:00:00Z minus a boot's monotonic 1,000 s.
    static let wallOffset: Int64 = 1_796_256_000 * second - 1_000 * second

    struct Host {
        var wallOffset = ClockStepGuardTests.wallOffset
        var guardian: ClockStepGuard
        var drainedAt: Int64?

        init(at monotonic: Int64) {
            guardian = ClockStepGuard(wall: Timestamp(nanoseconds: monotonic + wallOffset), monotonic: monotonic)
        }

        /// A packet stamped at `monotonic` and delivered `lag` later; its step-free time.
        mutating func packet(at monotonic: Int64, lag: Int64 = 1_000_000, drained: Bool = true) -> Int64 {
            let stamp = monotonic + wallOffset
            let correction = guardian.batch(latest: Timestamp(nanoseconds: stamp), monotonic: monotonic + lag,
                                            drainedAt: drainedAt)
            if drained { drainedAt = monotonic + lag }
            return stamp + correction
        }

        /// The capture loop turns on a silent link until `monotonic`, finding the ring empty.
        mutating func silence(until monotonic: Int64) { drainedAt = monotonic }
    }

    @Test func steadyClockCorrectsNothingAndTracksElapsedTime() {
        var host = Host(at: 1_000 * Self.second)
        for step in 1...100 {
            let monotonic = 1_000 * Self.second + Int64(step) * Self.second / 10
            #expect(host.packet(at: monotonic) == monotonic + Self.wallOffset)
        }
        #expect(host.guardian.steps == 0)
        #expect(host.guardian.wallShift == 0)
    }

    @Test func wallClockSteppedForwardAnHourKeepsElapsedTimeAndShiftsTheWallBack() {
        var host = Host(at: 1_000 * Self.second)
        let before = host.packet(at: 1_001 * Self.second)
        host.wallOffset += 3_600 * Self.second
        let after = host.packet(at: 1_003 * Self.second)
        #expect(host.guardian.steps == 1)
        // Two seconds passed, as the monotonic clock says, give or take the delivery lag.
        #expect(abs(after - before - 2 * Self.second) <= 2_000_000)
        // Written out, the time is the wall clock's new reading.
        #expect(abs(after + host.guardian.wallShift - (1_003 * Self.second + host.wallOffset)) <= 2_000_000)
        // The next packets need no new step.
        let later = host.packet(at: 1_004 * Self.second)
        #expect(host.guardian.steps == 1)
        #expect(abs(later - after - Self.second) <= 2_000_000)
    }

    @Test func wallClockSteppedBackAnHourIsCaughtByTheDrainedRing() {
        var host = Host(at: 1_000 * Self.second)
        let before = host.packet(at: 1_001 * Self.second)
        host.wallOffset -= 3_600 * Self.second
        let after = host.packet(at: 1_003 * Self.second)
        #expect(host.guardian.steps == 1)
        #expect(host.guardian.lastStep < -3_599 * Self.second)
        #expect(abs(after - before - 2 * Self.second) <= 2_000_000)
    }

    @Test func backwardStepSmallerThanTheSilenceBeforeItIsStillSeen() {
        // A link silent for 90 s, then the clock steps back 30 s: the stamps still increase.
        var host = Host(at: 1_000 * Self.second)
        let before = host.packet(at: 1_001 * Self.second)
        host.silence(until: 1_090_900_000_000)
        host.wallOffset -= 30 * Self.second
        let after = host.packet(at: 1_091 * Self.second)
        #expect(host.guardian.steps == 1)
        #expect(abs(after - before - 90 * Self.second) <= 2_000_000)
    }

    @Test func backlogDeliveredLateIsNotAStep() {
        // finwatch stopped 20 s (SIGSTOP): the ring was drained before, its frames are old.
        var host = Host(at: 1_000 * Self.second)
        _ = host.packet(at: 1_001 * Self.second)
        for index in 0..<10 {
            let stamped = 1_002 * Self.second + Int64(index) * Self.second
            let time = host.packet(at: stamped, lag: 1_021 * Self.second - stamped, drained: index == 9)
            #expect(time == stamped + Self.wallOffset)
        }
        #expect(host.guardian.steps == 0)
    }

    @Test func stepUnderTheToleranceIsLeftToTheTable() {
        var host = Host(at: 1_000 * Self.second)
        _ = host.packet(at: 1_001 * Self.second)
        host.wallOffset -= Self.second
        _ = host.packet(at: 1_002 * Self.second)
        #expect(host.guardian.steps == 0)
    }

    @Test func silentLinkClockIsMonotonicPlusTheLearntOffset() {
        var host = Host(at: 1_000 * Self.second)
        _ = host.packet(at: 1_001 * Self.second)
        host.wallOffset += 7_200 * Self.second
        _ = host.packet(at: 1_002 * Self.second)
        let now = host.guardian.now(monotonic: 1_010 * Self.second).nanoseconds
        #expect(abs(now - (1_010 * Self.second + Self.wallOffset)) <= 2_000_000)
    }
}

@Suite("Event.shiftingTimes") struct EventWallShiftTests {
    @Test func alertShiftedAnHourMovesTsAndSinceButNotItsDuration() {
        let alert = AlertEvent(time: .ms(2_000), identity: EventJSONTests.contractExample().identity,
                               alert: .closeWaitLingering, status: .firing, side: .resp, since: .ms(0),
                               duration: 2_000_000_000, threshold: 1_000_000_000)
        let line = Event.alert(alert).shiftingTimes(by: 3_600_000_000_000).jsonLine
        #expect(line.contains(#""ts":"1970-01-01T01:00:02.000000Z""#))
        #expect(line.contains(#""since":"1970-01-01T01:00:00.000000Z","duration_ms":2000.0"#))
    }

    @Test func noShiftIsTheSameEvent() {
        let event = Event.close(EventJSONTests.contractExample())
        #expect(event.shiftingTimes(by: 0) == event)
    }
}
