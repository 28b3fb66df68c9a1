import FinwatchCapture
import FinwatchCore
import FinwatchFixtures
import Foundation
import Testing

/// Capture files written by the test, read back through libpcap.
@Suite("PcapHandle reading files") struct PcapHandleFileTests {
    static let client = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022)
    static let server = Endpoint(ip: IPAddress("198.18.0.2")!, port: 80)
    static let other = Endpoint(ip: IPAddress("198.18.0.2")!, port: 443)

    /// Three TCP frames (two to port 80, one to 443) and one UDP datagram.
    static func frames(_ linkType: LinkType = .ethernet) -> [[UInt8]] {
        [
            FrameBuilder.tcp(linkType: linkType, source: client, destination: server, flags: .syn),
            FrameBuilder.tcp(linkType: linkType, source: server, destination: client, flags: [.syn, .ack]),
            FrameBuilder.tcp(linkType: linkType, source: client, destination: other, flags: [.fin, .ack]),
            udpFrame(),
        ]
    }

    static func udpFrame() -> [UInt8] {
        let udp: [UInt8] = [0x9c, 0x40, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]
        let ip = FrameBuilder.ipv4(source: client.ip, destination: server.ip, protocol: 17, payload: udp)
        return [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00] + ip
    }

    static let times: [Timestamp] = [
        Timestamp(seconds: 1_700_000_000, nanoseconds: 123_456_000),
        Timestamp(seconds: 1_700_000_000, nanoseconds: 223_456_000),
        Timestamp(seconds: 1_700_000_001, nanoseconds: 5_000),
        Timestamp(seconds: 1_700_000_002, nanoseconds: 0),
    ]

    static func pcap(nanosecond: Bool = false) -> [UInt8] {
        var builder = PcapFileBuilder(linkType: .ethernet, nanosecond: nanosecond)
        for (frame, time) in zip(frames(), times) { builder.append(frame, at: time) }
        return builder.takeBytes()
    }

    /// Reads every frame, copying bytes out (they are only valid in the callback).
    static func readAll(_ handle: PcapHandle) throws -> [(bytes: [UInt8], info: FrameInfo)] {
        var seen: [(bytes: [UInt8], info: FrameInfo)] = []
        for _ in 0..<100 {
            let count = try handle.dispatch(limit: 2) { span, info in
                var copy: [UInt8] = []
                for index in 0..<span.byteCount { copy.append(span.unsafeLoad(fromByteOffset: index, as: UInt8.self)) }
                seen.append((copy, info))
            }
            if count == 0 { break }
        }
        return seen
    }

    /// A file without a user filter gets no BPF program: every frame reaches the decoder, which
    /// skips what is not TCP itself (CaptureSource.open says why).
    @Test func microsecondPcap_noUserFilter_everyFrame_bytesAndTimesExact() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("four.pcap", Self.pcap())
        let handle = try CaptureSource.file(path: path).open(filter: nil)
        #expect(handle.linkType == .ethernet)
        #expect(handle.linkTypeName == "EN10MB")
        #expect(handle.isLive == false)
        #expect(handle.statistics() == nil)
        let read = try Self.readAll(handle)
        #expect(read.map(\.bytes) == Self.frames())
        #expect(read.map(\.info.timestamp) == Self.times)
        #expect(read.map(\.info.capturedLength) == Self.frames().map(\.count))
        #expect(read.map(\.info.wireLength) == Self.frames().map(\.count))
    }

    /// tcpdump's bigtcp-ipv6-hbh.pcap: one 80,000-byte TCP segment behind an IPv6 hop-by-hop
    /// header with a jumbo payload option, as BIG TCP sends on loopback and veth. BPF's `tcp`
    /// alone does not match it; finwatch's filter does, so a live capture sees it.
    @Test func captureFilter_takesBigTCPBehindHopByHop_thatTCPAloneMisses() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Corpus/tcpdump/bigtcp-ipv6-hbh.pcap").path
        let finwatch = try PcapHandle(file: path)
        try finwatch.setFilter(nil)
        let read = try Self.readAll(finwatch)
        #expect(read.count == 1)
        #expect(read.first.map { $0.info.wireLength > 65_535 } == true)
        let tcpAlone = try PcapHandle(file: path)
        try tcpAlone.setFilter("tcp")   // "(… our filter …) and (tcp)": BPF's tcp decides, and drops it
        #expect(try Self.readAll(tcpAlone).isEmpty)
    }

    @Test func tcpFilterAlone_onAFile_stillDropsTheUDPFrame() throws {
        let directory = try TemporaryDirectory()
        let handle = try PcapHandle(file: try directory.write("four.pcap", Self.pcap()))
        try handle.setFilter(nil)
        #expect(try Self.readAll(handle).map(\.bytes) == Array(Self.frames().prefix(3)))
    }

    @Test func nanosecondPcap_keepsNanoseconds() throws {
        let directory = try TemporaryDirectory()
        var builder = PcapFileBuilder(linkType: .ethernet, nanosecond: true)
        let time = Timestamp(seconds: 1_700_000_000, nanoseconds: 123_456_789)
        builder.append(Self.frames()[0], at: time)
        let handle = try PcapHandle(file: try directory.write("nano.pcap", builder.takeBytes()))
        try handle.setFilter(nil)
        #expect(try Self.readAll(handle).map(\.info.timestamp) == [time])
    }

    @Test func pcapng_readsFrames() throws {
        let directory = try TemporaryDirectory()
        var builder = PcapNGFileBuilder(linkType: .ethernet)
        for (frame, time) in zip(Self.frames(), Self.times) { builder.append(frame, at: time) }
        let handle = try CaptureSource.file(path: try directory.write("four.pcapng", builder.takeBytes())).open(filter: nil)
        let read = try Self.readAll(handle)
        #expect(read.map(\.bytes) == Self.frames())
        #expect(read.map(\.info.timestamp) == Self.times)
        #expect(read.allSatisfy { $0.info.interfaceIndex == nil })
    }

    @Test func userFilter_isANDedWithTCP() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("four.pcap", Self.pcap())
        let handle = try CaptureSource.file(path: path).open(filter: "port 80 or udp")
        // The UDP frame matches the user's filter but not "tcp": only the two port-80 frames pass.
        #expect(try Self.readAll(handle).map(\.bytes) == Array(Self.frames().prefix(2)))
    }

    @Test func blankFilter_onAFile_isNoFilter() throws {
        let directory = try TemporaryDirectory()
        let handle = try CaptureSource.file(path: try directory.write("f.pcap", Self.pcap())).open(filter: "  ")
        #expect(try Self.readAll(handle).count == 4)
    }

    @Test func invalidFilter_namesTheUsersTextAndLibpcapsMessage() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("four.pcap", Self.pcap())
        #expect {
            _ = try CaptureSource.file(path: path).open(filter: "tcp port")
        } throws: { error in
            guard case CaptureError.invalidFilter(let filter, let message) = error else { return false }
            return filter == "tcp port" && message.contains("syntax error")
        }
    }

    @Test func missingFile_isFileNotFound() {
        #expect(throws: CaptureError.fileNotFound("/nonexistent/finwatch/x.pcap")) {
            _ = try PcapHandle(file: "/nonexistent/finwatch/x.pcap")
        }
    }

    @Test func directory_isUnreadable() throws {
        let directory = try TemporaryDirectory()
        #expect(throws: CaptureError.fileUnreadable(path: directory.path, reason: "it is a directory")) {
            _ = try PcapHandle(file: directory.path)
        }
    }

    @Test func textFile_isNotACapture_withLibpcapsMessage() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("notes.txt", Array("just some text, certainly not a capture\n".utf8))
        #expect {
            _ = try PcapHandle(file: path)
        } throws: { error in
            guard case CaptureError.notACapture(let errorPath, let message) = error else { return false }
            return errorPath == path && message.contains("unknown file format")
        }
    }

    @Test func emptyFile_isNotACapture() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("empty.pcap", [])
        #expect {
            _ = try PcapHandle(file: path)
        } throws: { error in
            if case CaptureError.notACapture = error { return true }
            return false
        }
    }

    @Test func recordCutShort_framesBeforeItAreRead_thenCorruptCapture() throws {
        let directory = try TemporaryDirectory()
        var builder = PcapFileBuilder(linkType: .ethernet)
        builder.append(Self.frames()[0], at: Self.times[0])
        builder.append(Self.frames()[1], at: Self.times[1], capturedLength: 500)   // claims more than follows
        let handle = try PcapHandle(file: try directory.write("cut.pcap", builder.takeBytes()))
        var frames = 0
        #expect {
            for _ in 0..<10 { _ = try handle.dispatch(limit: -1) { _, _ in frames += 1 } }
        } throws: { error in
            guard case CaptureError.corruptCapture(_, let message) = error else { return false }
            return message.contains("truncated")
        }
        #expect(frames == 1)
    }

    @Test func unsupportedLinkType_opensWithNilLinkType() throws {
        let directory = try TemporaryDirectory()
        var empty = PcapFileBuilder(linkType: .ethernet)
        var bytes = empty.takeBytes()
        bytes[20] = 147   // LINKTYPE_USER0, little-endian network field at offset 20
        let handle = try PcapHandle(file: try directory.write("user0.pcap", bytes))
        #expect(handle.linkType == nil)
        #expect(handle.linkTypeName == "DLT_147")                 // libpcap has no name for it
        // libpcap cannot filter USER0: the filter is checked, not installed, and bad ones still fail.
        try handle.setFilter("port 80")
        #expect(throws: CaptureError.invalidFilter(filter: "port", message: "can't parse filter expression: syntax error")) {
            try handle.setFilter("port")
        }
    }
}

/// A fresh directory under the system temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "finwatch-capture-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }   // best effort: /tmp is cleaned anyway

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}
