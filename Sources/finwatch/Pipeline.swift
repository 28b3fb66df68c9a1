import FinwatchCapture
import FinwatchCore
import Logging

/// The hot path, owned by one thread: frame → `Frame.decodeTCP` → `ConnectionTable.observe` →
/// events, collected per pcap_dispatch batch and handed to the output's own thread (`EventStream`)
/// and to metrics. Nothing here allocates per packet: the event buffer is reused, counters are
/// plain integers, metrics move once per batch.
final class Pipeline {
    /// Offline the packets' own times drive the tracker (`advance` before every packet); live
    /// the host clock does, on every wake of the capture loop.
    enum Clock { case packet, host }

    /// Everything a frame touches, in one struct handed to pcap_dispatch by reference: no class
    /// property access (and its dynamic exclusivity check) per packet.
    private var path: PacketPath
    let output: EventStream
    let metrics: FinwatchMetrics?
    let clock: Clock
    private let logger: Logger
    /// Live only: names the process behind the stuck side of each firing alert. Offline the
    /// sockets in the file are not this host's now, so there is none.
    let processLookup: ProcessLookup?

    /// The counts already reported to metrics (they move by the difference, once per batch).
    private var reported = (seen: UInt64(0), decoded: UInt64(0), malformed: UInt64(0))

    var seen: UInt64 { path.seen }
    /// The latest packet time seen: offline the end of input is this, not the host's now.
    var lastPacketTime: Timestamp? { path.lastPacketTime }

    init(configuration: TrackerConfiguration, linkType: LinkType?, linkTypeName: String, clock: Clock,
         output: EventStream, metrics: FinwatchMetrics?, logger: Logger, processLookup: ProcessLookup? = nil) {
        // Live, the index's hash is keyed per run so nobody can aim a flood of 4-tuples at one
        // probe chain; offline a fixed key keeps output (uid order at end of input) reproducible.
        let table = clock == .host
            ? ConnectionTable(configuration: configuration, hashSeed: .random(in: .min ... .max))
            : ConnectionTable(configuration: configuration)
        path = PacketPath(table: table, linkType: linkType, clock: clock)
        self.processLookup = processLookup
        self.clock = clock
        self.output = output
        self.metrics = metrics
        self.logger = logger
        if linkType == nil {
            // Said once, not per frame: every frame of this capture will be skipped.
            logger.warning("link type not decoded: its frames are counted as skipped",
                           metadata: ["capture.link_type": "\(linkTypeName)"])
        }
    }

    // MARK: - Frames

    /// Up to `limit` frames; their events go to the output afterwards, in one batch.
    func drain(_ handle: PcapHandle, limit: Int) throws(CaptureError) -> Int {
        let count: Int
        do {
            // `path` is borrowed once for the whole batch, not once per frame.
            count = try handle.read(limit: limit, into: &path)
        } catch {
            writeEvents()   // what the frames before the error caused is written all the same
            throw error
        }
        writeEvents()
        endBatch()
        return count
    }

    /// After each pcap_dispatch: packet counters move in metrics once per batch.
    private func endBatch() {
        guard let metrics, path.seen != reported.seen else { return }
        metrics.packets(seen: path.seen - reported.seen, decoded: path.decoded - reported.decoded,
                        malformed: path.malformed - reported.malformed)
        reported = (path.seen, path.decoded, path.malformed)
    }

    // MARK: - Clock and lifecycle

    /// The start event: written before the first frame, or by `finish` when there is none.
    func announce(_ start: RunStart, immediately: Bool) {
        if immediately { emit(.start(start)) } else { path.pendingStart = start }
    }

    /// Live: moves the tracker to the host's `time` (alerts, TIME_WAIT ends, idle timeouts).
    func advance(to time: Timestamp) {
        path.advance(to: time)
        writeEvents()
    }

    /// End of input or shutdown: every tracked connection gets its close record.
    func finish(at time: Timestamp, reason: String) {
        if let start = path.pendingStart {
            path.pendingStart = nil
            emit(.start(start.at(time)))
        }
        path.finish(at: time, reason: reason) { batch in
            for event in batch { metrics?.record(event) }
            output.submit(batch)
            batch.removeAll(keepingCapacity: true)
        }
        writeEvents()
    }

    /// libpcap dropped packets: connections tracked now may be missing segments.
    func noteCaptureDrops() { path.table.noteCaptureDrops() }

    func halfClosedSnapshot() -> [ConnectionSnapshot] { path.table.halfClosedSnapshot() }

    /// Live: endpoint gauges and evictions, once per tick.
    func publishGauges() {
        guard let metrics else { return }
        metrics.endpoints(path.table.endpointCounts())
        metrics.evictions(total: path.table.evictions)
    }

    /// The counters a `stats` or `stop` event carries.
    /// Waits for the output thread to write what is queued: `events_written` is then exact.
    func runStats(at time: Timestamp, capture: CaptureStatistics?, reason: String? = nil) -> RunStats {
        output.waitUntilWritten()
        let written = output.status
        var stats = RunStats(time: time)
        stats.packetsSeen = path.seen
        stats.packetsDecoded = path.decoded
        stats.packetsMalformed = path.malformed
        stats.packetsSkipped = path.skipped
        stats.packetsDuplicate = path.table.duplicates
        stats.connectionsTracked = path.table.count
        stats.endpointsByState = path.table.endpointCounts()
        stats.eventsWritten = written.eventsWritten
        stats.writeErrors = written.writeErrors
        stats.linesDropped = written.linesDropped
        stats.captureReceived = capture?.received
        stats.dropsKernel = capture?.droppedByKernel
        stats.dropsInterface = capture?.droppedByInterface
        stats.evictions = path.table.evictions
        stats.reason = reason
        return stats
    }

    /// Writes one run event (start, stats, stop) or anything else from outside the tracker.
    func emit(_ event: Event) {
        metrics?.record(event)
        output.submit([event])
    }

    // MARK: - Helpers

    /// Hands the batch's events to the output thread (and metrics), in the order they happened.
    private func writeEvents() {
        guard !path.events.isEmpty else { return }
        for index in path.events.indices {
            metrics?.record(path.events[index])
            if let processLookup, case .alert(var alert) = path.events[index], alert.status == .firing {
                // Rare (one per stuck side) and bounded by ProcessLookup's own time budget, so
                // the lookup may run on the capture thread, just before the line is queued.
                alert.process = processLookup.process(for: alert)
                path.events[index] = .alert(alert)
            }
        }
        output.submit(path.events)
        path.events.removeAll(keepingCapacity: true)
    }
}

/// What one frame touches: the decoder's link type, the table, the batch's events and the
/// counters. A struct so `PcapHandle.read` mutates it in place.
struct PacketPath: FrameSink, ~Copyable {
    var table: ConnectionTable
    var events: [Event] = []
    let linkType: LinkType?
    let clock: Pipeline.Clock
    var seen: UInt64 = 0
    var decoded: UInt64 = 0
    var malformed: UInt64 = 0
    var skipped: UInt64 = 0
    var lastPacketTime: Timestamp?
    /// Written just before the first frame (offline its time is that frame's: reproducible).
    var pendingStart: RunStart?

    init(table: consuming ConnectionTable, linkType: LinkType?, clock: Pipeline.Clock) {
        self.table = table
        self.linkType = linkType
        self.clock = clock
        events.reserveCapacity(256)
    }

    mutating func advance(to time: Timestamp) { table.advance(to: time, into: &events) }

    mutating func finish(at time: Timestamp, reason: String, flush: (inout [Event]) -> Void) {
        table.finish(at: time, reason: reason, into: &events, flush: flush)
    }

    /// One captured frame. Offline, the clock moves to its time first.
    mutating func frame(_ bytes: RawSpan, _ info: FrameInfo) {
        seen &+= 1
        if let start = pendingStart {
            pendingStart = nil
            events.append(.start(start.at(info.timestamp)))
        }
        if clock == .packet {
            table.advance(to: info.timestamp, into: &events)
        }
        if lastPacketTime.map({ info.timestamp > $0 }) ?? true { lastPacketTime = info.timestamp }
        guard let linkType else {
            skipped &+= 1
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
    }
}

extension RunStart {
    /// The same start, stamped with `time` (the first frame's, or the end of an empty input's).
    func at(_ time: Timestamp) -> RunStart {
        var start = self
        start.time = time
        return start
    }
}
