#if canImport(Glibc)
import Glibc
#endif
@testable import finwatch
import FinwatchCore
import Foundation
import Testing

/// `--metrics-ports` on a real finwatch capturing on `lo`: a socket stuck in CLOSE_WAIT on a
/// listed port shows in that port's series, and nothing else gets a label of its own. Needs root.
@Suite("metrics by port, live", .serialized) struct MetricsPortsLiveTests {
    @Test(.disabled(if: AlertingEndToEndTests.needsRoot, "capturing on lo needs root or CAP_NET_RAW"),
          .timeLimit(.minutes(1)))
    func stuckSocketOnAListedPort_countsUnderThatPort() async throws {
        let address = "127.0.0.1:\(try freeLoopbackPort())"
        let sockets = LoopbackSockets()
        let listener = try sockets.listenerOutsideEphemeralRange()
        let port = sockets.port(of: listener)
        let finwatch = try FinwatchProcess([
            "--interface", "lo", "--listen", address, "--close-wait-threshold", "1s", "--stats-interval", "1h",
            "--filter", "port \(port)", "--metrics-ports", "\(port),5432",
        ])
        var ended = false
        defer { if !ended { finwatch.signal(SIGKILL); _ = try? finwatch.wait(seconds: 5) } }
        var healthy = false
        for _ in 0..<150 where !healthy {
            healthy = (try? await get(address, "/healthz").status) == 200
            if !healthy { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(healthy, "finwatch never became healthy: \(finwatch.currentStdout)")

        let (client, server) = try sockets.connectedPair(to: listener)
        sockets.close(client)   // our server side is now stuck in CLOSE_WAIT
        let firing = "finwatch_alerts_firing{alert=\"close_wait_lingering\",port=\"\(port)\"} 1.0"
        var metrics = ""
        for _ in 0..<60 where !metrics.contains(firing) {
            try await Task.sleep(for: .milliseconds(100))
            metrics = try await get(address, "/metrics").body
        }
        #expect(metrics.contains(firing), "\(metrics)")
        #expect(metrics.contains("finwatch_endpoints{state=\"CLOSE_WAIT\",port=\"\(port)\"} 1.0"))
        #expect(metrics.contains("finwatch_endpoints{state=\"FIN_WAIT_2\",port=\"\(port)\"} 1.0"))
        #expect(metrics.contains(#"finwatch_alerts_firing{alert="close_wait_lingering",port="other"} 0.0"#))
        #expect(metrics.contains(#"finwatch_endpoints{state="CLOSE_WAIT",port="5432"} 0.0"#))
        #expect(!metrics.contains(#"finwatch_alerts_firing{alert="close_wait_lingering"} "#), "a series without port")
        // The label takes only the listed ports and `other`: the client's ephemeral port never.
        let portLabels = Set(metrics.split(separator: "\n").compactMap { line -> Substring? in
            guard line.hasPrefix("finwatch_"), let start = line.range(of: "port=\"") else { return nil }
            return line[start.upperBound...].prefix { $0 != "\"" }
        })
        #expect(portLabels == ["\(port)", "5432", "other"])

        sockets.close(server)
        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 15)
        ended = true
        #expect(result.status == 0, "\(result.stderr)")
    }
}
