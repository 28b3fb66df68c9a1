import FinwatchCapture
import FinwatchCore
import FinwatchFixtures
import Foundation
import Testing

/// One frame as a sink or a dispatch callback saw it, copied out (the bytes are only valid
/// during the call).
struct CopiedFrame: Equatable {
    var bytes: [UInt8]
    var info: FrameInfo

    init(_ span: RawSpan, _ info: FrameInfo) {
        bytes = span.withUnsafeBytes { Array($0) }
        self.info = info
    }

    init(bytes: [UInt8], info: FrameInfo) {
        self.bytes = bytes
        self.info = info
    }
}

/// The test double for `FrameSink`: keeps a copy of every frame, in the order given.
struct CollectingSink: FrameSink {
    var frames: [CopiedFrame] = []
    mutating func frame(_ bytes: RawSpan, _ info: FrameInfo) { frames.append(CopiedFrame(bytes, info)) }
}

/// `PcapHandle.read(limit:into:)`, the hot path's pcap_next_ex loop, against `dispatch` and
/// against the frames the test wrote.
@Suite("PcapHandle.read into a FrameSink") struct PcapHandleReadTests {
    static let client = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022)
    static let web = Endpoint(ip: IPAddress("198.18.0.2")!, port: 80)
    static let tls = Endpoint(ip: IPAddress("198.18.0.2")!, port: 443)

    /// Ten TCP frames, each distinct (sequence number, payload length), every third one to 443
    /// rather than 80.
    static let frames: [[UInt8]] = (0..<10).map { index in
        FrameBuilder.tcp(source: client, destination: index % 3 == 2 ? tls : web,
                         sequence: 1000 + UInt32(index) * 100, flags: index == 9 ? [.fin, .ack] : .ack,
                         payloadLength: index * 7)
    }

    /// Distinct times; nanosecond files get digits below the microsecond, microsecond files none.
    static func times(nanosecond: Bool) -> [Timestamp] {
        (0..<10).map { index in
            let fraction = Int64(index) * 98_765_000 + (nanosecond ? Int64(index) * 111 + 1 : 0)
            return Timestamp(seconds: 1_700_000_000 + Int64(index / 4), nanoseconds: fraction)
        }
    }

    /// On the wire some frames were longer than captured (a snaplen cut): wire length differs.
    static func wireLength(_ index: Int) -> Int { frames[index].count + (index.isMultiple(of: 4) ? 1_000 : 0) }

    static func expected(nanosecond: Bool) -> [CopiedFrame] {
        zip(frames.indices, times(nanosecond: nanosecond)).map { index, time in
            CopiedFrame(bytes: frames[index],
                        info: FrameInfo(timestamp: time, capturedLength: frames[index].count,
                                        wireLength: wireLength(index)))
        }
    }

    static func pcap(nanosecond: Bool) -> [UInt8] {
        var builder = PcapFileBuilder(linkType: .ethernet, nanosecond: nanosecond)
        for (index, time) in zip(frames.indices, times(nanosecond: nanosecond)) {
            builder.append(frames[index], at: time, originalLength: wireLength(index))
        }
        return builder.takeBytes()
    }

    /// Everything `dispatch(limit: -1)` hands over, bounded.
    static func dispatchAll(_ handle: PcapHandle) throws -> [CopiedFrame] {
        var seen: [CopiedFrame] = []
        for _ in 0..<100 {
            if try handle.dispatch(limit: -1, { seen.append(CopiedFrame($0, $1)) }) == 0 { break }
        }
        return seen
    }

    /// `read` until it returns 0, bounded; returns the counts it returned, the final 0 included.
    static func readAll(_ handle: PcapHandle, limit: Int, into sink: inout CollectingSink) throws -> [Int] {
        var counts: [Int] = []
        for _ in 0..<100 {
            let count = try handle.read(limit: limit, into: &sink)
            counts.append(count)
            if count == 0 { break }
        }
        return counts
    }

    @Test("read hands over the same frames as dispatch: bytes, times, lengths, order",
          arguments: [false, true])
    func wholeFile_readMatchesDispatch_andTheFramesWritten(nanosecond: Bool) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write(nanosecond ? "ten-ns.pcap" : "ten-us.pcap", Self.pcap(nanosecond: nanosecond))
        let reading = try PcapHandle(file: path)
        let dispatching = try PcapHandle(file: path)
        var sink = CollectingSink()
        let counts = try Self.readAll(reading, limit: 64, into: &sink)
        #expect(counts == [10, 0])
        let dispatched = try Self.dispatchAll(dispatching)
        #expect(dispatched.count == 10)
        #expect(sink.frames == dispatched)
        #expect(sink.frames == Self.expected(nanosecond: nanosecond))
        #expect(sink.frames.allSatisfy { $0.bytes.count == $0.info.capturedLength })
        #expect(sink.frames.contains { $0.info.wireLength > $0.info.capturedLength }, "the fixture has cut frames")
    }

    @Test func limit3_returns3UntilTheRemainder_then0AtEndOfFile_andStays0() throws {
        let directory = try TemporaryDirectory()
        let handle = try PcapHandle(file: try directory.write("ten.pcap", Self.pcap(nanosecond: true)))
        var sink = CollectingSink()
        var counts: [Int] = []
        for _ in 0..<6 { counts.append(try handle.read(limit: 3, into: &sink)) }
        #expect(counts == [3, 3, 3, 1, 0, 0])
        #expect(sink.frames == Self.expected(nanosecond: true), "each call went on where the last one stopped")
    }

    @Test func limit0_returns0_andConsumesNothing() throws {
        let directory = try TemporaryDirectory()
        let handle = try PcapHandle(file: try directory.write("ten.pcap", Self.pcap(nanosecond: false)))
        var sink = CollectingSink()
        #expect(try handle.read(limit: 0, into: &sink) == 0)
        #expect(sink.frames.isEmpty)
        #expect(try handle.read(limit: 10, into: &sink) == 10)
        #expect(sink.frames == Self.expected(nanosecond: false))
    }

    @Test func userFilter_appliesToRead_asToDispatch() throws {
        let directory = try TemporaryDirectory()
        var builder = PcapFileBuilder(linkType: .ethernet)
        let times = Self.times(nanosecond: false)
        for (index, time) in zip(Self.frames.indices, times) { builder.append(Self.frames[index], at: time) }
        builder.append(PcapHandleFileTests.udpFrame(), at: Timestamp(seconds: 1_700_000_010, nanoseconds: 0))
        let path = try directory.write("mixed.pcap", builder.takeBytes())
        let reading = try CaptureSource.file(path: path).open(filter: "port 80 or udp")
        let dispatching = try CaptureSource.file(path: path).open(filter: "port 80 or udp")

        var sink = CollectingSink()
        let counts = try Self.readAll(reading, limit: 1, into: &sink)
        // Port 80 only: not the 443 frames (indexes 2, 5, 8), and not the UDP one (ANDed with finwatch's tcp filter).
        let wanted = Self.frames.indices.filter { $0 % 3 != 2 }
        #expect(counts == Array(repeating: 1, count: wanted.count) + [0])
        #expect(sink.frames.map(\.bytes) == wanted.map { Self.frames[$0] })
        #expect(sink.frames.map(\.info.timestamp) == wanted.map { times[$0] })
        #expect(sink.frames == (try Self.dispatchAll(dispatching)))
    }

    @Test func recordCutShort_wholeFramesBeforeItAreRead_thenCorruptCapture() throws {
        let directory = try TemporaryDirectory()
        var builder = PcapFileBuilder(linkType: .ethernet, nanosecond: true)
        let times = Self.times(nanosecond: true)
        for index in 0..<5 { builder.append(Self.frames[index], at: times[index], originalLength: Self.wireLength(index)) }
        // Claims 500 captured bytes; the file ends after the frame's real, shorter bytes.
        builder.append(Self.frames[5], at: times[5], capturedLength: 500)
        let path = try directory.write("cut.pcap", builder.takeBytes())
        let handle = try PcapHandle(file: path)
        var sink = CollectingSink()
        #expect(try handle.read(limit: 2, into: &sink) == 2)
        #expect(try handle.read(limit: 2, into: &sink) == 2)
        // The fifth frame reaches the sink; the damaged record after it ends the call with an error
        // (the count of that call is lost with the throw, the sink has what it was given).
        #expect {
            _ = try handle.read(limit: 2, into: &sink)
        } throws: { error in
            guard case CaptureError.corruptCapture(let errorPath, let message) = error else { return false }
            return errorPath == path && message.contains("truncated")
        }
        #expect(sink.frames == Array(Self.expected(nanosecond: true).prefix(5)))
    }

    @Test func recordHeaderCutShort_wholeFramesBeforeItAreRead_thenCorruptCapture() throws {
        let directory = try TemporaryDirectory()
        var builder = PcapFileBuilder(linkType: .ethernet)
        let times = Self.times(nanosecond: false)
        for index in 0..<3 { builder.append(Self.frames[index], at: times[index]) }
        builder.append(Self.frames[3], at: times[3])
        var bytes = builder.takeBytes()
        bytes.removeLast(Self.frames[3].count + 8)   // the fourth record keeps half its 16-byte header
        let path = try directory.write("cut-header.pcap", bytes)
        let handle = try PcapHandle(file: path)
        var sink = CollectingSink()
        #expect {
            _ = try handle.read(limit: 64, into: &sink)
        } throws: { error in
            guard case CaptureError.corruptCapture(let errorPath, let message) = error else { return false }
            return errorPath == path && message.contains("truncated")
        }
        #expect(sink.frames.map(\.bytes) == Array(Self.frames.prefix(3)))
        #expect(sink.frames.map(\.info.timestamp) == Array(times.prefix(3)))
    }
}
