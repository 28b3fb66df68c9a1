import FinwatchCapture
import FinwatchCore
import Logging

/// The capture thread's loop: poll (250 ms at most) → dispatch → advance the host clock →
/// stats, drops, live state, systemd, SIGHUP, flush. Everything it owns stays on that thread.
struct LiveLoop: Sendable {
    let handle: PcapHandle
    let options: RunOptions
    let metrics: FinwatchMetrics?
    let state: LiveState
    let logger: Logger
    let notifier: SystemdNotifier
    /// nil: alerts and `/connections` carry no `process` (the selftest passes one too).
    let processLookup: ProcessLookup?
    /// The longest the loop sleeps on a silent link: alerts fire within a second of their time.
    static let tickMilliseconds: Int32 = 250
    static let batchSize = 4096
    /// How often the half-closed rows are matched to processes for `/connections` and `status`.
    static let processRefresh: Int64 = 1_000_000_000
    /// A row already looked up and not found (not a local socket, no permission) is tried again
    /// this rarely, so a host full of remote CLOSE_WAITs does not rescan /proc every second.
    static let processRetry: Int64 = 10_000_000_000

    func run() throws(FinwatchError) {
        let output = try EventStream(path: options.output)
        let pipeline = Pipeline(configuration: options.tracker, linkType: handle.linkType,
                                linkTypeName: handle.linkTypeName, clock: .host, output: output,
                                metrics: metrics, logger: logger, processLookup: processLookup)
        let started = HostClock.now()
        pipeline.announce(RunStart(
            time: started, version: finwatchVersion, sourceKind: options.source.kind, source: options.source.name,
            filter: options.filter ?? "", linkType: handle.linkTypeName, thresholds: options.thresholds,
            maxConnections: options.tracker.maxConnections), immediately: true)
        logger.info("capture started", metadata: [
            "capture.interface": "\(options.source.name)", "capture.filter": "\(options.filter ?? "")",
            "capture.link_type": "\(handle.linkTypeName)",
        ])
        for warning in handle.warnings { logger.notice("libpcap warning", metadata: ["capture.warning": "\(warning)"]) }
        state.publish { $0.capturing = true }
        // Type=notify: `systemctl start` returns now, with the capture open and its filter set.
        let readyStatus = "READY=1\nSTATUS=capturing on \(options.source.name)"
        notifier.notify(readyStatus)

        let watchdogEvery = notifier.watchdogPingInterval.map(Self.nanoseconds)
        var lastWatchdog = MonotonicClock.nanoseconds()
        var hangupsHandled = HangupSignal.count
        var processes = ProcessNames()
        var outputProblem = OutputProblemReport()

        var nextStats = started.adding(nanoseconds: options.statsInterval)
        var lastDrops = CaptureStatistics()
        var dropsSinceWarning = false
        var failure: FinwatchError?
        while !handle.isBreakRequested && !output.readerGone {
            do {
                _ = try handle.waitForFrames(timeoutMilliseconds: Self.tickMilliseconds)
                _ = try pipeline.drain(handle, limit: Self.batchSize)
            } catch {
                failure = .capture(error)
                break
            }
            let now = HostClock.now()
            pipeline.advance(to: now)
            let capture = handle.statistics()
            if let capture, capture.droppedByKernel > lastDrops.droppedByKernel
                || capture.droppedByInterface > lastDrops.droppedByInterface {
                pipeline.noteCaptureDrops()
                metrics?.captureDrops(kernelTotal: capture.droppedByKernel, interfaceTotal: capture.droppedByInterface)
                dropsSinceWarning = true
                lastDrops = capture
            }
            if now >= nextStats {
                let stats = pipeline.runStats(at: now, capture: capture)
                pipeline.emit(.stats(stats))
                notifier.notify("STATUS=capturing on \(options.source.name): \(stats.connectionsTracked) connections tracked")
                if dropsSinceWarning {
                    // Summarised once per stats interval, not per tick.
                    logger.warning("capture drops rose: raise the buffer or narrow --filter", metadata: [
                        "capture.drops_kernel": "\(lastDrops.droppedByKernel)",
                        "capture.drops_interface": "\(lastDrops.droppedByInterface)",
                    ])
                    dropsSinceWarning = false
                }
                nextStats = now.adding(nanoseconds: options.statsInterval)
            }
            pipeline.publishGauges()
            let snapshot = pipeline.halfClosedSnapshot()
            let stats = pipeline.runStats(at: now, capture: capture)
            let monotonic = MonotonicClock.nanoseconds()
            if let processLookup { processes.refresh(snapshot, lookup: processLookup, at: monotonic) }
            let named = processes.names
            state.publish {
                $0.capturing = true
                $0.halfClosed = snapshot
                $0.processes = named
                $0.stats = stats
            }
            output.flushIfDue()
            outputProblem.check(output.status, path: output.path, at: monotonic, every: options.statsInterval, logger: logger)

            let hangups = HangupSignal.count
            if hangups != hangupsHandled {
                hangupsHandled = hangups
                reopenOutput(output, readyStatus: readyStatus)
            }
            // Only a loop that really turns keeps the service alive: a wedged thread misses this.
            if let watchdogEvery, monotonic - lastWatchdog >= watchdogEvery {
                notifier.notify("WATCHDOG=1")
                lastWatchdog = monotonic
            }
        }

        state.publish { $0.capturing = false }
        let end = HostClock.now()
        pipeline.finish(at: end, reason: "shutdown")
        let reason = failure != nil ? "error" : output.readerGone ? "output_closed" : "signal"
        pipeline.emit(.stop(pipeline.runStats(at: end, capture: handle.statistics(), reason: reason)))
        output.close()
        outputProblem.finalReport(output.status, path: output.path, logger: logger)
        logger.info("capture stopped", metadata: [
            "capture.frames": "\(pipeline.seen)", "capture.reason": "\(reason)",
        ])
        if let failure { throw failure }
    }

    /// SIGHUP: everything buffered goes to the old file (renamed by logrotate, still open),
    /// then the path is opened afresh, so every line lands in exactly one of the two files.
    private func reopenOutput(_ output: EventStream, readyStatus: String) {
        notifier.notifyReloading()
        do {
            try output.reopen()
            logger.info("output reopened", metadata: ["output.path": "\(output.path)"])
        } catch {
            // Keep writing to the old file: losing events is worse than writing them to a
            // renamed file; the next SIGHUP tries again.
            logger.error("cannot reopen --output: still writing to the file opened before", metadata: [
                "output.path": "\(output.path)", "error": "\(error.message)",
            ])
        }
        notifier.notify(readyStatus)
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// The processes behind the half-closed rows, kept between ticks: a row named once keeps its
/// name until it leaves the snapshot (a socket does not change owner while stuck), so /proc is
/// scanned for new rows only, at most once per `LiveLoop.processRefresh`.
private struct ProcessNames {
    private(set) var names: [String: ProcessInfo] = [:]
    /// Rows looked up and not found, with when to try again.
    private var retryAt: [String: Int64] = [:]
    private var nextRefresh: Int64 = 0

    mutating func refresh(_ snapshot: [ConnectionSnapshot], lookup: ProcessLookup, at now: Int64) {
        guard now >= nextRefresh else { return }
        nextRefresh = now + LiveLoop.processRefresh
        guard !snapshot.isEmpty else {
            names.removeAll()
            retryAt.removeAll()
            return
        }
        let keys = Set(snapshot.map { LiveState.processKey(uid: $0.identity.uid, side: $0.side) })
        names = names.filter { keys.contains($0.key) }
        retryAt = retryAt.filter { keys.contains($0.key) }
        let wanted = snapshot.filter { row in
            let key = LiveState.processKey(uid: row.identity.uid, side: row.side)
            return names[key] == nil && (retryAt[key].map { now >= $0 } ?? true)
        }
        guard !wanted.isEmpty else { return }
        let found = lookup.processes(for: wanted)
        for row in wanted {
            let key = LiveState.processKey(uid: row.identity.uid, side: row.side)
            if let process = found[key] {
                names[key] = process
                retryAt[key] = nil
            } else {
                retryAt[key] = now + LiveLoop.processRetry
            }
        }
    }
}

/// Failed writes to --output, told to the operator on standard error: the first at once, then
/// at most once per stats interval while they continue, and a summary at the end. Never per
/// event: a full disk would otherwise flood the journal too.
private struct OutputProblemReport {
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
