@testable import finwatch
import FinwatchCapture
import FinwatchCore
import FinwatchFixtures
import Foundation
import Testing

// The three-stage pipeline (Pipeline.swift, TrackerStage.swift): the capture thread decodes
// frames into a `SegmentBatch` (segments, plus the times of frames that were not segments); the
// tracker's queue replays each batch in capture order, moving the packet clock on every frame,
// TCP or not. These tests pin that down twice: in-process (`FrameDecoder` → `TrackerState`, no
// capture filter in the way) and end to end (a pcap written with `PcapFileBuilder`, read by the
// real binary, so libpcap, a capture filter where `--filter` is given, batching and the output
// stage all take part).

/// Frames and times for the pipeline tests. One connection goes to CLOSE_WAIT at 0.1 s (the resp
/// side never closes); with `--close-wait-threshold 1s` its alert is due at 1.1 s, and fires on
/// the first frame whose time is past that.
enum StageFixture {
    static let base = Timestamp(seconds: 1_800_000_000)
    static func at(_ seconds: Double) -> Timestamp { base.adding(nanoseconds: Int64((seconds * 1e9).rounded())) }
    static let closeWaitThreshold: Int64 = 1_000_000_000

    static let orig = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022)
    static let resp = Endpoint(ip: IPAddress("198.18.0.2")!, port: 80)
    /// Another connection, unrelated to the one in CLOSE_WAIT.
    static let otherOrig = Endpoint(ip: IPAddress("198.18.0.3")!, port: 40100)
    static let otherResp = Endpoint(ip: IPAddress("198.18.0.4")!, port: 443)

    typealias Timed = (frame: [UInt8], time: Timestamp)

    static func tcp(_ from: Endpoint, _ to: Endpoint, seq: UInt32, ack: UInt32 = 0, _ flags: TCPFlags) -> [UInt8] {
        FrameBuilder.tcp(source: from, destination: to, sequence: seq, acknowledgment: ack, flags: flags)
    }

    /// Handshake at 0, 1, 2 ms; orig's FIN at 100 ms (resp enters CLOSE_WAIT), resp's ACK at 100.5 ms.
    static var intoCloseWait: [Timed] {
        [(tcp(orig, resp, seq: 1000, .syn), at(0)),
         (tcp(resp, orig, seq: 5000, ack: 1001, [.syn, .ack]), at(0.001)),
         (tcp(orig, resp, seq: 1001, ack: 5001, .ack), at(0.002)),
         (tcp(orig, resp, seq: 1001, ack: 5001, [.fin, .ack]), at(0.1)),
         (tcp(resp, orig, seq: 5001, ack: 1002, .ack), at(0.1005))]
    }

    /// A SYN of the unrelated connection.
    static var unrelatedSYN: [UInt8] { tcp(otherOrig, otherResp, seq: 77, .syn) }

    /// A UDP datagram (DNS query header only) between the same hosts.
    static var udp: [UInt8] {
        let header: [UInt8] = [0x9C, 0x40, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]   // 40000 → 53, length 8
        return FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv4(source: orig.ip, destination: resp.ip,
                                                                      protocol: 17, payload: header))
    }

    /// An ARP request (RFC 826) for 198.18.0.2.
    static var arp: [UInt8] {
        var body: [UInt8] = [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]      // Ethernet, IPv4, request
        body += [0x02, 0, 0, 0, 0, 0x01] + orig.ip.bytes                      // sender
        body += [0, 0, 0, 0, 0, 0] + resp.ip.bytes                            // target
        return FrameBuilder.ethernet(etherType: 0x0806, payload: body)
    }

    /// An IPv4 packet of protocol 6 whose TCP header claims a data offset of 2 words (below 5):
    /// it passes the `tcp` capture filter and fails to decode (malformed).
    static var badDataOffset: [UInt8] {
        let header = FrameBuilder.tcpHeader(sourcePort: otherOrig.port, destinationPort: otherResp.port,
                                            flags: .ack, dataOffsetWords: 2)
        return FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv4(source: otherOrig.ip, destination: otherResp.ip,
                                                                      payload: header))
    }

    /// A non-first IPv4 fragment of a TCP packet: it passes the `tcp` capture filter, and has no
    /// TCP header, so it is skipped (not TCP to the tracker, not malformed either).
    static var laterFragment: [UInt8] {
        FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv4(source: otherOrig.ip, destination: otherResp.ip,
                                                               payload: [UInt8](repeating: 0, count: 64),
                                                               fragmentOffset: 185))
    }
}

// MARK: - In process: FrameDecoder → SegmentBatch → TrackerState

/// Stage one and stage two on this thread: frames decoded into batches, batches applied to the
/// table on the packet clock, events collected. No libpcap, so no capture filter either.
struct InProcessPipeline: ~Copyable {
    var decoder = FrameDecoder(linkType: .ethernet)
    var state: TrackerState

    init(linkType: LinkType? = .ethernet, start: RunStart? = nil) {
        decoder = FrameDecoder(linkType: linkType)
        var configuration = TrackerConfiguration()
        configuration.closeWaitThreshold = StageFixture.closeWaitThreshold
        state = TrackerState(table: ConnectionTable(configuration: configuration), clock: .packet)
        state.pendingStart = start
    }

    mutating func decode(_ frames: [StageFixture.Timed]) {
        for (frame, time) in frames {
            decoder.frame(frame.span.bytes, FrameInfo(timestamp: time, capturedLength: frame.count, wireLength: frame.count))
        }
    }

    /// Hands what was decoded so far to the tracker as one batch.
    mutating func submit() { state.apply(decoder.takeBatch()) }

    var events: [Event] { state.events }
    var alerts: [AlertEvent] { state.events.compactMap { if case .alert(let a) = $0 { a } else { nil } } }
}

@Suite("tracker stage: frame decoder")
struct FrameDecoderTests {
    @Test func mixedFrames_keepSegmentsAndOtherFramesInCaptureOrder() {
        var pipeline = InProcessPipeline()
        pipeline.decode([
            (StageFixture.udp, StageFixture.at(1)),                                  // before segment 0
            (StageFixture.unrelatedSYN, StageFixture.at(2)),                         // segment 0
            (StageFixture.arp, StageFixture.at(3)),                                  // before segment 1
            (StageFixture.badDataOffset, StageFixture.at(4)),                        // before segment 1
            (StageFixture.tcp(StageFixture.otherResp, StageFixture.otherOrig, seq: 9, ack: 78, [.syn, .ack]),
             StageFixture.at(5)),                                                    // segment 1
            (StageFixture.laterFragment, StageFixture.at(6)),                        // after the last segment
        ])
        let batch = pipeline.decoder.takeBatch()
        #expect(batch.segments.map(\.timestamp) == [StageFixture.at(2), StageFixture.at(5)])
        #expect(batch.otherFrames.map(\.position) == [0, 1, 1, 2])
        #expect(batch.otherFrames.map(\.time) == [StageFixture.at(1), StageFixture.at(3), StageFixture.at(4), StageFixture.at(6)])
        #expect(pipeline.decoder.seen == 6)
        #expect(pipeline.decoder.decoded == 2)
        #expect(pipeline.decoder.malformed == 1)                                     // the bad data offset
        #expect(pipeline.decoder.skipped == 3)                                       // UDP, ARP, the fragment
        #expect(pipeline.decoder.lastPacketTime == StageFixture.at(6))
        // The decoder starts a fresh batch; its counters keep counting the run.
        #expect(pipeline.decoder.batch.isEmpty)
        #expect(pipeline.decoder.takeBatch().isEmpty)
    }

    @Test func unknownLinkType_everyFrameIsAnOtherFrameWithItsTime() {
        var pipeline = InProcessPipeline(linkType: nil)
        pipeline.decode([(StageFixture.unrelatedSYN, StageFixture.at(1)), (StageFixture.udp, StageFixture.at(2))])
        let batch = pipeline.decoder.takeBatch()
        #expect(batch.segments.isEmpty)
        #expect(batch.otherFrames.map(\.position) == [0, 0])
        #expect(batch.otherFrames.map(\.time) == [StageFixture.at(1), StageFixture.at(2)])
        #expect((pipeline.decoder.seen, pipeline.decoder.skipped, pipeline.decoder.decoded) == (2, 2, 0))
    }

    @Test func lastPacketTime_isTheLatestTimeNotTheLastFrames() {
        var pipeline = InProcessPipeline()
        pipeline.decode([(StageFixture.udp, StageFixture.at(3)), (StageFixture.unrelatedSYN, StageFixture.at(2))])
        #expect(pipeline.decoder.lastPacketTime == StageFixture.at(3))
    }
}

@Suite("tracker stage: the packet clock moves on every frame")
struct TrackerStateClockTests {
    /// CLOSE_WAIT from 0.1 s, then `other` at 2.0 s, then the unrelated SYN at 5 s: the alert
    /// (due at 1.1 s) fires on `other`, stamped with its time.
    static func firingAlert(after other: [UInt8], split: Bool = false) throws -> AlertEvent {
        var pipeline = InProcessPipeline()
        pipeline.decode(StageFixture.intoCloseWait)
        pipeline.decode([(other, StageFixture.at(2.0))])
        if split { pipeline.submit() }   // `other` is then the last frame of its batch
        pipeline.decode([(StageFixture.unrelatedSYN, StageFixture.at(5.0))])
        pipeline.submit()
        #expect(pipeline.alerts.count == 1)
        return try #require(pipeline.alerts.first)
    }

    @Test("a frame that is not a TCP segment fires a due alert at its own time",
          arguments: [("UDP", StageFixture.udp), ("ARP", StageFixture.arp), ("bad data offset", StageFixture.badDataOffset),
                      ("later fragment", StageFixture.laterFragment)])
    func nonTCPFrame_firesDueAlertAtItsTime(kind: String, frame: [UInt8]) throws {
        let alert = try Self.firingAlert(after: frame)
        #expect(alert.alert == .closeWaitLingering && alert.status == .firing && alert.side == .resp, "\(kind)")
        #expect(alert.time == StageFixture.at(2.0), "\(kind): fired at \(alert.time.rfc3339)")
        #expect(alert.since == StageFixture.at(0.1))
        #expect(alert.duration == 1_900_000_000)
    }

    @Test func nonTCPFrameLastInItsBatch_stillMovesTheClockBeforeTheNextBatch() throws {
        let alert = try Self.firingAlert(after: StageFixture.udp, split: true)
        #expect(alert.time == StageFixture.at(2.0))
    }

    @Test func batchBoundaries_doNotChangeTheEvents() {
        let frames: [StageFixture.Timed] = StageFixture.intoCloseWait + [
            (StageFixture.arp, StageFixture.at(1.5)), (StageFixture.udp, StageFixture.at(2.0)),
            (StageFixture.unrelatedSYN, StageFixture.at(2.5)), (StageFixture.badDataOffset, StageFixture.at(3.0)),
            (StageFixture.tcp(StageFixture.resp, StageFixture.orig, seq: 5001, ack: 1002, [.fin, .ack]), StageFixture.at(4.0)),
            (StageFixture.tcp(StageFixture.orig, StageFixture.resp, seq: 1002, ack: 5002, .ack), StageFixture.at(4.1)),
        ]
        var whole = InProcessPipeline()
        whole.decode(frames)
        whole.submit()
        #expect(whole.alerts.map(\.status) == [.firing, .resolved])
        #expect(whole.events.contains { if case .close = $0 { true } else { false } })
        for cut in 1..<frames.count {
            var split = InProcessPipeline()
            split.decode(Array(frames[..<cut]))
            split.submit()
            split.decode(Array(frames[cut...]))
            split.submit()
            #expect(split.events == whole.events, "cut after frame \(cut)")
        }
    }

    @Test func pendingStart_takesTheFirstFramesTime_evenWhenItIsNotTCP() throws {
        let start = RunStart(time: Timestamp(nanoseconds: 0), version: "test", sourceKind: .file, source: "x.pcap",
                             filter: "", linkType: "EN10MB", thresholds: [], maxConnections: 16)
        var pipeline = InProcessPipeline(start: start)
        pipeline.decode([(StageFixture.udp, StageFixture.at(0.25))] + StageFixture.intoCloseWait)
        pipeline.submit()
        guard case .start(let written) = try #require(pipeline.events.first) else {
            Issue.record("first event is not start: \(pipeline.events)")
            return
        }
        #expect(written.time == StageFixture.at(0.25))
        #expect(pipeline.events.count { if case .start = $0 { true } else { false } } == 1)
        #expect(pipeline.state.pendingStart == nil)
    }
}

// MARK: - End to end: the real binary on a pcap file

/// Writes captures to a temporary directory and runs finwatch on them.
struct CaptureRun {
    struct Output {
        var status: Int32
        var lines: [String]
        var objects: [[String: Any]]
        var stderr: String

        var start: [String: Any]? { objects.first { $0["type"] as? String == "start" } }
        var stop: [String: Any]? { objects.last { $0["type"] as? String == "stop" } }
        var firing: [[String: Any]] {
            objects.filter { $0["type"] as? String == "alert" && $0["status"] as? String == "firing" }
        }
        var packets: [String: Any]? { stop?["packets"] as? [String: Any] }
        /// The connection events' lines (close, alert, anomaly), in output order.
        var connectionLines: [String] {
            zip(lines, objects).filter { ["close", "alert", "anomaly"].contains($0.1["type"] as? String ?? "") }.map(\.0)
        }
    }

    static func pcap(_ frames: [StageFixture.Timed], linkType: LinkType = .ethernet) -> [UInt8] {
        var builder = PcapFileBuilder(linkType: linkType)
        for (frame, time) in frames { builder.append(frame, at: time) }
        return builder.takeBytes()
    }

    static func run(_ bytes: [UInt8], arguments: [String] = ["--close-wait-threshold", "1s"]) throws -> Output {
        let path = NSTemporaryDirectory() + "finwatch-stage-\(UUID().uuidString).pcap"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try FinwatchProcess.run(["--read", path] + arguments, seconds: 60)
        #expect(!result.signaled, "finwatch crashed: \(result.stderr)")
        return Output(status: result.status, lines: result.stdoutLines,
                      objects: try FinwatchProcess.jsonObjects(result.stdoutLines), stderr: result.stderr)
    }
}

@Suite("tracker stage: end to end")
struct TrackerStageEndToEndTests {
    static func rfc3339(_ time: Timestamp) -> String { time.rfc3339 }

    /// CLOSE_WAIT at 0.1 s, `other` at 2.0 s, an unrelated SYN at 5 s, through the binary.
    static func closeWaitThenOther(_ other: [UInt8]) throws -> CaptureRun.Output {
        try CaptureRun.run(CaptureRun.pcap(StageFixture.intoCloseWait + [
            (other, StageFixture.at(2.0)), (StageFixture.unrelatedSYN, StageFixture.at(5.0)),
        ]))
    }

    @Test func malformedTCPFrame_movesTheClock_alertFiresAtItsTime() throws {
        let output = try Self.closeWaitThenOther(StageFixture.badDataOffset)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.firing.count == 1)
        let firing = try #require(output.firing.first, "\(output.lines)")
        #expect(firing["alert"] as? String == "close_wait_lingering")
        #expect(firing["ts"] as? String == Self.rfc3339(StageFixture.at(2.0)))
        #expect(firing["since"] as? String == Self.rfc3339(StageFixture.at(0.1)))
        #expect(firing["duration_ms"] as? Double == 1900.0)
        #expect(output.packets?["seen"] as? Int == 7)
        #expect(output.packets?["malformed"] as? Int == 1)
        #expect(output.packets?["decoded"] as? Int == 6)
    }

    @Test func laterIPv4Fragment_movesTheClock_alertFiresAtItsTime() throws {
        let output = try Self.closeWaitThenOther(StageFixture.laterFragment)
        #expect(output.status == 0, "\(output.stderr)")
        let firing = try #require(output.firing.first, "\(output.lines)")
        #expect(firing["ts"] as? String == Self.rfc3339(StageFixture.at(2.0)))
        #expect(output.packets?["seen"] as? Int == 7)
        #expect(output.packets?["skipped"] as? Int == 1)
    }

    /// Offline without `--filter` no BPF program is installed (CaptureSource.open): UDP and ARP
    /// frames reach the decoder, are counted as seen and skipped, and move the packet clock like
    /// any other frame, so the alert fires at their time.
    @Test("UDP and ARP offline without --filter: seen, skipped, and the alert fires at their time",
          arguments: [("UDP", StageFixture.udp), ("ARP", StageFixture.arp)])
    func nonTCPFrame_withoutUserFilter_isSeenAndMovesTheClock(kind: String, frame: [UInt8]) throws {
        let output = try Self.closeWaitThenOther(frame)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.packets?["seen"] as? Int == 7, "\(kind)")
        #expect(output.packets?["skipped"] as? Int == 1, "\(kind)")
        let firing = try #require(output.firing.first, "\(output.lines)")
        #expect(firing["ts"] as? String == Self.rfc3339(StageFixture.at(2.0)), "\(kind)")
    }

    /// With `--filter`, libpcap filters the file with finwatch's `tcp` filter ANDed with it, as it would a live capture:
    /// UDP and ARP never reach finwatch, are not seen and cannot move the clock, so the alert
    /// waits for the next TCP frame (5 s).
    @Test("UDP and ARP are removed by tcp and --filter: not seen, the alert fires at the next TCP frame",
          arguments: [("UDP", StageFixture.udp), ("ARP", StageFixture.arp)])
    func filteredFrame_isNotSeen(kind: String, frame: [UInt8]) throws {
        let output = try CaptureRun.run(CaptureRun.pcap(StageFixture.intoCloseWait + [
            (frame, StageFixture.at(2.0)), (StageFixture.unrelatedSYN, StageFixture.at(5.0)),
        ]), arguments: ["--close-wait-threshold", "1s", "--filter", "net 198.18.0.0/15"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.packets?["seen"] as? Int == 6, "\(kind)")
        let firing = try #require(output.firing.first, "\(output.lines)")
        #expect(firing["ts"] as? String == Self.rfc3339(StageFixture.at(5.0)), "\(kind)")
    }

    @Test("start is stamped with the first frame's time when that frame is not a TCP segment",
          arguments: [("bad data offset", StageFixture.badDataOffset), ("later fragment", StageFixture.laterFragment)])
    func start_takesFirstFrameTime_whenNotTCP(kind: String, frame: [UInt8]) throws {
        let output = try CaptureRun.run(CaptureRun.pcap([(frame, StageFixture.at(0.5))] + StageFixture.intoCloseWait.map {
            ($0.frame, $0.time.adding(nanoseconds: 1_000_000_000))
        }))
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.objects.first?["type"] as? String == "start", "\(kind)")
        #expect(output.start?["ts"] as? String == Self.rfc3339(StageFixture.at(0.5)), "\(kind)")
        #expect(output.packets?["seen"] as? Int == 6)
    }

    @Test func unknownLinkType_startAtFirstFrame_everyFrameSeenAndSkipped() throws {
        var bytes = CaptureRun.pcap([(StageFixture.unrelatedSYN, StageFixture.at(0.75)),
                                     (StageFixture.unrelatedSYN, StageFixture.at(1.25))])
        bytes.replaceSubrange(20..<24, with: [147, 0, 0, 0])   // LINKTYPE_USER0: finwatch decodes nothing
        let output = try CaptureRun.run(bytes)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.objects.map { $0["type"] as? String } == ["start", "stop"])
        #expect(output.start?["ts"] as? String == Self.rfc3339(StageFixture.at(0.75)))
        #expect(output.stop?["ts"] as? String == Self.rfc3339(StageFixture.at(1.25)))
        #expect(output.packets?["seen"] as? Int == 2)
        #expect(output.packets?["skipped"] as? Int == 2)
    }

    @Test func emptyFile_writesStartThenStop_exitsZero() throws {
        let output = try CaptureRun.run(CaptureRun.pcap([]))
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.objects.map { $0["type"] as? String } == ["start", "stop"])
        // No frame gives the start its time: the end of an empty input is the epoch.
        #expect(output.start?["ts"] as? String == "1970-01-01T00:00:00.000000Z")
        #expect(output.stop?["ts"] as? String == "1970-01-01T00:00:00.000000Z")
        #expect(output.stop?["reason"] as? String == "end_of_input")
        #expect(output.packets?["seen"] as? Int == 0)
        #expect(output.stop?["events_written"] as? Int == 1)
    }
}

// MARK: - Several batches

/// Connections in groups of `groupSize`, each group's segments step by step (every connection's
/// SYN, then every SYN+ACK, …), so a connection spans its whole group and the groups that
/// straddle frame 4,096 and 8,192 have connections opened in one batch and closed in the next.
/// Three teardowns in turn: orig closes first, resp closes first, resp resets in CLOSE_WAIT.
/// One malformed frame and one later fragment per group, mid-teardown.
enum ManyBatches {
    static let groupSize = 100
    static let groups = 14
    static let server = Endpoint(ip: IPAddress("198.19.0.1")!, port: 80)

    struct Frame {
        var bytes: [UInt8]
        var time: Timestamp
        /// Index of the connection in the whole file, nil for the non-TCP frames.
        var connection: Int?
        var closes: Bool
    }

    static func client(_ connection: Int) -> Endpoint {
        Endpoint(ip: IPAddress(ipv4: 0xC612_0100 | UInt32(connection / 1000)), port: UInt16(20_000 + connection % 1000))
    }

    /// One group's frames, in file order, at the same times in the big file and alone.
    static func group(_ g: Int) -> [Frame] {
        let groupStart = StageFixture.base.adding(nanoseconds: Int64(g) * 1_000_000_000)
        var frames: [Frame] = []
        for step in 0..<7 {
            for c in 0..<groupSize {
                let n = g * groupSize + c
                let (o, r) = (client(n), server)
                let time = groupStart.adding(nanoseconds: Int64(step) * 100_000_000 + Int64(c) * 500_000)
                let segment: (from: Endpoint, to: Endpoint, seq: UInt32, ack: UInt32, flags: TCPFlags)?
                switch (step, c % 3) {
                case (0, _): segment = (o, r, 1000, 0, .syn)
                case (1, _): segment = (r, o, 5000, 1001, [.syn, .ack])
                case (2, _): segment = (o, r, 1001, 5001, .ack)
                // orig closes first
                case (3, 0): segment = (o, r, 1001, 5001, [.fin, .ack])
                case (4, 0): segment = (r, o, 5001, 1002, .ack)
                case (5, 0): segment = (r, o, 5001, 1002, [.fin, .ack])
                case (6, 0): segment = (o, r, 1002, 5002, .ack)
                // resp closes first
                case (3, 1): segment = (r, o, 5001, 1001, [.fin, .ack])
                case (4, 1): segment = (o, r, 1001, 5002, .ack)
                case (5, 1): segment = (o, r, 1001, 5002, [.fin, .ack])
                case (6, 1): segment = (r, o, 5002, 1002, .ack)
                // resp resets in CLOSE_WAIT
                case (3, _): segment = (o, r, 1001, 5001, [.fin, .ack])
                case (4, _): segment = (r, o, 5001, 1002, .ack)
                case (5, _): segment = (r, o, 5001, 1002, [.rst, .ack])
                default: segment = nil
                }
                guard let segment else { continue }
                frames.append(Frame(bytes: StageFixture.tcp(segment.from, segment.to, seq: segment.seq, ack: segment.ack, segment.flags),
                                    time: time, connection: n, closes: (c % 3 == 2) ? step == 5 : step == 6))
            }
            if step == 3 {
                frames.append(Frame(bytes: StageFixture.badDataOffset, time: groupStart.adding(nanoseconds: 360_000_000),
                                    connection: nil, closes: false))
                frames.append(Frame(bytes: StageFixture.laterFragment, time: groupStart.adding(nanoseconds: 361_000_000),
                                    connection: nil, closes: false))
            }
        }
        return frames
    }

    static func pcap(_ frames: [Frame]) -> [UInt8] { CaptureRun.pcap(frames.map { ($0.bytes, $0.time) }) }

    /// `line` with its uid number moved by `offset`.
    static func renumbered(_ line: String, by offset: Int) throws -> String {
        let object = try #require(try FinwatchProcess.jsonObjects([line]).first)
        let uid = try #require(object["uid"] as? String)
        let number = try #require(Int(uid.dropFirst()))
        return line.replacingOccurrences(of: #""uid":"\#(uid)""#, with: #""uid":"C\#(number + offset)""#)
    }
}

@Suite("tracker stage: several batches")
struct ManyBatchesTests {
    @Test(.timeLimit(.minutes(5)))
    func connectionsClosingAcrossBatches_sameEventsAsEachGroupAlone_countsExact() throws {
        let groups = (0..<ManyBatches.groups).map(ManyBatches.group)
        let frames = groups.flatMap { $0 }
        let batch = OfflineRun.batchSize
        #expect(frames.count > 2 * batch)

        // The test's own premise: some connections open in one batch and close in a later one.
        var firstFrame: [Int: Int] = [:], closeFrame: [Int: Int] = [:]
        for (index, frame) in frames.enumerated() {
            guard let n = frame.connection else { continue }
            if firstFrame[n] == nil { firstFrame[n] = index }
            if frame.closes { closeFrame[n] = index }
        }
        #expect(closeFrame.count == ManyBatches.groups * ManyBatches.groupSize)
        for boundary in [batch, 2 * batch] {
            let straddling = firstFrame.keys.filter { firstFrame[$0]! < boundary && closeFrame[$0]! >= boundary }
            #expect(straddling.count > 10, "no connection straddles frame \(boundary)")
        }

        let whole = try CaptureRun.run(ManyBatches.pcap(frames))
        #expect(whole.status == 0, "\(whole.stderr)")
        let stop = try #require(whole.stop)
        #expect(whole.lines.last.map { $0.contains(#""type":"stop""#) } == true)
        let tcpFrames = frames.count { $0.connection != nil }
        #expect(whole.packets?["seen"] as? Int == frames.count)
        #expect(whole.packets?["decoded"] as? Int == tcpFrames)
        #expect(whole.packets?["malformed"] as? Int == ManyBatches.groups)
        #expect(whole.packets?["skipped"] as? Int == ManyBatches.groups)
        #expect(stop["events_written"] as? Int == whole.lines.count - 1)

        // Every connection closed once, in the order of its close, with the teardown it had.
        let closes = whole.objects.filter { $0["type"] as? String == "close" }
        #expect(closes.count == ManyBatches.groups * ManyBatches.groupSize)
        #expect(Set(closes.compactMap { $0["uid"] as? String }).count == closes.count)
        let expectedKinds = ["normal", "normal", "reset_after_fin"]
        let expectedClosers = ["orig", "resp", "orig"]
        for close in closes {
            let uid = try #require(close["uid"] as? String)
            let c = (try #require(Int(uid.dropFirst())) - 1) % ManyBatches.groupSize
            #expect(close["close"] as? String == expectedKinds[c % 3], "\(uid)")
            #expect(close["active_closer"] as? String == expectedClosers[c % 3], "\(uid)")
        }

        // Each group alone (one batch) writes the same lines, in the same order, uids apart.
        var offset = 0
        var alone: [String] = []
        for group in groups {
            let small = try CaptureRun.run(ManyBatches.pcap(group))
            #expect(small.status == 0, "\(small.stderr)")
            alone += try small.connectionLines.map { try ManyBatches.renumbered($0, by: offset) }
            offset += ManyBatches.groupSize
        }
        let got = whole.connectionLines
        #expect(got.count == alone.count)
        for (index, (a, b)) in zip(got, alone).enumerated() where a != b {
            Issue.record("connection event \(index + 1) differs:\n several batches: \(a)\n group alone: \(b)")
            break
        }
    }
}
