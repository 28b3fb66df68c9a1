import CPcap
import FinwatchCore
#if canImport(Glibc)
import Glibc
#endif

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

    static func run(path: String, runs: Int, batchSize: Int = 4096) throws(BenchError) -> Result {
        let batches = try load(path: path, batchSize: batchSize)
        let packets = batches.reduce(0) { $0 + $1.segments.count }
        var result = Result(packets: packets, events: 0, seconds: [])
        for _ in 0..<runs {
            var table = ConnectionTable(configuration: TrackerConfiguration())
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
            table.finish(at: last, reason: "end_of_input", into: &events, batch: 4096) { chunk in
                count += chunk.count
                chunk.removeAll(keepingCapacity: true)
            }
            count += events.count
            result.seconds.append(Floor.monotonicSeconds() - started)
            result.events = count
        }
        return result
    }

    /// Every TCP segment of the file, decoded, in batches of `batchSize`.
    static func load(path: String, batchSize: Int) throws(BenchError) -> [SegmentBatch] {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer) else {
            throw .cannotRead(path: path, reason: String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { pcap_close(handle) }
        guard let linkType = LinkType(datalink: pcap_datalink(handle)) else {
            throw .cannotRead(path: path, reason: "link type \(pcap_datalink(handle)) is not decoded")
        }
        var batches: [SegmentBatch] = []
        var batch = SegmentBatch(capacity: batchSize)
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while pcap_next_ex(handle, &header, &data) == 1 {
            guard let header, let data else { continue }
            let time = Timestamp(seconds: Int64(header.pointee.ts.tv_sec), nanoseconds: Int64(header.pointee.ts.tv_usec))
            let bytes = UnsafeRawBufferPointer(start: data, count: Int(header.pointee.caplen))
            if let segment = try? Frame.decodeTCP(bytes.bytes, linkType: linkType, timestamp: time, interfaceIndex: nil) {
                batch.segments.append(segment)
            } else {
                batch.appendOtherFrame(at: time)
            }
            if batch.segments.count + batch.otherFrames.count == batchSize {
                batches.append(batch)
                batch = SegmentBatch(capacity: batchSize)
            }
        }
        if !batch.isEmpty { batches.append(batch) }
        return batches
    }
}
