import Dispatch
import FinwatchCapture
import FinwatchCore
import Synchronization

/// Stage two of the pipeline: the connection table on its own serial queue. Batches of decoded
/// segments come in from the capture thread in capture order; the events they cause go on to
/// the output (`EventStream`) in the same order, one submission per batch.
///
/// At most `maximumBatchesInFlight` batches wait; past that the capture thread waits too (live,
/// libpcap's ring then absorbs the burst, as it did when one thread did everything). Anything
/// else that touches the table (`sync`, `async`) is queued behind the batches before it, so a
/// `stats` event or a snapshot sees every packet captured before it was asked for.
final class TrackerStage: Sendable {
    static let maximumBatchesInFlight = 4

    private let queue = DispatchQueue(label: "finwatch.tracker")
    private let slots = DispatchSemaphore(value: TrackerStage.maximumBatchesInFlight)
    /// Batches submitted and not yet applied, oldest first (at most `maximumBatchesInFlight`).
    private let inbox = Mutex<[SegmentBatch]>([])
    /// Touched on `queue` only; the Mutex is what lets the compiler check that (never contended).
    private let state: Mutex<TrackerState>
    private let output: EventStream
    private let metrics: FinwatchMetrics?
    /// Which of `--workers` shards this is: uids are renumbered so they stay unique in the run.
    let shard: Shard
    /// Where applied batches go back to the capture thread.
    private let pool: BatchPool?

    init(configuration: TrackerConfiguration, clock: Pipeline.Clock, output: EventStream,
         metrics: FinwatchMetrics?, shard: Shard = .only, pool: BatchPool? = nil) {
        // Live, the index's hash is keyed per run so nobody can aim a flood of 4-tuples at one
        // probe chain; offline a fixed key keeps output (uid order at end of input) reproducible.
        let table = clock == .host
            ? ConnectionTable(configuration: configuration, hashSeed: .random(in: .min ... .max))
            : ConnectionTable(configuration: configuration)
        state = Mutex(TrackerState(table: table, clock: clock))
        self.output = output
        self.metrics = metrics
        self.shard = shard
        self.pool = pool
    }

    /// Queues a batch of frames for the table.
    func submit(_ batch: consuming SegmentBatch) {
        guard !batch.isEmpty else {
            pool?.give(batch)
            return
        }
        slots.wait()
        // Moved through the inbox rather than captured by the closure: taken out of it, the batch
        // is uniquely referenced again, so emptying it for reuse keeps its storage.
        var handed: SegmentBatch? = consume batch
        inbox.withLock { $0.append(handed.take()!) }
        queue.async { [self] in
            let batch = inbox.withLock { $0.removeFirst() }
            run { $0.apply(batch) }
            pool?.give(consume batch)
            slots.signal()
        }
    }

    /// Runs `body` on the table after everything queued before it; returns at once.
    func async(_ body: @escaping @Sendable (inout TrackerState) -> Void) {
        queue.async { [self] in run(body) }
    }

    /// Runs `body` on the table after everything queued before it, and waits for its result.
    func sync<Result: Sendable>(_ body: (inout TrackerState) -> Result) -> Result {
        queue.sync { run(body) }
    }

    /// End of input or shutdown: every tracked connection's record, handed on in chunks as they
    /// are made, so hundreds of thousands never sit in memory at once. Waits until done.
    func finish(at time: Timestamp, reason: EndedBy) {
        queue.sync {
            state.withLock { state in
                if let start = state.pendingStart {
                    state.pendingStart = nil
                    state.events.append(.start(start.at(time)))
                }
                // Chunks of 256: with the output's 4 batches in flight, at most about 400 kB of
                // records wait at once however many connections end here.
                state.table.finish(at: time, reason: reason, into: &state.events, batch: 256) { chunk in hand(&chunk) }
                hand(&state.events)
            }
        }
    }

    /// One step on the queue, then the events it caused to the output.
    private func run<Result>(_ body: (inout TrackerState) -> Result) -> Result {
        state.withLock { state in
            let result = body(&state)
            hand(&state.events)
            return result
        }
    }

    /// The shard's uids made the run's, metrics count the events, then the output has them
    /// (where firing alerts get their process, off this queue).
    private func hand(_ events: inout [Event]) {
        guard !events.isEmpty else { return }
        if shard.count > 1 { for index in events.indices { events[index].renumber(shard) } }
        for index in events.indices { metrics?.record(events[index]) }
        output.submit(events)
        events.removeAll(keepingCapacity: true)
    }
}

/// One of `--workers` trackers. Each numbers its connections 1, 2, 3 …; shard `index` of `count`
/// turns its n into (n - 1) × count + index + 1, so uids are unique in the run and one worker's
/// run numbers them exactly as before.
struct Shard: Sendable, Equatable {
    var index: Int
    var count: Int
    static let only = Shard(index: 0, count: 1)

    func uidNumber(_ local: UInt64) -> UInt64 {
        count == 1 ? local : (local &- 1) &* UInt64(count) &+ UInt64(index) &+ 1
    }
}

extension Event {
    /// The connection events' uids, from their shard's numbering to the run's.
    mutating func renumber(_ shard: Shard) {
        switch self {
        case .close(var record):
            record.identity.uidNumber = shard.uidNumber(record.identity.uidNumber)
            self = .close(record)
        case .alert(var alert):
            alert.identity.uidNumber = shard.uidNumber(alert.identity.uidNumber)
            self = .alert(alert)
        case .anomaly(var anomaly):
            anomaly.identity.uidNumber = shard.uidNumber(anomaly.identity.uidNumber)
            self = .anomaly(anomaly)
        case .start, .stats, .stop:
            break
        }
    }
}

/// What the tracker queue owns: the table, the events not yet handed on, and the start event
/// waiting for the first frame's time.
struct TrackerState: ~Copyable {
    var table: ConnectionTable
    var events: [Event] = []
    let clock: Pipeline.Clock
    /// Written just before the first frame (offline its time is that frame's: reproducible).
    var pendingStart: RunStart?

    init(table: consuming ConnectionTable, clock: Pipeline.Clock) {
        self.table = table
        self.clock = clock
        events.reserveCapacity(256)
    }

    /// Every frame of the batch in capture order; the packet clock moves on each, TCP or not.
    /// The start event, when it still waits, takes the batch's first frame's time.
    mutating func apply(_ batch: borrowing SegmentBatch) {
        if let start = pendingStart, let first = batch.firstFrameTime {
            pendingStart = nil
            events.append(.start(start.at(first)))
        }
        table.observe(batch, packetClock: clock == .packet, into: &events)
    }

    mutating func advance(to time: Timestamp) { table.advance(to: time, into: &events) }

}

extension RunStart {
    /// The same start, stamped with `time` (the first frame's, or the end of an empty input's).
    func at(_ time: Timestamp) -> RunStart {
        var start = self
        start.time = time
        return start
    }
}
