import FinwatchCapture
import FinwatchCore
import Logging

/// The hot path, in three stages that each own their state and hand batches on, never packets:
///
///     capture thread:  libpcap → FrameDecoder → SegmentBatch         (this class)
///     tracker queue:   SegmentBatch → ConnectionTable.observe → events  (TrackerStage)
///     output queue:    events → JSON lines → write(2)                  (EventStream)
///
/// One thread doing all three ran at an eighth of libpcap's own rate; split, each stage runs
/// while the others do (two cores), and a slow disk or a burst of close records no longer holds
/// up libpcap's ring. Every batch goes through the stages in order, so the output is byte for
/// byte what one thread would write. Nothing allocates per packet: a batch is one array of
/// decoded segments, counters are plain integers, metrics move once per batch.
///
/// Used from one thread (the capture thread, or the offline run); the methods that need the
/// table (`finish`, `runStats`, `halfClosedSnapshot` …) run on the tracker's queue and wait for it.
final class Pipeline {
    /// Offline the packets' own times drive the tracker (`advance` before every packet); live
    /// the host clock does, on every wake of the capture loop.
    enum Clock: Sendable { case packet, host }

    /// Everything a frame touches on this thread, handed to `PcapHandle.read` by reference.
    private var decoder: FrameDecoder
    private let tracker: TrackerStage
    let output: EventStream
    let metrics: FinwatchMetrics?
    /// Live: the run's step-free clock, fed each batch's latest stamp.
    private let liveClock: LiveClock?
    /// MonotonicClock when a drain last found the ring empty (`ClockStepGuard.batch`).
    private var drainedAt: Int64?
    private let logger: Logger

    /// The counts already reported to metrics (they move by the difference, once per batch).
    private var reported = (seen: UInt64(0), decoded: UInt64(0), malformed: UInt64(0))

    var seen: UInt64 { decoder.seen }
    /// The latest packet time seen: offline the end of input is this, not the host's now.
    var lastPacketTime: Timestamp? { decoder.lastPacketTime }

    init(configuration: TrackerConfiguration, linkType: LinkType?, linkTypeName: String, clock: Clock,
         output: EventStream, metrics: FinwatchMetrics?, logger: Logger, shard: Shard = .only,
         liveClock: LiveClock? = nil, decapsulate: Bool = true) {
        let pool = BatchPool()
        decoder = FrameDecoder(linkType: linkType, pool: pool, decapsulate: decapsulate)
        tracker = TrackerStage(configuration: configuration, clock: clock, output: output, metrics: metrics,
                               shard: shard, pool: pool)
        self.output = output
        self.metrics = metrics
        self.liveClock = liveClock
        self.logger = logger
        if linkType == nil {
            // Said once, not per frame: every frame of this capture will be skipped.
            logger.warning("link type not decoded: its frames are counted as skipped",
                           metadata: ["capture.link_type": "\(linkTypeName)"])
        }
    }

    // MARK: - Frames

    /// Reads and decodes up to `limit` frames, then hands them to the tracker as one batch.
    func drain(_ handle: PcapHandle, limit: Int) throws(CaptureError) -> Int {
        let count: Int
        do {
            // `decoder` is borrowed once for the whole batch, not once per frame.
            count = try handle.read(limit: limit, into: &decoder)
        } catch {
            tracker.submit(decoder.takeBatch())   // the frames before the error count all the same
            throw error
        }
        var batch = decoder.takeBatch()
        if let liveClock { correctTimes(&batch, caughtUp: count < limit, clock: liveClock) }
        tracker.submit(batch)
        endBatch()
        return count
    }

    /// Live: puts the batch's kernel stamps in the run's step-free frame (a no-op until the host
    /// clock steps), and notes when the ring was found empty.
    private func correctTimes(_ batch: inout SegmentBatch, caughtUp: Bool, clock: LiveClock) {
        if let latest = batch.lastFrameTime {
            let (correction, step) = clock.correction(latest: latest, drainedAt: drainedAt)
            if let step {
                logger.warning("the host clock stepped: durations, alerts and TIME_WAIT keep counting elapsed time; ts follows the wall clock", metadata: [
                    "clock.step_seconds": "\(Double(step / 1_000_000) / 1_000)",
                ])
            }
            if correction != 0 { batch.shiftTimes(by: correction) }
        }
        if caughtUp { drainedAt = MonotonicClock.nanoseconds() }
    }

    /// After each batch: packet counters move in metrics once.
    private func endBatch() {
        guard let metrics, decoder.seen != reported.seen else { return }
        metrics.packets(seen: decoder.seen - reported.seen, decoded: decoder.decoded - reported.decoded,
                        malformed: decoder.malformed - reported.malformed)
        reported = (decoder.seen, decoder.decoded, decoder.malformed)
    }

    // MARK: - Clock and lifecycle (from the capture thread, or after it ended)

    /// The start event: written at once, or stamped with the first frame's time (offline, so the
    /// same file always gives the same line) or the end of an empty input's.
    func announce(_ start: RunStart, immediately: Bool) {
        if immediately { emit(.start(start)) } else { tracker.async { $0.pendingStart = start } }
    }

    /// Live: moves the tracker to the host's `time` (alerts, TIME_WAIT ends, idle timeouts).
    func advance(to time: Timestamp) {
        tracker.async { $0.advance(to: time) }
    }

    /// End of input or shutdown: every tracked connection gets its close record.
    func finish(at time: Timestamp, reason: EndedBy) {
        tracker.finish(at: time, reason: reason)
    }

    /// The local port range changed (read live by the housekeeping).
    func setEphemeralPortRange(_ range: EphemeralPortRange?) {
        tracker.async { $0.table.setEphemeralPortRange(range) }
    }

    /// libpcap dropped packets: connections tracked now may be missing segments.
    func noteCaptureDrops() { tracker.async { $0.table.noteCaptureDrops() } }

    /// Live: what the table holds now (its half-closed rows too when `halfClosed`), handed to
    /// `deliver` on the tracker's queue after the batches queued before it. Returns at once:
    /// the capture never waits for the table.
    func report(halfClosed: Bool, _ deliver: @escaping @Sendable (TableReport) -> Void) {
        let shard = tracker.shard
        tracker.async { deliver(TableReport($0.table, shard: shard, halfClosed: halfClosed)) }
    }

    /// The same, waited for (shutdown: the `stop` event's counts must be exact).
    func reportNow() -> TableReport {
        let shard = tracker.shard
        return tracker.sync { TableReport($0.table, shard: shard) }
    }

    /// The decoder's counts so far (this thread's own).
    var counters: PacketCounters {
        PacketCounters(seen: decoder.seen, decoded: decoder.decoded, malformed: decoder.malformed, skipped: decoder.skipped)
    }

    /// The counters a `stats` or `stop` event carries. Waits for the tracker and the output to
    /// finish what is queued, so `events_written` and the table's counts are exact.
    func runStats(at time: Timestamp, capture: CaptureStatistics?, reason: StopReason? = nil) -> RunStats {
        var stats = RunStats(time: time)
        reportNow().add(to: &stats)
        counters.add(to: &stats)
        output.waitUntilWritten()
        stats.setOutput(output.status)
        stats.setCapture(capture)
        stats.reason = reason
        return stats
    }

    /// Writes one run event (start, stats, stop), after everything the tracker has queued.
    /// Returns once the output has it, so closing the output next cannot lose it.
    func emit(_ event: Event) {
        tracker.sync { $0.events.append(event) }
    }
}

/// One tracker's table as the housekeeping sees it: what `/connections`, the gauges and the
/// `stats` event need, copied out on the tracker's queue.
struct TableReport: Sendable {
    /// nil when not asked for (the housekeeping asks once a second).
    var halfClosed: [ConnectionSnapshot]?
    var endpoints: [EndpointState: Int] = [:]
    /// With --metrics-ports: endpoints by port label and state.
    var endpointsByPort: [String: [EndpointState: Int]]?
    /// The local ports held toward this tracker's busiest destination (port exhaustion watched).
    var ephemeralPortsUsed = 0
    var tracked = 0
    var duplicates: UInt64 = 0
    var evictions: UInt64 = 0

    init() {}

    init(_ table: borrowing ConnectionTable, shard: Shard, halfClosed withRows: Bool = true) {
        if withRows {
            var rows = table.halfClosedSnapshot()
            if shard.count > 1 {
                for index in rows.indices { rows[index].identity.uidNumber = shard.uidNumber(rows[index].identity.uidNumber) }
            }
            halfClosed = rows
        }
        endpoints = table.endpointCounts()
        endpointsByPort = table.endpointCountsByPort()
        ephemeralPortsUsed = table.ephemeralPortUse()?.busiest ?? 0
        tracked = table.count
        duplicates = table.duplicates
        evictions = table.evictions
    }

    /// Every shard's together.
    static func combined(_ reports: [TableReport]) -> TableReport {
        var total = TableReport()
        for report in reports {
            if let rows = report.halfClosed { total.halfClosed = (total.halfClosed ?? []) + rows }
            total.endpoints.merge(report.endpoints, uniquingKeysWith: +)
            if let byPort = report.endpointsByPort {
                total.endpointsByPort = (total.endpointsByPort ?? [:]).merging(byPort) { $0.merging($1, uniquingKeysWith: +) }
            }
            // Shards split one destination's connections between them: their busiest add up.
            total.ephemeralPortsUsed += report.ephemeralPortsUsed
            total.tracked += report.tracked
            total.duplicates += report.duplicates
            total.evictions += report.evictions
        }
        return total
    }

    func add(to stats: inout RunStats) {
        stats.packetsDuplicate += duplicates
        stats.connectionsTracked += tracked
        stats.endpointsByState.merge(endpoints, uniquingKeysWith: +)
        stats.evictions += evictions
    }
}

/// One decoder's packet counts.
struct PacketCounters: Sendable, Equatable {
    var seen: UInt64 = 0
    var decoded: UInt64 = 0
    var malformed: UInt64 = 0
    var skipped: UInt64 = 0

    static func + (left: PacketCounters, right: PacketCounters) -> PacketCounters {
        PacketCounters(seen: left.seen + right.seen, decoded: left.decoded + right.decoded,
                       malformed: left.malformed + right.malformed, skipped: left.skipped + right.skipped)
    }

    func add(to stats: inout RunStats) {
        stats.packetsSeen += seen
        stats.packetsDecoded += decoded
        stats.packetsMalformed += malformed
        stats.packetsSkipped += skipped
    }
}

extension RunStats {
    mutating func setOutput(_ status: EventSinkStatus) {
        eventsWritten = status.eventsWritten
        writeErrors = status.writeErrors
        linesDropped = status.linesDropped
    }

    mutating func setCapture(_ capture: CaptureStatistics?) {
        captureReceived = capture?.received
        dropsKernel = capture?.droppedByKernel
        dropsInterface = capture?.droppedByInterface
    }
}
