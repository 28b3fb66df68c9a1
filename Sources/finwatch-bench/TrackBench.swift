import FinwatchCapture
import FinwatchCore

/// `finwatch-bench track FILE`: the tracker stage alone. Reads and decodes the whole file into
/// memory first (not timed), then feeds every segment to a `ConnectionTable` on the packet
/// clock, in batches as the pipeline does, and reports the time per packet. Events are counted
/// and dropped: no JSON, no threads, so what is measured is the table and its state machines.
enum TrackBench {
    struct Result {
        var packets: Int
        var events: Int
        var seconds: [Double]
        var nanosecondsPerPacket: Double { (seconds.min() ?? 0) * 1e9 / Double(max(packets, 1)) }
    }

    static func run(path: String, runs: Int, configuration: TrackerConfiguration = TrackerConfiguration(),
                    batchSize: Int = 4096) throws(BenchError) -> Result {
        let batches = try load(path: path, batchSize: batchSize)
        let packets = batches.reduce(0) { $0 + $1.segments.count }
        var result = Result(packets: packets, events: 0, seconds: [])
        for _ in 0..<runs {
            var table = ConnectionTable(configuration: configuration)
            var events: [Event] = []
            events.reserveCapacity(8192)
            var count = 0
            let started = Floor.monotonicSeconds()
            for batch in batches {
                table.observe(batch, packetClock: true, into: &events)
                count += events.count
                events.removeAll(keepingCapacity: true)
            }
            let last = batches.last?.segments.last?.timestamp ?? Timestamp(nanoseconds: 0)
            table.finish(at: last, reason: .endOfInput, into: &events, batch: 4096) { chunk in
                count += chunk.count
                chunk.removeAll(keepingCapacity: true)
            }
            count += events.count
            result.seconds.append(Floor.monotonicSeconds() - started)
            result.events = count
        }
        return result
    }

    /// Every frame of the file, decoded in batches of `batchSize` by the capture stage's own
    /// reader and decoder (the same path finwatch --read takes, without the threads).
    static func load(path: String, batchSize: Int) throws(BenchError) -> [SegmentBatch] {
        let handle: PcapHandle
        do {
            handle = try PcapHandle(file: path)
        } catch {
            throw .cannotRead(path: path, reason: "\(error)")
        }
        guard handle.linkType != nil else { throw .cannotRead(path: path, reason: "link type \(handle.linkTypeName) is not decoded") }
        var decoder = FrameDecoder(linkType: handle.linkType)
        var batches: [SegmentBatch] = []
        while true {
            let count: Int
            do {
                count = try handle.read(limit: batchSize, into: &decoder)
            } catch {
                throw .cannotRead(path: path, reason: "\(error)")
            }
            if count == 0 { break }
            batches.append(decoder.takeBatch())
        }
        return batches
    }
}
