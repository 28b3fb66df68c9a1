import Dispatch
import FinwatchCapture
import FinwatchCore
import Synchronization

/// One of `--workers`: a libpcap handle (a member of the run's PACKET_FANOUT group when there
/// are several), its decoder and its tracker, on a thread of its own.
///
/// The thread's loop is the hot path and nothing else: poll, read a batch, hand it to the
/// tracker; at most every `tick` it moves the tracker's clock (alerts on a silent link) and
/// reads pcap_stats, and publishes its counts. It never waits on the output, on /proc or on a
/// round trip to the tracker: gauges, `/connections`, stats and flushes are the housekeeping's
/// (`LiveLoop`), which reads what this publishes.
///
/// Thread-safety invariant (why `@unchecked Sendable`): `pipeline` and `handle` are used by the
/// shard's thread only while it runs, and by the housekeeping thread only after `join()`
/// returned; `handle.breakLoop()` is the one call from elsewhere (libpcap allows it). What other
/// threads read goes through `published`.
final class CaptureShard: @unchecked Sendable {
    /// How often the loop moves the tracker's clock and reads libpcap's counters.
    static let tickNanoseconds: Int64 = 100_000_000
    /// The longest poll: the loop turns (and the clock moves) even when nothing arrives.
    static let pollMilliseconds: Int32 = 100
    static let batchSize = 4096

    /// What the shard's thread publishes each tick.
    struct Published: Sendable {
        var counters = PacketCounters()
        var capture: CaptureStatistics?
        /// MonotonicClock of the loop's latest turn: the watchdog pings only while every shard turns.
        var heartbeat: Int64 = 0
        var failure: FinwatchError?
        var running = true
    }

    let handle: PcapHandle
    let shard: Shard
    private let pipeline: Pipeline
    private let clock: LiveClock
    private let published: Mutex<Published>
    private let done = DispatchSemaphore(value: 0)

    init(handle: PcapHandle, shard: Shard, pipeline: Pipeline, clock: LiveClock) {
        self.handle = handle
        self.clock = clock
        self.shard = shard
        self.pipeline = pipeline
        published = Mutex(Published(heartbeat: MonotonicClock.nanoseconds()))
    }

    var current: Published { published.withLock { $0 } }

    /// Starts the shard's thread; `onEnd` runs on it when the loop ends (a failure stops the rest).
    func start(onEnd: @escaping @Sendable () -> Void) {
        let refused = NamedThread.start(name: "finwatch-cap-\(shard.index)") { [self] in
            loop()
            published.withLock { $0.running = false }
            onEnd()
            done.signal()
        }
        if refused != nil {   // no thread: the shard ends at once, and its end stops the run
            published.withLock { $0.running = false }
            onEnd()
            done.signal()
        }
    }

    /// Waits until the shard's thread has ended.
    func join() { done.wait() }

    /// The table's counts now (and its half-closed rows when `halfClosed`), on the tracker's
    /// queue (returns at once).
    func report(halfClosed: Bool, _ deliver: @escaping @Sendable (TableReport) -> Void) {
        pipeline.report(halfClosed: halfClosed, deliver)
    }

    /// The local port range changed: the tracker warns against the new one from now on.
    func setEphemeralPortRange(_ range: EphemeralPortRange?) { pipeline.setEphemeralPortRange(range) }

    private func loop() {
        var nextTick: Int64 = 0
        var lastDrops = CaptureStatistics()
        while !handle.isBreakRequested {
            do {
                _ = try handle.waitForFrames(timeoutMilliseconds: Self.pollMilliseconds)
                _ = try pipeline.drain(handle, limit: Self.batchSize)
            } catch {
                published.withLock { $0.failure = .capture(error) }
                return
            }
            let monotonic = MonotonicClock.nanoseconds()
            guard monotonic >= nextTick else { continue }
            nextTick = monotonic + Self.tickNanoseconds
            pipeline.advance(to: clock.now())
            let capture = handle.statistics()
            if let capture, capture.droppedByKernel > lastDrops.droppedByKernel
                || capture.droppedByInterface > lastDrops.droppedByInterface {
                pipeline.noteCaptureDrops()
                lastDrops = capture
            }
            let counters = pipeline.counters
            published.withLock {
                $0.counters = counters
                $0.capture = capture
                $0.heartbeat = monotonic
            }
        }
    }

    // MARK: - After join()

    /// Shutdown: every connection's record, then the exact counts for `stop`.
    func finish(at time: Timestamp) -> (TableReport, PacketCounters, CaptureStatistics?) {
        pipeline.finish(at: time, reason: .shutdown)
        return (pipeline.reportNow(), pipeline.counters, handle.statistics())
    }
}
