import Dispatch
import FinwatchCapture
import FinwatchCore
import Logging
import Synchronization

/// A live run: one `CaptureShard` per handle (per `--workers`), each capturing and tracking on
/// its own thread, and this loop, on the thread `CaptureService` gives it, doing everything else
/// on its own cadence (`housekeepingMilliseconds`), never once per capture wakeup: the gauges,
/// the half-closed view and its process names for `/connections` and `status`, `stats` events,
/// drops, flushes, SIGHUP, the systemd watchdog. It reads what the shards and trackers publish
/// and asks them for nothing it would have to wait for.
struct LiveLoop: Sendable {
    let handles: [PcapHandle]
    let options: RunOptions
    let metrics: FinwatchMetrics?
    let state: LiveState
    let logger: Logger
    let notifier: SystemdNotifier
    /// nil: alerts and `/connections` carry no `process` (the selftest passes one too).
    let processLookup: ProcessLookup?
    /// Names the half-closed rows in the background; the HTTP endpoint reads its names too.
    let naming: ProcessNaming?
    private let stopping = StopSignal()
    static let housekeepingMilliseconds = 250

    init(handles: [PcapHandle], options: RunOptions, metrics: FinwatchMetrics?, state: LiveState, logger: Logger,
         notifier: SystemdNotifier, processLookup: ProcessLookup?, naming: ProcessNaming? = nil) {
        self.handles = handles
        self.options = options
        self.metrics = metrics
        self.state = state
        self.logger = logger
        self.notifier = notifier
        self.processLookup = processLookup
        self.naming = naming ?? processLookup.map(ProcessNaming.init(lookup:))
    }

    init(handle: PcapHandle, options: RunOptions, metrics: FinwatchMetrics?, state: LiveState, logger: Logger,
         notifier: SystemdNotifier, processLookup: ProcessLookup?) {
        self.init(handles: [handle], options: options, metrics: metrics, state: state, logger: logger,
                  notifier: notifier, processLookup: processLookup)
    }

    /// Graceful shutdown or cancellation, from another thread: every shard's loop ends, then this.
    func stop() {
        for handle in handles { handle.breakLoop() }
        stopping.raise()
    }

    func run() throws(FinwatchError) {
        // From now on SIGHUP means "reopen the output", never the default "terminate".
        HangupSignal.install()
        let clock = LiveClock()
        let output = try EventStream(path: options.output, processLookup: processLookup, clock: clock)
        let first = handles[0]
        let started = clock.now()
        output.submit([.start(RunStart(
            time: started, version: finwatchVersion, sourceKind: options.source.kind, source: options.source.name,
            filter: options.filter ?? "", linkType: first.linkTypeName, thresholds: options.thresholds,
            maxConnections: options.tracker.maxConnections))])
        var tracker = options.tracker
        tracker.maxConnections = max(1, tracker.maxConnections / handles.count)
        if tracker.portExhaustion != nil { tracker.ephemeralPortRange = PortRangeFile.read() }
        let shards = handles.enumerated().map { index, handle in
            let shard = Shard(index: index, count: handles.count)
            return CaptureShard(handle: handle, shard: shard, pipeline: Pipeline(
                configuration: tracker, linkType: handle.linkType, linkTypeName: handle.linkTypeName, clock: .host,
                output: output, metrics: metrics, logger: logger, shard: shard, liveClock: clock,
                decapsulate: options.decapsulate), clock: clock)
        }
        logger.info("capture started", metadata: [
            "capture.interface": "\(options.source.name)", "capture.filter": "\(options.filter ?? "")",
            "capture.link_type": "\(first.linkTypeName)", "capture.workers": "\(shards.count)",
        ])
        for warning in first.warnings { logger.notice("libpcap warning", metadata: ["capture.warning": "\(warning)"]) }
        let stopping = stopping
        for shard in shards { shard.start { stopping.raise() } }
        state.publish { $0.capturing = true; $0.clock = clock }
        // Type=notify: `systemctl start` returns now, with the capture open and its filter set.
        let readyStatus = "READY=1\nSTATUS=capturing on \(options.source.name)"
        notifier.notify(readyStatus)

        let housekeeping = Housekeeping(loop: self, shards: shards, output: output, readyStatus: readyStatus, started: started,
                                        clock: clock, portRange: tracker.ephemeralPortRange)
        while !stopping.wait(milliseconds: Self.housekeepingMilliseconds) && !output.readerGone {
            housekeeping.tick()
        }

        // Shutdown: the shards stop reading, then every connection gets its record and `stop`
        // its exact counts, summed over the shards.
        stop()
        for shard in shards { shard.join() }
        state.publish { $0.capturing = false }
        let failure = shards.lazy.compactMap(\.current.failure).first
        let end = clock.now()
        var totals = RunStats(time: end)
        var capture: CaptureStatistics?
        for shard in shards {
            let (table, counters, shardCapture) = shard.finish(at: end)
            table.add(to: &totals)
            counters.add(to: &totals)
            capture = CaptureStatistics.sum(capture, shardCapture)
        }
        totals.setCapture(capture)
        totals.reason = failure != nil ? .error : output.readerGone ? .outputClosed : .signal
        let stopEvent = totals
        output.submit { status in
            var stats = stopEvent
            stats.setOutput(status)
            return .stop(stats)
        }
        output.close()
        housekeeping.outputProblem.finalReport(output.status, path: output.path, logger: logger)
        logger.info("capture stopped", metadata: [
            "capture.frames": "\(totals.packetsSeen)", "capture.reason": "\(totals.reason?.rawValue ?? "")",
        ])
        if let failure { throw failure }
    }
}

/// Raised once to end the run; the housekeeping sleeps on it, so a stop wakes it at once.
final class StopSignal: Sendable {
    private let raised = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)

    func raise() {
        if !raised.exchange(true, ordering: .acquiringAndReleasing) { wake.signal() }
    }

    /// Sleeps up to `milliseconds` or until raised; returns whether it is raised.
    func wait(milliseconds: Int) -> Bool {
        if raised.load(ordering: .acquiring) { return true }
        if wake.wait(timeout: .now() + .milliseconds(milliseconds)) == .success { wake.signal() }
        return raised.load(ordering: .acquiring)
    }
}

extension CaptureStatistics {
    /// Two handles' counters together (nil: a handle with none).
    static func sum(_ left: CaptureStatistics?, _ right: CaptureStatistics?) -> CaptureStatistics? {
        guard let left else { return right }
        guard let right else { return left }
        return CaptureStatistics(received: left.received + right.received,
                                 droppedByKernel: left.droppedByKernel + right.droppedByKernel,
                                 droppedByInterface: left.droppedByInterface + right.droppedByInterface)
    }
}
