@testable import finwatch
import FinwatchCore
import FinwatchFixtures
import Foundation
import Glibc
import Testing

/// `--workers` against the kernel's PACKET_FANOUT: a veth pair in a network namespace this suite
/// creates (and deletes, whatever happens), a capture file built here replayed into one end with
/// tcpreplay, finwatch capturing on the other. Addresses from 198.18.0.0/15 only.
@Suite("live: --workers on a veth pair in a namespace of its own", .serialized) struct FanoutLiveTests {
    static let canRun = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/tcpreplay")
        && (FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip"))

    static let normal = 300, halfClosed = 50, open = 50

    @Test("--workers 2: one close record per connection, the same records as --workers 1, none lost on SIGTERM",
          .enabled(if: canRun, "needs root, iproute2 and tcpreplay"), .timeLimit(.minutes(2)))
    func twoWorkers_sameRecordsAsOne_oneClosePerConnection_nothingLostOnSIGTERM() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        let capture = lab.directory + "/traffic.pcap"
        try Self.trafficFile(normal: Self.normal, halfClosed: Self.halfClosed, open: Self.open, portBase: 10_000)
            .write(to: URL(fileURLWithPath: capture))
        var recordsByWorkers: [Int: [String: Int]] = [:]
        for workers in [1, 2] {
            let output = lab.directory + "/events-\(workers).jsonl"
            let finwatch = try lab.startFinwatch(["--workers", "\(workers)", "--output", output], output: output)
            try lab.replay(capture)
            let allNormal = ServiceSupport.waitUntil(seconds: 10) { Self.closes(in: output).count >= Self.normal }
            #expect(allNormal, "--workers \(workers): the normal closes were not all recorded")
            finwatch.signal(SIGTERM)
            let result = try finwatch.wait(seconds: 15)
            #expect(result.status == 0 && !result.signaled, "stderr: \(result.stderr)")

            let events = try ServiceSupport.events(try String(contentsOfFile: output, encoding: .utf8))
            #expect(events.last?["type"] as? String == "stop", "--workers \(workers): stop is the last line")
            let stop = try #require(events.last)
            let packets = try #require(stop["packets"] as? [String: Any])
            let capture = try #require(stop["capture"] as? [String: Any])
            #expect(packets["seen"] as? Int == Self.frameCount, "--workers \(workers): every frame seen, summed over workers")
            #expect(capture["drops_kernel"] as? Int == 0)
            let closes = ServiceSupport.of("close", events)
            #expect(closes.count == Self.normal + Self.halfClosed + Self.open, "--workers \(workers): one close each")
            let perConnection = Dictionary(grouping: closes) { ServiceSupport.origPort($0) ?? -1 }
            #expect(perConnection.count == Self.normal + Self.halfClosed + Self.open)
            #expect(perConnection.values.allSatisfy { $0.count == 1 }, "exactly one close record per connection")
            let uids = closes.compactMap { $0["uid"] as? String }
            #expect(Set(uids).count == uids.count, "uids unique within the run")
            #expect(Dictionary(grouping: closes) { $0["close"] as? String ?? "?" }.mapValues(\.count)
                    == ["normal": Self.normal, "half_closed": Self.halfClosed, "unterminated": Self.open])
            if workers == 2 {
                // Both shards had connections: shard 0 numbers them odd, shard 1 even.
                let numbers = uids.compactMap { UInt64($0.dropFirst()) }
                #expect(numbers.contains { $0 % 2 == 1 } && numbers.contains { $0 % 2 == 0 },
                        "the kernel's hash gave both workers connections")
            }
            recordsByWorkers[workers] = Dictionary(closes.map { (Self.comparable($0), 1) }, uniquingKeysWith: +)
        }
        #expect(recordsByWorkers[1] == recordsByWorkers[2], "the same close records with 1 and 2 workers")
    }

    @Test("--workers 2 and SIGHUP rotation: every close record in exactly one of the files",
          .enabled(if: canRun, "needs root, iproute2 and tcpreplay"), .timeLimit(.minutes(2)))
    func twoWorkers_sighupRotation_everyLineInExactlyOneFile() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        let output = lab.directory + "/events.jsonl"
        let finwatch = try lab.startFinwatch(["--workers", "2", "--output", output], output: output)
        let files = [output + ".1", output + ".2", output]
        var expected = 0
        for part in 0..<3 {
            let capture = lab.directory + "/part-\(part).pcap"
            try Self.trafficFile(normal: 100, halfClosed: 0, open: 0, portBase: UInt16(20_000 + part * 1_000))
                .write(to: URL(fileURLWithPath: capture))
            try lab.replay(capture)
            expected += 100
            let seen = ServiceSupport.waitUntil(seconds: 10) { files.map { Self.closes(in: $0).count }.reduce(0, +) >= expected }
            #expect(seen, "part \(part): its close records were not written")
            if part < 2 {
                #expect(rename(output, files[part]) == 0)
                finwatch.signal(SIGHUP)
                usleep(300_000)   // the reopen happens at the next housekeeping tick
            }
        }
        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 15)
        #expect(result.status == 0 && !result.signaled, "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("cannot reopen"))
        var ports: [Int] = []
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.hasSuffix("\n"), "\(file) ends with a whole line")
            let closes = ServiceSupport.of("close", try ServiceSupport.events(text))
            #expect(!closes.isEmpty, "\(file) got its share")
            ports += closes.compactMap(ServiceSupport.origPort)
        }
        #expect(ports.count == 300)
        #expect(Set(ports).count == 300, "no close record in two files")
    }

    @Test("a fanout group the kernel refuses: one line naming the interface and the kernel's reason, exit 69",
          .enabled(if: canRun, "needs root and iproute2"), .timeLimit(.minutes(1)))
    func fanoutGroupRefused_oneLine_namesInterfaceAndReason() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        // Another program's group 4242 in CPU mode, no defrag: ours (hash, defrag) cannot join it.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["ip", "netns", "exec", lab.namespace, "python3", "-c", """
            import socket, struct, sys
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            s.bind(("\(lab.captureEnd)", 0))
            s.setsockopt(263, 18, struct.pack("I", 4242 | (2 << 16)))
            print("ready", flush=True)
            sys.stdin.read()
            """]
        let input = Pipe(), ready = Pipe()
        holder.standardInput = input
        holder.standardOutput = ready
        try holder.run()
        defer {
            try? input.fileHandleForWriting.close()
            holder.waitUntilExit()
        }
        let line = String(decoding: ready.fileHandleForReading.availableData, as: UTF8.self)
        try #require(line.contains("ready"), "the other program's fanout group was not set up")

        let finwatch = try lab.startFinwatchProcess(["--workers", "2", "--output", lab.directory + "/x.jsonl"],
                                                    environment: ["FINWATCH_FANOUT_GROUP": "4242"])
        let result = try finwatch.wait(seconds: 15)
        #expect(result.status == 69, "stderr: \(result.stderr)")
        #expect(result.stderrLines.count == 1, "one line: \(result.stderr)")
        let message = result.stderrLines.first ?? ""
        #expect(message.contains("\"\(lab.captureEnd)\""), "\(message)")
        #expect(message.contains("PACKET_FANOUT group 4242"), "\(message)")
        #expect(message.contains("Invalid argument"), "the kernel's reason: \(message)")
    }

    // MARK: - Traffic

    static var frameCount: Int { normal * 7 + halfClosed * 5 + open * 3 }

    /// Ethernet frames of `normal` connections closed normally (7 segments), `halfClosed` whose
    /// client sent its FIN only (5) and `open` ones (3), one after another, 1 ms apart.
    static func trafficFile(normal: Int, halfClosed: Int, open: Int, portBase: UInt16) -> Data {
        var file = PcapFileBuilder(linkType: .ethernet)
        var time = Timestamp(seconds: 1_800_000_000)
        let server = Endpoint(ip: IPAddress("198.18.1.1")!, port: 80)
        func add(_ source: Endpoint, _ destination: Endpoint, _ flags: TCPFlags, _ sequence: UInt32, _ ack: UInt32) {
            file.append(FrameBuilder.tcp(source: source, destination: destination, sequence: sequence,
                                         acknowledgment: ack, flags: flags), at: time)
            time = time.adding(nanoseconds: 1_000_000)
        }
        for index in 0..<(normal + halfClosed + open) {
            let client = Endpoint(ip: IPAddress("198.18.0.\(index % 250 + 1)")!, port: portBase + UInt16(index))
            add(client, server, [.syn], 100, 0)
            add(server, client, [.syn, .ack], 500, 101)
            add(client, server, [.ack], 101, 501)
            if index >= normal + halfClosed { continue }
            add(client, server, [.fin, .ack], 101, 501)
            add(server, client, [.ack], 501, 102)
            if index >= normal { continue }
            add(server, client, [.fin, .ack], 501, 102)
            add(client, server, [.ack], 102, 502)
        }
        return Data(file.takeBytes())
    }

    /// The close records in `path` so far.
    static func closes(in path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
            .filter { $0.contains("\"type\":\"close\"") }.map(String.init)
    }

    /// A close record without what differs from run to run by design: the uid, the host-clock
    /// `ts`, and the live timings (durations and the sequence's ms, measured at capture).
    static func comparable(_ record: [String: Any]) -> String {
        var record = record
        record["uid"] = nil
        record["ts"] = nil
        record["durations_ms"] = nil
        if let steps = record["sequence"] as? [[String: Any]] {
            record["sequence"] = steps.map { step in step.filter { $0.key != "ms" } }
        }
        let data = (try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A network namespace with a veth pair, both ends up, named for this process; `remove()` deletes
/// it (and so both ends).
struct VethLab {
    let namespace: String
    let injectEnd: String
    let captureEnd: String
    let directory: String

    init() throws {
        let tag = "\(getpid() % 100_000)\(Int.random(in: 0..<100))"
        namespace = "fwt12-\(tag)"
        injectEnd = "fwi\(tag)"
        captureEnd = "fwc\(tag)"
        directory = try ServiceSupport.temporaryDirectory()
        try Self.ip(["netns", "add", namespace])
        do {
            try Self.ip(["-n", namespace, "link", "add", injectEnd, "type", "veth", "peer", "name", captureEnd])
            try Self.ip(["-n", namespace, "link", "set", injectEnd, "up"])
            try Self.ip(["-n", namespace, "link", "set", captureEnd, "up"])
        } catch {
            remove()
            throw error
        }
    }

    func remove() {
        _ = try? ServiceSupport.tool("/usr/bin/env", ["ip", "netns", "del", namespace])
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func ip(_ arguments: [String]) throws {
        let status = try ServiceSupport.tool("/usr/bin/env", ["ip"] + arguments)
        guard status == 0 else { throw ServiceSupport.Failure(description: "ip \(arguments.joined(separator: " ")) exited \(status)") }
    }

    /// finwatch inside the namespace on the capture end, without HTTP.
    func startFinwatchProcess(_ arguments: [String], environment: [String: String] = [:]) throws -> FinwatchProcess {
        guard let binary = FinwatchProcess.binary else { throw ServiceSupport.Failure(description: "finwatch binary not found") }
        let settings = environment.map { "\($0.key)=\($0.value)" }
        return try FinwatchProcess(executable: "/usr/bin/env", ["ip", "netns", "exec", namespace, "env"] + settings
            + [binary.path, "--interface", captureEnd, "--no-listen"] + arguments)
    }

    /// The same, once its `start` event is in `output` (bounded).
    func startFinwatch(_ arguments: [String], output: String) throws -> FinwatchProcess {
        let finwatch = try startFinwatchProcess(arguments)
        let started = ServiceSupport.waitUntil(seconds: 10) {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("\"type\":\"start\"")
        }
        guard started else {
            finwatch.signal(SIGKILL)
            _ = try? finwatch.wait(seconds: 5)
            throw ServiceSupport.Failure(description: "finwatch wrote no start event within 10 s")
        }
        return finwatch
    }

    /// Replays `capture` at top speed into the inject end; waits for tcpreplay to finish.
    func replay(_ capture: String) throws {
        let status = try ServiceSupport.tool("/usr/bin/env", [
            "ip", "netns", "exec", namespace, "tcpreplay", "--topspeed", "--intf1=\(injectEnd)", capture,
        ])
        guard status == 0 else { throw ServiceSupport.Failure(description: "tcpreplay exited \(status)") }
    }
}
