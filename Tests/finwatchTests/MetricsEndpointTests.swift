#if canImport(Glibc)
import Glibc
#endif
@testable import finwatch
import FinwatchCore
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Testing

/// A MetricsEndpoint served in this process on a free loopback port, inside a ServiceGroup as the
/// daemon runs it; `body` talks to it over real HTTP, then the group shuts down gracefully.
func withRunningEndpoint(
    state: LiveState = LiveState(), registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    processLookup: ProcessLookup = ProcessLookup(),
    _ body: (_ address: String, _ endpoint: MetricsEndpoint) async throws -> Void
) async throws {
    let port = try freeLoopbackPort()
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let endpoint = MetricsEndpoint(host: "127.0.0.1", port: Int(port), state: state, registry: registry,
                                   processLookup: processLookup, logger: quiet)
    let group = ServiceGroup(configuration: .init(services: [endpoint], logger: quiet))
    let address = "127.0.0.1:\(port)"
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        // Bounded wait for the listener (the bind happens on another task).
        var ready = false
        for _ in 0..<200 where !ready {
            ready = (try? await fetch(address, "/healthz")) != nil
            if !ready { try await Task.sleep(for: .milliseconds(10)) }
        }
        try #require(ready, "endpoint never answered on \(address)")
        do {
            try await body(address, endpoint)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

/// A port nothing listens on right now (bound, read, closed).
func freeLoopbackPort() throws -> UInt16 {
    let sockets = LoopbackSockets()
    return sockets.port(of: try sockets.listener())
}

func get(_ address: String, _ path: String) async throws -> (status: Int, body: String) {
    let response = try await fetch(address, path)
    return (response.status, String(decoding: response.body, as: UTF8.self))
}

/// One blocking HTTP GET on its own thread: a blocked recv on one of the (two, on this machine)
/// cooperative threads would starve the server under test of the thread it needs to answer.
func fetch(_ address: String, _ path: String) async throws -> HTTPResponseBytes {
    try await offPool { try HTTPResponseBytes.get(StatusAddress(address)!, path: path) }
}

/// Runs blocking `work` on a new thread and awaits its result.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

/// Two stuck sides, one of them ours: a real socket of this process in CLOSE_WAIT.
enum EndpointFixture {
    static func snapshot(uid: String, orig: Endpoint, resp: Endpoint, side: Side, state: EndpointState,
                         sinceSeconds: Int64, firing: Bool) -> ConnectionSnapshot {
        ConnectionSnapshot(
            identity: ConnectionIdentity(uid: uid, orig: orig, resp: resp, handshakeSeen: true),
            origState: side == .orig ? state : .finWait2, respState: side == .resp ? state : .finWait2,
            side: side, state: state, since: Timestamp(seconds: sinceSeconds), alertFiring: firing,
            lastSeen: Timestamp(seconds: sinceSeconds))
    }
}

@Suite("HTTP endpoint over real loopback", .serialized) struct MetricsEndpointTests {
    @Test func healthz_is503UntilCapturing_then200() async throws {
        let state = LiveState()
        try await withRunningEndpoint(state: state) { address, _ in
            let before = try await get(address, "/healthz")
            #expect(before.status == 503)
            state.publish { $0.capturing = true }
            let after = try await get(address, "/healthz")
            #expect(after.status == 200)
            #expect(after.body == "ok\n")
            state.publish { $0.capturing = false }
            #expect(try await get(address, "/healthz").status == 503)
        }
    }

    @Test func metrics_servesTheRegistryInPrometheusTextFormat() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = FinwatchMetrics(factory: FinwatchMetrics.prometheusFactory(registry: registry), version: "9.9.9")
        metrics.record(MetricsFixture.close(.reset, closer: nil))
        metrics.record(MetricsFixture.alert(.closeWaitLingering, .firing))
        try await withRunningEndpoint(registry: registry) { address, _ in
            let response = try await fetch(address, "/metrics")
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(response.status == 200)
            #expect(text.contains("# TYPE finwatch_closes_total counter"))
            #expect(text.contains(#"finwatch_closes_total{close="reset",active_closer="none"} 1"#))
            #expect(text.contains(#"finwatch_alerts_firing{alert="close_wait_lingering"} 1.0"#))
            #expect(text.contains(#"finwatch_build_info{version="9.9.9"} 1.0"#))

            // The cost of one scrape, for the docs (printed, not asserted).
            let clock = ContinuousClock()
            let rounds = 200
            let elapsed = try await offPool {
                clock.measure { for _ in 0..<rounds { _ = try? HTTPResponseBytes.get(StatusAddress(address)!, path: "/metrics") } }
            }
            var bytes: [UInt8] = []
            let emitOnly = clock.measure { for _ in 0..<rounds { bytes.removeAll(keepingCapacity: true); registry.emit(into: &bytes) } }
            print("scrape of /metrics (\(response.body.count) bytes): \(elapsed / rounds) per HTTP request over loopback, \(emitOnly / rounds) to render")
        }
    }

    @Test func connections_listsStuckSidesNewestFirst_withOurProcessNamed() async throws {
        let sockets = LoopbackSockets()
        let (serverEnd, clientEnd) = try await sockets.serverSideInCloseWait()

        let state = LiveState()
        let now = HostClock.now().nanoseconds / 1_000_000_000
        let remoteA = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022)
        let remoteB = Endpoint(ip: IPAddress("198.18.0.2")!, port: 80)
        state.publish {
            $0.capturing = true
            $0.halfClosed = [  // oldest first, as the table publishes it
                EndpointFixture.snapshot(uid: "C1", orig: remoteA, resp: remoteB, side: .orig, state: .finWait2,
                                         sinceSeconds: now - 600, firing: true),
                EndpointFixture.snapshot(uid: "C2", orig: clientEnd, resp: serverEnd, side: .resp, state: .closeWait,
                                         sinceSeconds: now - 90, firing: true),
                EndpointFixture.snapshot(uid: "C3", orig: remoteA, resp: remoteB, side: .resp, state: .lastAck,
                                         sinceSeconds: now - 5, firing: false),
            ]
        }
        try await withRunningEndpoint(state: state) { address, _ in
            // A request waits a bounded time for names; one found later is kept for the next
            // request, so a loaded machine gets ours by a later one (bounded: 30 requests).
            var response = try await fetch(address, "/connections")
            for _ in 0..<30 {
                let named = ConnectionsReport.decode(response.body)?.connections.first { $0.uid == "C2" }?.process != nil
                if named { break }
                try await Task.sleep(for: .milliseconds(100))
                response = try await fetch(address, "/connections")
            }
            #expect(response.status == 200)
            let report = try #require(ConnectionsReport.decode(response.body))
            #expect(report.capturing)
            #expect(report.connections.map(\.uid) == ["C3", "C2", "C1"])
            let ours = try #require(report.connections.first { $0.uid == "C2" })
            #expect(ours.state == "CLOSE_WAIT")
            #expect(ours.side == "resp")
            #expect(ours.endpoint == ConnectionsReport.Address(serverEnd))
            #expect(ours.peer == ConnectionsReport.Address(clientEnd))
            #expect(ours.alertFiring)
            #expect(ours.ageMs >= 90_000 && ours.ageMs < 100_000)
            #expect(ours.since.hasSuffix("Z") && ours.since.count == 27)
            #expect(ours.process?.pid == getpid())
            #expect(ours.process?.kernelConfirmed == true)
            #expect(report.connections.first { $0.uid == "C1" }?.process == nil)  // not a socket here

            let raw = String(decoding: response.body, as: UTF8.self)
            #expect(raw.contains(#""community_id":"#))
            #expect(raw.contains(#""kernel_confirmed":true"#))
            #expect(raw.contains(#""age_ms":"#))

            let filtered = try #require(ConnectionsReport.decode(try await fetch(address, "/connections?state=FIN_WAIT_2").body))
            #expect(filtered.connections.map(\.uid) == ["C1"])
            #expect(try await get(address, "/connections?state=ESTABLISHED").status == 400)
        }
    }

    @Test func processesTheRunLoopFound_areServedAsIs() async throws {
        let state = LiveState()
        let a = Endpoint(ip: IPAddress("198.18.0.1")!, port: 1)
        let b = Endpoint(ip: IPAddress("198.18.0.2")!, port: 2)
        state.publish {
            $0.halfClosed = [EndpointFixture.snapshot(uid: "C5", orig: a, resp: b, side: .resp, state: .closeWait,
                                                      sinceSeconds: 0, firing: true)]
            $0.processes[LiveState.processKey(uid: "C5", side: .resp)] =
                ProcessInfo(pid: 4321, comm: "nginx", unit: "nginx.service", kernelConfirmed: true)
        }
        try await withRunningEndpoint(state: state) { address, _ in
            let report = try #require(ConnectionsReport.decode(try await fetch(address, "/connections").body))
            #expect(report.connections.first?.process == .init(pid: 4321, comm: "nginx", unit: "nginx.service", kernelConfirmed: true))
        }
    }

    @Test func portAlreadyTaken_failsWithOneClearLine() async throws {
        let sockets = LoopbackSockets()
        let taken = sockets.port(of: try sockets.listener())
        let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let endpoint = MetricsEndpoint(host: "127.0.0.1", port: Int(taken), state: LiveState(),
                                       registry: PrometheusCollectorRegistry(), logger: quiet)
        await #expect {
            try await endpoint.run()
        } throws: { error in
            guard let error = error as? MetricsEndpointError else { return false }
            return error.exitStatus == 69 && error.description.hasPrefix("cannot serve --listen 127.0.0.1:\(taken): address already in use")
                && !error.description.contains("\n")
        }
    }

    @Test func rfc3339_hasMicrosecondsAndUTC() {
        #expect(Timestamp(nanoseconds: 1_795_399_451_706_198_123).rfc3339 == "2026-11-23T02:04:11.706198Z")
        #expect(Timestamp(nanoseconds: 0).rfc3339 == "1970-01-01T00:00:00.000000Z")
        #expect(Timestamp(seconds: 951_782_400).rfc3339 == "2000-02-29T00:00:00.000000Z")
    }
}
