import FinwatchCapture
import FinwatchCore
import Foundation
import Logging
import ServiceLifecycle

/// The live capture as a ServiceGroup service. The loop runs on its own thread (not the
/// cooperative pool: it blocks in poll); graceful shutdown or cancellation calls `breakLoop()`,
/// the one cross-thread call, and the loop then finishes every connection and writes `stop`.
struct CaptureService: Service, CustomStringConvertible {
    let handle: PcapHandle
    let options: RunOptions
    /// The --output descriptor's owner is made on the capture thread; this opens nothing.
    let metrics: FinwatchMetrics?
    let state: LiveState
    let logger: Logger

    var description: String { "capture on \(options.source.name)" }

    func run() async throws {
        let handle = handle
        let loop = LiveLoop(handle: handle, options: options, metrics: metrics, state: state, logger: logger)
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await Self.runOnCaptureThread { () throws(FinwatchError) in try loop.run() }
            } onCancel: {
                handle.breakLoop()
            }
        } onGracefulShutdown: {
            handle.breakLoop()
        }
    }

    /// Runs `body` on a dedicated thread and resumes when it returns.
    static func runOnCaptureThread(_ body: @escaping @Sendable () throws(FinwatchError) -> Void) async throws(FinwatchError) {
        let result: Result<Void, FinwatchError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(FinwatchError) {
                    try body()
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "finwatch-capture"
            thread.start()
        }
        try result.get()
    }
}

/// The capture thread's loop: poll (250 ms at most) → dispatch → advance the host clock →
/// stats, drops, live state, flush. Everything it owns stays on that thread.
struct LiveLoop: Sendable {
    let handle: PcapHandle
    let options: RunOptions
    let metrics: FinwatchMetrics?
    let state: LiveState
    let logger: Logger
    /// The longest the loop sleeps on a silent link: alerts fire within a second of their time.
    static let tickMilliseconds: Int32 = 250
    static let batchSize: Int32 = 4096

    func run() throws(FinwatchError) {
        let writer = try JSONLinesWriter(path: options.output)
        let pipeline = Pipeline(configuration: options.tracker, linkType: handle.linkType,
                                linkTypeName: handle.linkTypeName, clock: .host, writer: writer,
                                metrics: metrics, logger: logger)
        let started = HostClock.now()
        pipeline.announce(RunStart(
            time: started, version: finwatchVersion, sourceKind: options.source.kind, source: options.source.name,
            filter: options.filter ?? "", linkType: handle.linkTypeName, thresholds: options.thresholds,
            maxConnections: options.tracker.maxConnections), immediately: true)
        writer.flush()
        logger.info("capture started", metadata: [
            "capture.interface": "\(options.source.name)", "capture.filter": "\(options.filter ?? "")",
            "capture.link_type": "\(handle.linkTypeName)",
        ])
        for warning in handle.warnings { logger.notice("libpcap warning", metadata: ["capture.warning": "\(warning)"]) }
        state.publish { $0.capturing = true }

        var nextStats = started.adding(nanoseconds: options.statsInterval)
        var lastDrops = CaptureStatistics()
        var dropsSinceWarning = false
        var failure: FinwatchError?
        while !handle.isBreakRequested && !writer.readerGone {
            do {
                _ = try handle.waitForFrames(timeoutMilliseconds: Self.tickMilliseconds)
                _ = try handle.dispatch(limit: Self.batchSize) { bytes, info in pipeline.process(bytes, info) }
            } catch {
                failure = .capture(error)
                break
            }
            pipeline.endBatch()
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
                pipeline.emit(.stats(pipeline.runStats(at: now, capture: capture)))
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
            state.publish {
                $0.capturing = true
                $0.halfClosed = snapshot
                $0.stats = stats
            }
            writer.flushIfDue()
        }

        state.publish { $0.capturing = false }
        let end = HostClock.now()
        pipeline.finish(at: end, reason: "shutdown")
        let reason = failure != nil ? "error" : writer.readerGone ? "output_closed" : "signal"
        pipeline.emit(.stop(pipeline.runStats(at: end, capture: handle.statistics(), reason: reason)))
        writer.close()
        logger.info("capture stopped", metadata: [
            "capture.frames": "\(pipeline.seen)", "capture.reason": "\(reason)",
        ])
        if let failure { throw failure }
    }
}
