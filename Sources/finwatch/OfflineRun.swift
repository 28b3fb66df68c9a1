import FinwatchCapture
import FinwatchCore
import Logging

/// `--read FILE`: the same pipeline, inline, to the end of the file, on the packets' own clock,
/// so the same file always yields the same events.
struct OfflineRun {
    let options: RunOptions
    /// Frames per pcap_dispatch: metrics and the writer's checks run once per batch.
    static let batchSize = 4096

    func run() throws(FinwatchError) {
        var logger = Logger(label: "finwatch")
        logger.logLevel = .warning   // offline stderr stays quiet unless something is wrong
        let handle: PcapHandle
        do {
            handle = try options.source.open(filter: options.filter, decapsulate: options.decapsulate)
        } catch {
            throw .capture(error)
        }
        // Counted and ignored: an offline run ends on its own, and SIGHUP must not end it half-way.
        HangupSignal.install()
        let output = try EventStream(path: options.output)
        let pipeline = Pipeline(configuration: options.tracker, linkType: handle.linkType,
                                linkTypeName: handle.linkTypeName, clock: .packet, output: output,
                                metrics: nil, logger: logger, decapsulate: options.decapsulate)
        // The epoch until the first frame gives the start its time: no host clock offline.
        pipeline.announce(RunStart(
            time: Timestamp(nanoseconds: 0), version: finwatchVersion, sourceKind: options.source.kind,
            source: options.source.name, filter: options.filter ?? "", linkType: handle.linkTypeName,
            thresholds: options.thresholds, maxConnections: options.tracker.maxConnections), immediately: false)

        var failure: CaptureError?
        while !output.readerGone {
            do {
                let count = try pipeline.drain(handle, limit: Self.batchSize)
                if count == 0 { break }
            } catch {
                failure = error   // corrupt part-way: close what was read, then exit 65
                break
            }
        }
        let end = pipeline.lastPacketTime ?? Timestamp(nanoseconds: 0)
        pipeline.finish(at: end, reason: .endOfInput)
        pipeline.emit(.stop(pipeline.runStats(at: end, capture: nil, reason: failure == nil ? .endOfInput : .error)))
        output.close()
        if let failure { throw .capture(failure) }
    }
}
