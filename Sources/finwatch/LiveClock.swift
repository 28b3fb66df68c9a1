import FinwatchCore
import Synchronization

/// A live run's one clock: the tracker's step-free frame (`ClockStepGuard`), shared by the
/// capture shards (who feed it each batch's latest stamp and move their trackers by it on a
/// silent link), the housekeeping (stats), `/connections` and the output (which writes times
/// back as the wall clock reads). The wall clock is read once, here, at start: after that a
/// step of the host clock moves only `ts`, never a duration, an alert or a TIME_WAIT.
final class LiveClock: Sendable {
    private let state: Mutex<ClockStepGuard>
    /// Read by the output for every event: a relaxed load, not the lock.
    private let shift = Atomic<Int64>(0)

    init() {
        state = Mutex(ClockStepGuard(wall: HostClock.now(), monotonic: MonotonicClock.nanoseconds()))
    }

    /// The step-free time now.
    func now() -> Timestamp {
        let monotonic = MonotonicClock.nanoseconds()
        return state.withLock { $0.now(monotonic: monotonic) }
    }

    /// A batch's latest raw stamp, delivered now; returns the correction for its stamps.
    /// A step is logged once, by the shard that saw it.
    func correction(latest: Timestamp, drainedAt: Int64?) -> (correction: Int64, step: Int64?) {
        let monotonic = MonotonicClock.nanoseconds()
        return state.withLock { clock in
            let steps = clock.steps
            let correction = clock.batch(latest: latest, monotonic: monotonic, drainedAt: drainedAt)
            guard clock.steps != steps else { return (correction, nil) }
            shift.store(clock.wallShift, ordering: .relaxed)
            return (correction, clock.lastStep)
        }
    }

    /// What the output adds to a step-free time to write it as wall time.
    var wallShift: Int64 { shift.load(ordering: .relaxed) }
}
