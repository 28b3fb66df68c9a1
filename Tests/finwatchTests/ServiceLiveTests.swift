@testable import finwatch
import Foundation
import Glibc
import Synchronization
import Testing

/// The daemon's lifecycle against real sockets on `lo`: alert latency on the host clock,
/// SIGTERM under traffic, SIGHUP rotation under traffic, an output that fails. Each runs a real
/// finwatch process; the traffic is this test process's own loopback connections.
@Suite("service: live lifecycle on lo", .serialized) struct ServiceLiveTests {
    static let isRoot = geteuid() == 0

    @Test("a socket left in CLOSE_WAIT fires within threshold + 1 s, names this process, then resolves",
          .enabled(if: isRoot, "capturing on lo needs root or CAP_NET_RAW"), .timeLimit(.minutes(1)))
    func lingeringCloseWait_firesOnTime_namesProcess_resolves() throws {
        let listener = try SelftestSockets.listen()
        defer { close(listener.descriptor) }
        let finwatch = try ServiceSupport.startCapturing([
            "--interface", "lo", "--filter", "tcp port \(listener.port)", "--no-listen", "--close-wait-threshold", "1s",
        ])
        let pair = try SelftestSockets.connectedPair(listener: listener)
        let finSent = Date()
        close(pair.client)   // the peer closes; the accepted side does not: CLOSE_WAIT
        var firedAt: Date?
        _ = ServiceSupport.waitUntil(seconds: 5) {
            let firing = finwatch.currentStdout.contains("\"status\":\"firing\"")
            if firing { firedAt = Date() }
            return firing
        }
        close(pair.server)
        let resolved = ServiceSupport.waitUntil(seconds: 5) { finwatch.currentStdout.contains("\"status\":\"resolved\"") }
        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 5)

        let latency = try #require(firedAt, "no firing alert within 5 s: \(result.stdout)").timeIntervalSince(finSent)
        print("service: close_wait_lingering (threshold 1 s) written \(String(format: "%.3f", latency)) s after the FIN")
        #expect(latency <= 2.0, "the alert must be written within threshold + 1 s of the FIN")
        #expect(latency >= 1.0, "not before the threshold")
        #expect(resolved)
        #expect(result.status == 0 && !result.signaled, "stderr: \(result.stderr)")
        let alerts = ServiceSupport.of("alert", try ServiceSupport.events(result.stdout))
        let firing = try #require(alerts.first { $0["status"] as? String == "firing" })
        #expect(firing["alert"] as? String == "close_wait_lingering")
        #expect(firing["side"] as? String == "resp")
        #expect(ServiceSupport.origPort(firing) == Int(pair.clientPort))
        #expect((firing["process"] as? [String: Any])?["pid"] as? Int == Int(getpid()), "the stuck socket is ours")
        #expect(alerts.contains { $0["status"] as? String == "resolved" })
    }

    @Test("SIGTERM under traffic: every tracked connection gets its close record, then stop, exit 0 within 2 s",
          .enabled(if: isRoot, "capturing on lo needs root or CAP_NET_RAW"), .timeLimit(.minutes(1)))
    func sigtermDuringTraffic_closesEverything_stops_exitsZero() throws {
        let listener = try SelftestSockets.listen()
        defer { close(listener.descriptor) }
        let finwatch = try ServiceSupport.startCapturing(["--interface", "lo", "--filter", "tcp port \(listener.port)", "--no-listen"])
        let closed = try (0..<3).map { _ in try SelftestSockets.normalClose(listener: listener) }
        let open = try (0..<3).map { _ in try SelftestSockets.connectedPair(listener: listener) }
        let halfClosed = try (0..<3).map { _ in try SelftestSockets.connectedPair(listener: listener) }
        defer { for pair in open + halfClosed { close(pair.client); close(pair.server) } }
        for pair in halfClosed { shutdown(pair.client, Int32(SHUT_WR)) }   // FIN from the client only
        // The normal closes' records prove the capture has reached them; then a tick for the rest.
        let seen = ServiceSupport.waitUntil(seconds: 5) {
            finwatch.currentStdout.components(separatedBy: "\"type\":\"close\"").count - 1 == closed.count
        }
        #expect(seen, "the normal closes were not recorded: \(finwatch.currentStdout)")
        usleep(600_000)

        let signalled = Date()
        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 10)
        let took = Date().timeIntervalSince(signalled)
        #expect(took < 2.0, "exit took \(took) s")
        #expect(result.status == 0 && !result.signaled, "stderr: \(result.stderr)")
        let events = try ServiceSupport.events(result.stdout)
        #expect(events.last?["type"] as? String == "stop")
        #expect(events.last?["reason"] as? String == "signal")
        let closes = ServiceSupport.of("close", events)
        func kind(_ port: UInt16) -> [String] {
            closes.filter { ServiceSupport.origPort($0) == Int(port) }.compactMap { $0["close"] as? String }
        }
        for port in closed { #expect(kind(port) == ["normal"], "port \(port)") }
        for pair in open { #expect(kind(pair.clientPort) == ["unterminated"], "port \(pair.clientPort)") }
        for pair in halfClosed { #expect(kind(pair.clientPort) == ["half_closed"], "port \(pair.clientPort)") }
        #expect(closes.count == 9, "one close record per connection, no more")
    }

    @Test("SIGHUP rotation under traffic: every close record in exactly one file, every line whole",
          .enabled(if: isRoot, "capturing on lo needs root or CAP_NET_RAW"), .timeLimit(.minutes(1)))
    func sighupRotationUnderTraffic_losesAndDuplicatesNothing() throws {
        let directory = try ServiceSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/events.jsonl"
        let listener = try SelftestSockets.listen()
        defer { close(listener.descriptor) }
        let finwatch = try ServiceSupport.startCapturing(
            ["--interface", "lo", "--filter", "tcp port \(listener.port)", "--no-listen", "--output", output], output: output)

        // Connections open and close on their own thread (bounded: 300 of them, at least 3 s)
        // while the file is renamed twice, each time followed by SIGHUP, as logrotate does. A
        // thread, not a Task: other suites' blocking waits may hold every cooperative thread.
        let traffic = TrafficThread(listener: listener, count: 300)
        for generation in 1...2 {
            // Rotate only once this file holds some traffic (a loaded machine may be slow to
            // produce it), so each of the three files gets a share; bounded.
            _ = ServiceSupport.waitUntil(seconds: 5) {
                ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("\"type\":\"close\"")
            }
            usleep(200_000)
            #expect(rename(output, "\(output).\(generation)") == 0)
            finwatch.signal(SIGHUP)
        }
        let ports = try traffic.wait(seconds: 30)
        let files = [output + ".1", output + ".2", output]
        func closeCount() -> Int {
            files.map { ((try? String(contentsOfFile: $0, encoding: .utf8)) ?? "").components(separatedBy: "\"type\":\"close\"").count - 1 }
                .reduce(0, +)
        }
        _ = ServiceSupport.waitUntil(seconds: 5) { closeCount() >= ports.count }
        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 10)
        #expect(result.status == 0 && !result.signaled, "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("cannot reopen"))

        var uidsByFile: [Set<String>] = []
        var portsSeen: [Int] = []
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.hasSuffix("\n"), "\(file) ends with a whole line")
            let events = try ServiceSupport.events(text)   // throws on any line that is not whole JSON
            let closes = ServiceSupport.of("close", events)
            #expect(!closes.isEmpty, "\(file) got some of the traffic")
            uidsByFile.append(Set(closes.compactMap { $0["uid"] as? String }))
            portsSeen += closes.compactMap(ServiceSupport.origPort)
        }
        #expect(uidsByFile[0].isDisjoint(with: uidsByFile[1]) && uidsByFile[1].isDisjoint(with: uidsByFile[2])
                && uidsByFile[0].isDisjoint(with: uidsByFile[2]), "no close record in two files")
        #expect(uidsByFile.map(\.count).reduce(0, +) == ports.count)
        #expect(Set(portsSeen) == Set(ports.map(Int.init)), "every connection's close record is somewhere")
        #expect(portsSeen.count == ports.count)
        let first = try ServiceSupport.events(try String(contentsOfFile: files[0], encoding: .utf8))
        let last = try ServiceSupport.events(try String(contentsOfFile: files[2], encoding: .utf8))
        #expect(first.first?["type"] as? String == "start")
        #expect(last.last?["type"] as? String == "stop")
    }

    @Test("--output /dev/full: finwatch keeps capturing, says so on stderr a bounded number of times, exits 0",
          .enabled(if: isRoot, "capturing on lo needs root or CAP_NET_RAW"), .timeLimit(.minutes(1)))
    func outputDevFull_survives_reportsBounded_exitsZero() throws {
        let listener = try SelftestSockets.listen()
        defer { close(listener.descriptor) }
        let finwatch = try FinwatchProcess(["--interface", "lo", "--filter", "tcp port \(listener.port)", "--no-listen",
                                            "--output", "/dev/full"])
        usleep(1_500_000)   // no start event can be seen on /dev/full: give the capture time to open
        // Traffic over about 3 s: many failed flushes (one a second), many close records.
        for _ in 0..<30 {
            _ = try SelftestSockets.normalClose(listener: listener)
            usleep(100_000)
        }
        #expect(finwatch.process.isRunning, "finwatch must survive a failing output")
        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 10)
        #expect(result.status == 0 && !result.signaled, "stderr: \(result.stderr)")
        let reports = result.stderrLines.filter { $0.contains("--output") }
        #expect(!reports.isEmpty, "the failure is reported: \(result.stderr)")
        #expect(reports.count <= 2, "once at first, once at the end; not per event or per retry: \(result.stderr)")
        #expect(reports.allSatisfy { $0.contains("No space left on device") && $0.contains("/dev/full") })
        #expect(reports.last?.contains("write_errors") == true)
    }

    @Test("a full disk that frees up: the kept events are written after all, nothing lost",
          .enabled(if: isRoot, "mounting a tmpfs and capturing on lo need root"), .timeLimit(.minutes(1)))
    func fullTmpfs_thenSpaceFreed_everyEventWritten() throws {
        let directory = try ServiceSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try #require(try ServiceSupport.tool("/bin/mount", ["-t", "tmpfs", "-o", "size=128k", "tmpfs", directory]) == 0)
        defer { _ = try? ServiceSupport.tool("/bin/umount", ["-l", directory]) }
        // Fill all but a few KiB: the start event fits, the close records below do not.
        let filler = directory + "/filler"
        try #require(try ServiceSupport.tool("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=4k", "count=30"]) == 0)
        let output = directory + "/events.jsonl"
        let listener = try SelftestSockets.listen()
        defer { close(listener.descriptor) }
        let finwatch = try ServiceSupport.startCapturing(
            ["--interface", "lo", "--filter", "tcp port \(listener.port)", "--no-listen", "--output", output], output: output)
        defer { if finwatch.process.isRunning { finwatch.signal(SIGKILL); _ = try? finwatch.wait(seconds: 5) } }
        let ports = try (0..<40).map { _ in try SelftestSockets.normalClose(listener: listener) }
        usleep(2_000_000)   // at least one flush fails with ENOSPC
        #expect(finwatch.process.isRunning)
        try FileManager.default.removeItem(atPath: filler)
        usleep(1_500_000)   // the next retry (once a second) succeeds
        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 10)
        #expect(result.status == 0 && !result.signaled, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("No space left on device"), "stderr: \(result.stderr)")
        let events = try ServiceSupport.events(try String(contentsOfFile: output, encoding: .utf8))
        let closes = ServiceSupport.of("close", events)
        #expect(Set(closes.compactMap(ServiceSupport.origPort)) == Set(ports.map(Int.init)))
        #expect(closes.count == ports.count)
        #expect(events.last?["type"] as? String == "stop")
        let stop = try #require(events.last)
        #expect((stop["write_errors"] as? Int ?? 0) >= 1, "the failures are counted: \(stop)")
    }
}

/// Normal closes on a dedicated thread: `count` of them, 10 ms apart; `wait` returns the client ports.
final class TrafficThread: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<Result<[UInt16], any Error>>(.success([]))

    init(listener: SelftestSockets.Listener, count: Int) {
        let thread = Thread { [self] in
            do {
                let ports = try (0..<count).map { _ in
                    let port = try SelftestSockets.normalClose(listener: listener)
                    usleep(10_000)
                    return port
                }
                result.withLock { $0 = .success(ports) }
            } catch {
                result.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        thread.start()
    }

    func wait(seconds: Double) throws -> [UInt16] {
        guard done.wait(timeout: .now() + seconds) == .success else {
            throw ServiceSupport.Failure(description: "traffic did not finish within \(seconds) s")
        }
        return try result.withLock { try $0.get() }
    }
}
