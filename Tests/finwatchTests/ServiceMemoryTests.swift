import FinwatchCore
import FinwatchFixtures
import Foundation
import Glibc
import Testing

/// Evidence for the memory bound: a flood of a million distinct 4-tuples, far more than
/// `--max-connections`, must leave finwatch's peak RSS under `base + N × perConnection`.
/// docs/operations.md ("Memory bound") states the same formulas and their figures at the default N.
@Suite("service: memory bound", .serialized) struct ServiceMemoryTests {
    /// What the table may cost per tracked connection, with margin: measured at about 300 B per
    /// unanswered SYN (peak RSS at 262,144 minus at 100,000, over the difference); allowed 400 B.
    static let bytesPerConnection = 400
    /// The same for a FIN on every 4-tuple: each starts a half-closed connection with a teardown
    /// (its phase times and close sequence), and half-closed ones are evicted last. Measured at
    /// about 440 B (peak RSS at 100,000 and 200,000, release build); allowed 700 B.
    static let bytesPerHalfClosed = 700
    /// The process without connections: Swift runtime, Foundation, libpcap, writer buffers.
    /// Measured at 25–28 MiB for a run that tracks 1,000; allowed 32 MiB.
    static let baseBytes = 32 << 20
    static let flows = 1_000_000
    static let maxConnections = 100_000

    /// The bound this test enforces for `connections` tracked at most.
    static func bound(connections: Int, perConnection: Int = bytesPerConnection) -> Int {
        baseBytes + connections * perConnection
    }

    /// One segment on each of a million 4-tuples, and what each tracked connection may cost.
    enum Flood: String, CaseIterable, CustomTestStringConvertible {
        case syn = "SYN", fin = "FIN"

        var flags: TCPFlags { self == .syn ? .syn : [.fin, .ack] }
        var bytesPerConnection: Int { self == .syn ? ServiceMemoryTests.bytesPerConnection : ServiceMemoryTests.bytesPerHalfClosed }
        var testDescription: String { "\(rawValue) flood, \(bytesPerConnection) B a connection" }
    }

    @Test("a 1,000,000-tuple flood with --max-connections 100000 stays under 32 MiB + N × its bytes a connection",
          .timeLimit(.minutes(2)), arguments: Flood.allCases)
    func flood_peakRSS_underBound(_ flood: Flood) throws {
        let directory = NSTemporaryDirectory() + "finwatch-memory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let capture = directory + "/flood.pcap"
        try Self.writeFlood(to: capture, flows: Self.flows, flags: flood.flags)

        let started = Date()
        let run = try Self.spawnMeasuringRSS(["--read", capture, "--max-connections", "\(Self.maxConnections)",
                                              "--output", "/dev/null"], stderrPath: directory + "/stderr")
        let seconds = Date().timeIntervalSince(started)
        let bound = Self.bound(connections: Self.maxConnections, perConnection: flood.bytesPerConnection)
        print("service: \(flood.rawValue) flood of \(Self.flows) tuples, --max-connections \(Self.maxConnections): peak RSS "
              + "\(run.peakRSS / 1024) KiB in \(String(format: "%.1f", seconds)) s; bound \(bound / 1024) KiB")
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.peakRSS > 0)
        #expect(run.peakRSS < bound, "peak RSS \(run.peakRSS) B over the bound \(bound) B")
    }

    // MARK: - The capture

    /// One SYN (or `flags`) per flow, 1 µs apart, from 198.18.0.0/15 sources to 198.19.255.1:80,
    /// written in chunks so the test never holds the whole file (about 70 MB) in memory.
    static func writeFlood(to path: String, flows: Int, flags: TCPFlags) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let file = FileHandle(forWritingAtPath: path) else {
            throw ServiceSupport.Failure(description: "cannot create \(path)")
        }
        defer { try? file.close() }
        var builder = PcapFileBuilder(linkType: .ethernet, nanosecond: true)
        let destination = Endpoint(ip: IPAddress(ipv4: 0xC613_FF01), port: 80)   // 198.19.255.1
        let start = Timestamp(seconds: 1_800_000_000)
        for flow in 0..<flows {
            // 65,536 source addresses × ports from 1024: every 4-tuple distinct.
            let source = Endpoint(ip: IPAddress(ipv4: 0xC612_0000 | UInt32(flow & 0xFFFF)),
                                  port: UInt16(1024 + flow >> 16))
            let frame = FrameBuilder.tcp(source: source, destination: destination,
                                         sequence: UInt32(truncatingIfNeeded: flow &* 2_654_435_761), flags: flags)
            builder.append(frame, at: start.adding(nanoseconds: Int64(flow) * 1000))
            if flow % 20_000 == 19_999 { try file.write(contentsOf: builder.takeBytes()) }
        }
        try file.write(contentsOf: builder.takeBytes())
    }

    // MARK: - Running finwatch and reading its peak RSS

    struct Measured {
        var status: Int32
        /// ru_maxrss of the child, in bytes.
        var peakRSS: Int
        var stderr: String
    }

    /// Runs finwatch under `finwatch-bench measure` (built beside it) and reads the peak RSS it
    /// reports. Not wait4 on a child of this test process: glibc's posix_spawn shares the parent's
    /// address space until exec, and at exec Linux folds that space's high-water RSS into the
    /// child's ru_maxrss — in a full parallel test run this process alone is over 100 MB. The
    /// measurer is a few MB, so what it sees is finwatch's own peak.
    static func spawnMeasuringRSS(_ arguments: [String], stderrPath: String, seconds: Double = 90) throws -> Measured {
        guard let binary = FinwatchProcess.binary?.path else {
            throw ServiceSupport.Failure(description: "finwatch binary not found next to the test bundle")
        }
        let measurer = URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("finwatch-bench").path
        guard FileManager.default.isExecutableFile(atPath: measurer) else {
            throw ServiceSupport.Failure(description: "finwatch-bench not found beside finwatch (swift build --build-tests builds it)")
        }
        let reportPath = stderrPath + ".measure"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, reportPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([measurer, "measure", "--", binary] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, measurer, &actions, nil, argv, environ)
        guard spawned == 0 else { throw ServiceSupport.Failure(description: "posix_spawn: \(String(cString: strerror(spawned)))") }

        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(seconds)
        var reaped: pid_t = 0
        while reaped == 0 {
            reaped = waitpid(pid, &status, WNOHANG)
            if reaped == 0 {
                if Date() > deadline {
                    kill(pid, SIGKILL)   // the measurer; finwatch, its child, ends with its pipe
                    _ = waitpid(pid, &status, 0)
                    throw ServiceSupport.Failure(description: "finwatch did not finish within \(seconds) s")
                }
                usleep(20_000)
            }
        }
        let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        let report = (try? String(contentsOfFile: reportPath, encoding: .utf8)) ?? ""
        // "seconds=… cpu_seconds=… max_rss_kb=N exit=S"
        func field(_ name: String) -> Int? {
            guard let range = report.range(of: name + "=") else { return nil }
            return Int(report[range.upperBound...].prefix { $0.isNumber || $0 == "-" })
        }
        guard let kilobytes = field("max_rss_kb"), let exit = field("exit") else {
            throw ServiceSupport.Failure(description: "finwatch-bench measure said: \(report) \(stderr)")
        }
        return Measured(status: Int32(exit), peakRSS: kilobytes * 1024, stderr: stderr)
    }
}
