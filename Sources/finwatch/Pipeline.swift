import FinwatchCapture
import FinwatchCore
import Logging

/// The hot path, owned by one thread: frame → `Frame.decodeTCP` → `ConnectionTable.observe` →
/// events → JSON lines and metrics. Nothing here allocates per packet: the event buffer is
/// reused, counters are plain integers, metrics move once per batch.
final class Pipeline {
    /// Offline the packets' own times drive the tracker (`advance` before every packet); live
    /// the host clock does, on every wake of the capture loop.
    enum Clock { case packet, host }

    private var table: ConnectionTable
    private var events: [Event] = []
    let writer: JSONLinesWriter
    let metrics: FinwatchMetrics?
    let linkType: LinkType?
    let clock: Clock
    private let logger: Logger
    private var warnedUnsupportedLink = false
    /// Live only: names the process behind the stuck side of each firing alert. Offline the
    /// sockets in the file are not this host's now, so there is none.
    let processLookup: ProcessLookup?

    private(set) var seen: UInt64 = 0
    private(set) var decoded: UInt64 = 0
    private(set) var malformed: UInt64 = 0
    private(set) var skipped: UInt64 = 0
    /// The counts already reported to metrics (they move by the difference, once per batch).
    private var reported = (seen: UInt64(0), decoded: UInt64(0), malformed: UInt64(0))
    /// The latest packet time seen: offline the end of input is this, not the host's now.
    private(set) var lastPacketTime: Timestamp?
    /// Written just before the first frame (offline its time is that frame's: reproducible).
    private var pendingStart: RunStart?

    init(configuration: TrackerConfiguration, linkType: LinkType?, linkTypeName: String, clock: Clock,
         writer: JSONLinesWriter, metrics: FinwatchMetrics?, logger: Logger, processLookup: ProcessLookup? = nil) {
        // Live, the index's hash is keyed per run so nobody can aim a flood of 4-tuples at one
        // probe chain; offline a fixed key keeps output (uid order at end of input) reproducible.
        table = clock == .host
            ? ConnectionTable(configuration: configuration, hashSeed: .random(in: .min ... .max))
            : ConnectionTable(configuration: configuration)
        self.processLookup = processLookup
        self.linkType = linkType
        self.clock = clock
        self.writer = writer
        self.metrics = metrics
        self.logger = logger
        events.reserveCapacity(64)
        if linkType == nil {
            // Said once, not per frame: every frame of this capture will be skipped.
            logger.warning("link type not decoded: its frames are counted as skipped",
                           metadata: ["capture.link_type": "\(linkTypeName)"])
            warnedUnsupportedLink = true
        }
    }

    // MARK: - Per frame

    /// One captured frame. Offline, the clock moves to its time first.
    func process(_ bytes: RawSpan, _ info: FrameInfo) {
        seen &+= 1
        if let start = pendingStart {
            pendingStart = nil
            emit(.start(withTime(start, info.timestamp)))
        }
        if clock == .packet {
            table.advance(to: info.timestamp, into: &events)
        }
        if lastPacketTime.map({ info.timestamp > $0 }) ?? true { lastPacketTime = info.timestamp }
        guard let linkType else {
            skipped &+= 1
            writeEvents()
            return
        }
        do {
            if let segment = try Frame.decodeTCP(bytes, linkType: linkType, timestamp: info.timestamp,
                                                 interfaceIndex: info.interfaceIndex) {
                decoded &+= 1
                table.observe(segment, into: &events)
            } else {
                skipped &+= 1
            }
        } catch {
            malformed &+= 1
        }
        writeEvents()
    }

    /// After each pcap_dispatch: packet counters move in metrics once per batch.
    func endBatch() {
        guard let metrics, seen != reported.seen else { return }
        metrics.packets(seen: seen - reported.seen, decoded: decoded - reported.decoded,
                        malformed: malformed - reported.malformed)
        reported = (seen, decoded, malformed)
    }

    // MARK: - Clock and lifecycle

    /// The start event: written before the first frame, or by `finish` when there is none.
    func announce(_ start: RunStart, immediately: Bool) {
        if immediately { emit(.start(start)) } else { pendingStart = start }
    }

    /// Live: moves the tracker to the host's `time` (alerts, TIME_WAIT ends, idle timeouts).
    func advance(to time: Timestamp) {
        table.advance(to: time, into: &events)
        writeEvents()
    }

    /// End of input or shutdown: every tracked connection gets its close record.
    func finish(at time: Timestamp, reason: String) {
        if let start = pendingStart {
            pendingStart = nil
            emit(.start(withTime(start, time)))
        }
        table.finish(at: time, reason: reason, into: &events) { batch in
            for event in batch { emit(event) }
            batch.removeAll(keepingCapacity: true)
        }
        writeEvents()
    }

    /// libpcap dropped packets: connections tracked now may be missing segments.
    func noteCaptureDrops() { table.noteCaptureDrops() }

    func halfClosedSnapshot() -> [ConnectionSnapshot] { table.halfClosedSnapshot() }

    /// Live: endpoint gauges and evictions, once per tick.
    func publishGauges() {
        guard let metrics else { return }
        metrics.endpoints(table.endpointCounts())
        metrics.evictions(total: table.evictions)
    }

    /// The counters a `stats` or `stop` event carries.
    func runStats(at time: Timestamp, capture: CaptureStatistics?, reason: String? = nil) -> RunStats {
        var stats = RunStats(time: time)
        stats.packetsSeen = seen
        stats.packetsDecoded = decoded
        stats.packetsMalformed = malformed
        stats.packetsSkipped = skipped
        stats.packetsDuplicate = table.duplicates
        stats.connectionsTracked = table.count
        stats.endpointsByState = table.endpointCounts()
        stats.eventsWritten = writer.eventsWritten
        stats.writeErrors = writer.writeErrors
        stats.linesDropped = writer.linesDropped
        stats.captureReceived = capture?.received
        stats.dropsKernel = capture?.droppedByKernel
        stats.dropsInterface = capture?.droppedByInterface
        stats.evictions = table.evictions
        stats.reason = reason
        return stats
    }

    /// Writes one run event (start, stats, stop) or anything else from outside the tracker.
    func emit(_ event: Event) {
        metrics?.record(event)
        writer.write(event)
    }

    // MARK: - Helpers

    private func writeEvents() {
        guard !events.isEmpty else { return }
        for event in events {
            if let processLookup, case .alert(var alert) = event, alert.status == .firing {
                // Rare (one per stuck side) and bounded by ProcessLookup's own time budget, so
                // the lookup may run on the capture thread, just before the line is written.
                alert.process = processLookup.process(for: alert)
                emit(.alert(alert))
            } else {
                emit(event)
            }
        }
        events.removeAll(keepingCapacity: true)
    }

    private func withTime(_ start: RunStart, _ time: Timestamp) -> RunStart {
        var start = start
        start.time = time
        return start
    }
}
