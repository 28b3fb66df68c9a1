import FinwatchCapture
import FinwatchCore
import Logging
import Synchronization

/// What `LiveLoop` does every quarter second on its own thread, never on a capture thread: the
/// shards' published counts and their trackers' latest reports become the gauges, `/connections`'
/// view, `stats` events and the drops warning; the output is flushed; SIGHUP reopens it; the
/// watchdog is pinged while every shard's loop turns. The trackers are asked for a fresh report
/// each tick and answer on their own queues: the view is at most a tick old and nobody waits.
final class Housekeeping {
    let loop: LiveLoop
    let shards: [CaptureShard]
    let output: EventStream
    let readyStatus: String
    var outputProblem = OutputProblemReport()
    private let reports: ReportBoard
    private let watchdogEvery: Int64?
    private var lastWatchdog = MonotonicClock.nanoseconds()
    private var hangupsHandled = HangupSignal.count
    private var nextStats: Timestamp
    private var lastDrops = CaptureStatistics()
    private var dropsSinceWarning = false
    private let clock: LiveClock
    /// The local port range as last read (port exhaustion watched only), and when to read it again.
    private var portRange: EphemeralPortRange?
    private var nextPortRangeRead: Int64 = 0
    /// Every shard's stuck rows as last reported, and which report of them that was.
    private var halfClosed: [ConnectionSnapshot] = []
    private var rowsVersion = 0
    private var ticks = 0
    /// The half-closed rows are asked for every this many ticks (a second); `/connections`
    /// and process naming see them at most that old, plus a tick.
    static let rowsEveryTicks = 4

    /// `portRange`: the range the trackers were made with, so a change since is handed on.
    init(loop: LiveLoop, shards: [CaptureShard], output: EventStream, readyStatus: String, started: Timestamp,
         clock: LiveClock, portRange: EphemeralPortRange? = nil) {
        self.clock = clock
        self.loop = loop
        self.shards = shards
        self.output = output
        self.readyStatus = readyStatus
        reports = ReportBoard(count: shards.count)
        self.portRange = portRange
        watchdogEvery = loop.notifier.watchdogPingInterval.map(Self.nanoseconds)
        nextStats = started.adding(nanoseconds: loop.options.statsInterval)
    }

    func tick() {
        let now = clock.now()
        let monotonic = MonotonicClock.nanoseconds()
        let published = shards.map(\.current)
        let counters = published.map(\.counters).reduce(PacketCounters(), +)
        let capture = published.map(\.capture).reduce(nil, CaptureStatistics.sum)
        let table = TableReport.combined(reports.latest)
        // The stuck rows once a second, the counts every tick: copying out and sorting every
        // half-closed side of a 100,000-connection table took a tenth of the live path's CPU
        // when done four times a second (perf, the churn replay of live-cpu.sh).
        let withRows = ticks % Self.rowsEveryTicks == 0
        ticks += 1
        for shard in shards {
            let index = shard.shard.index
            shard.report(halfClosed: withRows) { [reports] report in reports.set(index, report) }
        }
        if reports.rowsVersion != rowsVersion {
            (halfClosed, rowsVersion) = reports.rows
        }
        if let metrics = loop.metrics {
            metrics.endpoints(table.endpoints, byPort: table.endpointsByPort)
            metrics.evictions(total: table.evictions)
            metrics.ephemeralPorts(used: table.ephemeralPortsUsed, available: portRange?.size ?? 0)
        }
        rereadPortRange(at: monotonic)
        noteDrops(capture)

        var stats = RunStats(time: now)
        table.add(to: &stats)
        counters.add(to: &stats)
        stats.setCapture(capture)
        stats.setOutput(output.status)
        if now >= nextStats {
            writeStats(stats)
            nextStats = now.adding(nanoseconds: loop.options.statsInterval)
        }
        loop.naming?.refresh(halfClosed)
        let named = loop.naming?.names ?? [:]
        loop.state.publish { [halfClosed] in
            $0.capturing = true
            $0.halfClosed = halfClosed
            $0.processes = named
            $0.stats = stats
        }
        output.flushIfDue()
        outputProblem.check(output.status, path: output.path, at: monotonic, every: loop.options.statsInterval,
                            logger: loop.logger)
        let hangups = HangupSignal.count
        if hangups != hangupsHandled {
            hangupsHandled = hangups
            reopenOutput()
        }
        // Only loops that really turn keep the service alive: a wedged shard misses this.
        if let watchdogEvery, monotonic - lastWatchdog >= watchdogEvery,
           published.allSatisfy({ monotonic - $0.heartbeat < watchdogEvery }) {
            loop.notifier.notify("WATCHDOG=1")
            lastWatchdog = monotonic
        }
    }

    /// The port range is a sysctl an operator may change while we run: read it once a second, and
    /// hand a change to every tracker.
    private func rereadPortRange(at monotonic: Int64) {
        guard loop.options.tracker.portExhaustion != nil, monotonic >= nextPortRangeRead else { return }
        nextPortRangeRead = monotonic + 1_000_000_000
        let range = PortRangeFile.read()
        guard range != portRange else { return }
        loop.logger.notice("local port range changed", metadata: [
            "ports.range": "\(range.map { "\($0.low)-\($0.high)" } ?? "unreadable")",
        ])
        portRange = range
        for shard in shards { shard.setEphemeralPortRange(range) }
    }

    /// The `stats` event, with the output's count as of its own place in the stream.
    private func writeStats(_ stats: RunStats) {
        output.submit { status in
            var stats = stats
            stats.setOutput(status)
            return .stats(stats)
        }
        loop.notifier.notify("STATUS=capturing on \(loop.options.source.name): \(stats.connectionsTracked) connections tracked")
        if dropsSinceWarning {
            // Summarised once per stats interval, not per tick.
            loop.logger.warning("capture drops rose: raise the buffer, narrow --filter or add --workers", metadata: [
                "capture.drops_kernel": "\(lastDrops.droppedByKernel)",
                "capture.drops_interface": "\(lastDrops.droppedByInterface)",
            ])
            dropsSinceWarning = false
        }
    }

    private func noteDrops(_ capture: CaptureStatistics?) {
        guard let capture, capture.droppedByKernel > lastDrops.droppedByKernel
            || capture.droppedByInterface > lastDrops.droppedByInterface else { return }
        loop.metrics?.captureDrops(kernelTotal: capture.droppedByKernel, interfaceTotal: capture.droppedByInterface)
        dropsSinceWarning = true
        lastDrops = capture
    }

    /// SIGHUP: everything queued goes to the old file (renamed by logrotate, still open),
    /// then the path is opened afresh, so every line lands in exactly one of the two files.
    private func reopenOutput() {
        loop.notifier.notifyReloading()
        do {
            try output.reopen()
            loop.logger.info("output reopened", metadata: ["output.path": "\(output.path)"])
        } catch {
            // Keep writing to the old file: losing events is worse than writing them to a
            // renamed file; the next SIGHUP tries again.
            loop.logger.error("cannot reopen --output: still writing to the file opened before", metadata: [
                "output.path": "\(output.path)", "error": "\(error.message)",
            ])
        }
        loop.notifier.notify(readyStatus)
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// Each shard's latest table report, written on the trackers' queues; a report without rows
/// leaves that shard's last rows in place.
final class ReportBoard: Sendable {
    private struct Board {
        var reports: [TableReport]
        var rows: [[ConnectionSnapshot]]
        var version = 0
    }

    private let board: Mutex<Board>
    init(count: Int) {
        board = Mutex(Board(reports: Array(repeating: TableReport(), count: count),
                            rows: Array(repeating: [], count: count)))
    }

    var latest: [TableReport] { board.withLock { $0.reports } }
    var rowsVersion: Int { board.withLock { $0.version } }
    /// Every shard's rows together, and the version they are.
    var rows: ([ConnectionSnapshot], Int) { board.withLock { (Array($0.rows.joined()), $0.version) } }

    func set(_ index: Int, _ report: TableReport) {
        var report = report
        let rows = report.halfClosed.take()
        board.withLock { board in
            board.reports[index] = report
            if let rows {
                board.rows[index] = rows
                board.version += 1
            }
        }
    }
}

/// Failed writes to --output, told to the operator on standard error: the first at once, then
/// at most once per stats interval while they continue, and a summary at the end. Never per
/// event: a full disk would otherwise flood the journal too.
struct OutputProblemReport {
    private var reportedErrors: UInt64 = 0
    private var reportedDropped: UInt64 = 0
    private var nextReport: Int64 = 0

    mutating func check(_ status: EventStream.Status, path: String, at now: Int64, every interval: Int64, logger: Logger) {
        guard status.writeErrors > reportedErrors || status.linesDropped > reportedDropped, now >= nextReport else { return }
        report(status, path: path, logger: logger,
               message: "cannot write events to --output: keeping them and retrying every second")
        nextReport = now + interval
    }

    mutating func finalReport(_ status: EventStream.Status, path: String, logger: Logger) {
        guard status.writeErrors > reportedErrors || status.linesDropped > reportedDropped else { return }
        report(status, path: path, logger: logger, message: "events could not be written to --output before stopping")
    }

    private mutating func report(_ status: EventStream.Status, path: String, logger: Logger, message: Logger.Message) {
        logger.warning(message, metadata: [
            "output.path": "\(path)", "error": "\(status.lastErrorText ?? "recovered")",
            "output.write_errors": "\(status.writeErrors)", "output.lines_dropped": "\(status.linesDropped)",
            "output.pending_bytes": "\(status.pendingByteCount)",
        ])
        reportedErrors = status.writeErrors
        reportedDropped = status.linesDropped
    }
}
