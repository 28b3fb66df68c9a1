#if canImport(Glibc)
import Glibc
#endif
@testable import finwatch
import FinwatchCore
import Foundation
import Testing

/// The whole alerting path, live: a real finwatch process captures on `lo`; this test process
/// holds a real socket in CLOSE_WAIT; the alert fires and names this process, /metrics shows it
/// firing, `status` lists it; the socket closes and the alert resolves. Needs root (CAP_NET_RAW
/// on lo), as CI has.
@Suite("alerting end to end", .serialized) struct AlertingEndToEndTests {
    static let needsRoot = getuid() != 0

    @Test(.disabled(if: AlertingEndToEndTests.needsRoot, "capturing on lo needs root or CAP_NET_RAW"),
          .timeLimit(.minutes(1)))
    func stuckSocket_firesNamesAndResolves() async throws {
        let port = try freeLoopbackPort()
        let address = "127.0.0.1:\(port)"
        let sockets = LoopbackSockets()
        let listener = try sockets.listenerOutsideEphemeralRange()
        let finwatch = try FinwatchProcess([
            "--interface", "lo", "--listen", address, "--close-wait-threshold", "1s", "--stats-interval", "1h",
            // Only this test's connection: the scrapes, and other tests' sockets on lo, stay out.
            "--filter", "port \(sockets.port(of: listener))",
        ])
        var ended = false
        defer { if !ended { finwatch.signal(SIGKILL); _ = try? finwatch.wait(seconds: 5) } }

        // Capturing: /healthz answers 200 (bounded wait).
        var healthy = false
        for _ in 0..<150 where !healthy {
            healthy = (try? await get(address, "/healthz").status) == 200
            if !healthy { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(healthy, "finwatch never became healthy: \(finwatch.currentStdout)")

        let (client, server) = try sockets.connectedPair(to: listener)
        let serverEnd = sockets.endpoint(of: server)
        let clientEnd = sockets.peerEndpoint(of: server)
        sockets.close(client)  // the peer closes; we do not: our side is stuck in CLOSE_WAIT
        _ = try await waitForKernelState(.closeWait, local: serverEnd, remote: clientEnd)

        // The alert fires within about a second of the threshold.
        var firingLine: [String: Any]?
        for _ in 0..<60 where firingLine == nil {
            firingLine = Self.events(finwatch.currentStdout).first { $0["type"] as? String == "alert" && $0["status"] as? String == "firing" }
            if firingLine == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let firing = try #require(firingLine, "no firing alert: \(finwatch.currentStdout)")
        #expect(firing["alert"] as? String == "close_wait_lingering")
        #expect((firing["resp"] as? [String: Any])?["port"] as? Int == Int(serverEnd.port))
        // The alert names this process: the run loop asked ProcessLookup when it fired.
        let process = try #require(firing["process"] as? [String: Any], "alert without process: \(firing)")
        #expect(process["pid"] as? Int == Int(getpid()))
        #expect(process["kernel_confirmed"] as? Bool == true)
        let comm = try readWholeFile("/proc/self/comm").split(separator: "\n").first.map(String.init)
        #expect(process["comm"] as? String == comm)

        let metrics = try await get(address, "/metrics").body
        #expect(metrics.contains(#"finwatch_alerts_firing{alert="close_wait_lingering"} 1.0"#))

        // The live state is republished at the end of the tick that wrote the alert: poll briefly.
        var status = try await offPool { Status.report(address: address, json: false) }
        func firingRow(_ output: String) -> Bool {
            output.split(separator: "\n").contains { $0.hasPrefix("CLOSE_WAIT") && $0.contains(" firing ") }
        }
        for _ in 0..<20 where !firingRow(status.output) {
            try await Task.sleep(for: .milliseconds(100))
            status = try await offPool { Status.report(address: address, json: false) }
        }
        #expect(status.status == 0)
        let row = try #require(status.output.split(separator: "\n").first { $0.hasPrefix("CLOSE_WAIT") }, "\(status.output)")
        #expect(row.contains("firing"))
        #expect(row.contains(serverEnd.description))
        #expect(row.contains(" \(getpid()) "), "status names this process: \(row)")

        // The program finally calls close(): the alert resolves and the gauge goes back to 0.
        sockets.close(server)
        var resolved = false
        for _ in 0..<60 where !resolved {
            resolved = Self.events(finwatch.currentStdout).contains { $0["type"] as? String == "alert" && $0["status"] as? String == "resolved" }
            if !resolved { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(resolved, "no resolved alert: \(finwatch.currentStdout)")
        var gaugeBack = false
        for _ in 0..<30 where !gaugeBack {
            gaugeBack = try await get(address, "/metrics").body.contains(#"finwatch_alerts_firing{alert="close_wait_lingering"} 0.0"#)
            if !gaugeBack { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(gaugeBack)
        #expect(try await get(address, "/metrics").body.contains(#"finwatch_anomalies_total{anomaly="close_wait_lingering"} 1"#))

        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 15)
        ended = true
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// A program leaking sockets: 400 stuck in CLOSE_WAIT at once, their alerts fire together.
    /// Every one names this process (named in one view of the host, not 400 reads of the socket
    /// table on the tracker's queue), and the capture drops nothing meanwhile.
    @Test(.disabled(if: AlertingEndToEndTests.needsRoot, "capturing on lo needs root or CAP_NET_RAW"),
          .timeLimit(.minutes(1)))
    func manyStuckSockets_allFireNamed_withoutDrops() async throws {
        let stuckCount = 400
        let sockets = LoopbackSockets()
        let listener = try sockets.listenerOutsideEphemeralRange()
        let finwatch = try FinwatchProcess([
            "--interface", "lo", "--no-listen", "--close-wait-threshold", "1s", "--stats-interval", "1h",
            "--filter", "port \(sockets.port(of: listener))",
        ])
        var ended = false
        defer { if !ended { finwatch.signal(SIGKILL); _ = try? finwatch.wait(seconds: 5) } }
        var started = false
        for _ in 0..<100 where !started {
            started = Self.events(finwatch.currentStdout).contains { $0["type"] as? String == "start" }
            if !started { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(started, "finwatch never started: \(finwatch.currentStdout)")

        var stuckPorts = Set<Int>()
        for _ in 0..<stuckCount {
            let (client, server) = try sockets.connectedPair(to: listener)
            stuckPorts.insert(Int(sockets.peerEndpoint(of: server).port))   // the client's: orig
            sockets.close(client)   // the peer closes; this side never does
        }
        var firing: [[String: Any]] = []
        for _ in 0..<100 where firing.count < stuckCount {
            try await Task.sleep(for: .milliseconds(100))
            firing = Self.events(finwatch.currentStdout).filter { $0["type"] as? String == "alert" && $0["status"] as? String == "firing" }
        }
        #expect(firing.count == stuckCount)
        let named = firing.filter { (($0["process"] as? [String: Any])?["pid"] as? Int) == Int(getpid()) }
        #expect(named.count == stuckCount, "\(stuckCount - named.count) alerts without this process")
        let clients = Set(firing.compactMap { (($0["orig"] as? [String: Any])?["port"] as? Int) })
        #expect(clients == stuckPorts)

        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 15)
        ended = true
        #expect(result.status == 0, "\(result.stderr)")
        let stop = try #require(Self.events(result.stdout).last { $0["type"] as? String == "stop" })
        let capture = try #require(stop["capture"] as? [String: Any])
        #expect(capture["drops_kernel"] as? Int == 0)
    }

    static func events(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}
