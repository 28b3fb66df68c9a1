#if canImport(Glibc)
import Glibc
#endif
@testable import finwatch
import FinwatchCore
import Foundation
import Logging
import Testing

/// `/connections` and `finwatch status` while naming processes is stuck: the lookup's socket table
/// is a FIFO nobody writes (open(2) on it blocks until a writer comes), the slowest /proc there
/// is. The answer must still come, within 100 ms of what the same answer takes with every name
/// already known (serving 3,000 rows is itself tens of milliseconds, more in a debug build),
/// without the names it could not find.
@Suite("HTTP endpoint while /proc is stuck", .serialized) struct SlowProcTests {
    @Test("3,000 stuck sides, /proc walk blocked: /connections and status answer, /proc costing under 100 ms, every time")
    func stuckProc_connectionsAndStatus_answerWithin100ms() async throws {
        let root = NSTemporaryDirectory() + "finwatch-slowproc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/net", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for table in ["tcp", "tcp6"] { #expect(mkfifo(root + "/net/" + table, 0o600) == 0) }
        // Whatever happens, let the blocked lookup go at the end: a writer opening and closing
        // each FIFO ends its open(2) and its read (EOF).
        defer {
            for table in ["tcp", "tcp6"] {
                // ENXIO until the lookup has reached this FIFO's open: bounded retries.
                for _ in 0..<200 {
                    let descriptor = open(root + "/net/" + table, O_WRONLY | O_NONBLOCK)
                    if descriptor >= 0 { close(descriptor); break }
                    usleep(10_000)
                }
            }
        }
        let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let lookup = ProcessLookup(root: root, netlink: false, logger: quiet)

        let state = LiveState()
        let local = Endpoint(ip: IPAddress("127.0.0.1")!, port: 8080)
        state.publish { published in
            published.capturing = true
            published.halfClosed = (0..<3_000).map { index in
                let peer = Endpoint(ip: IPAddress("127.0.0.1")!, port: UInt16(20_000 + index))
                return EndpointFixture.snapshot(uid: "C\(index + 1)", orig: peer, resp: local, side: .resp,
                                                state: .closeWait, sinceSeconds: 1_000 + Int64(index), firing: true)
            }
        }
        try await withRunningEndpoint(state: state, processLookup: lookup) { address, _ in
            let clock = ContinuousClock()
            // The same answers with every row named already (no lookup at all): the baseline.
            let rows = state.current.halfClosed
            state.publish { published in
                for row in rows {
                    published.processes[LiveState.processKey(uid: row.identity.uid, side: row.side)] =
                        ProcessInfo(pid: 1, comm: "known", unit: nil, kernelConfirmed: true)
                }
            }
            // The quickest of three each way: this machine's load moves single timings by 100s of ms.
            var baseline = Duration.seconds(60), statusBaseline = Duration.seconds(60)
            var started = clock.now
            for _ in 0..<3 {
                started = clock.now
                _ = try await fetch(address, "/connections")
                baseline = min(baseline, clock.now - started)
                started = clock.now
                _ = try await offPool { Status.report(address: address, json: false) }
                statusBaseline = min(statusBaseline, clock.now - started)
            }
            state.publish { $0.processes = [:] }
            print("slow /proc: baseline /connections \(baseline), status \(statusBaseline) for 3,000 rows")

            var quickest = Duration.seconds(60), statusQuickest = Duration.seconds(60)
            for attempt in 0..<3 {
                started = clock.now
                let response = try await fetch(address, "/connections")
                let took = clock.now - started
                #expect(response.status == 200)
                let report = try #require(ConnectionsReport.decode(response.body))
                #expect(report.connections.count == 3_000)
                #expect(report.connections.allSatisfy { $0.process == nil }, "nothing could be named")
                quickest = min(quickest, took)

                started = clock.now
                let status = try await offPool { Status.report(address: address, json: false) }
                let statusTook = clock.now - started
                #expect(status.status == 0)
                #expect(status.output.hasPrefix("3000 sides stuck half-closed, 3000 alerts firing"))
                statusQuickest = min(statusQuickest, statusTook)
                print("slow /proc, attempt \(attempt): /connections \(took), status \(statusTook)")
            }
            #expect(quickest - baseline < .milliseconds(100), "/connections took \(quickest), \(baseline) with names known")
            #expect(statusQuickest - statusBaseline < .milliseconds(100),
                    "status took \(statusQuickest), \(statusBaseline) with names known")
        }
    }
}

@Suite("/connections JSON") struct ConnectionsJSONTests {
    @Test("encoded by hand: the same JSON JSONEncoder writes, escapes included, and decoded back whole")
    func handEncoding_matchesJSONEncoder_andRoundTrips() throws {
        let row = ConnectionsReport.Row(
            uid: "C7", communityId: "1:abc+/=", orig: .init(ip: "198.18.0.1", port: 40_000),
            resp: .init(ip: "2001:db8::1", port: 443), side: "resp", state: "CLOSE_WAIT",
            states: .init(orig: "FIN_WAIT_2", resp: "CLOSE_WAIT"), endpoint: .init(ip: "2001:db8::1", port: 443),
            peer: .init(ip: "198.18.0.1", port: 40_000), since: "2026-12-03T14:00:00.000001Z", ageMs: 95_000.125,
            alertFiring: true,
            process: .init(pid: 42, comm: "we\"ird\\name\n\u{1}", unit: "x.service", kernelConfirmed: false))
        var bare = row
        bare.process = .init(pid: 7, comm: "nginx", unit: nil, kernelConfirmed: true)
        var none = row
        none.process = nil
        let report = ConnectionsReport(time: "2026-12-03T14:01:35.000001Z", capturing: true, connections: [row, bare, none])
        let ours = report.encoded()
        #expect(ours.last == UInt8(ascii: "\n"))
        #expect(ConnectionsReport.decode(ours) == report)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let reference = try encoder.encode(report)
        let parsedOurs = try JSONSerialization.jsonObject(with: Data(ours)) as? NSDictionary
        let parsedReference = try JSONSerialization.jsonObject(with: reference) as? NSDictionary
        #expect(parsedOurs == parsedReference)
        #expect(ConnectionsReport.decode(Array(reference)) == report, "JSONEncoder's own output reads back whole")
    }

    @Test("rendered from snapshots: the JSON the report of the same rows encodes, names and pods included")
    func renderedFromSnapshots_equalsEncodedReport() throws {
        let local = Endpoint(ip: IPAddress("2001:db8::1")!, port: 443)
        let peer = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40_000)
        let rows = [
            EndpointFixture.snapshot(uid: "C12", orig: peer, resp: local, side: .resp, state: .closeWait,
                                     sinceSeconds: 1_000, firing: true),
            EndpointFixture.snapshot(uid: "C9", orig: peer, resp: local, side: .orig, state: .finWait2,
                                     sinceSeconds: 1_000, firing: false),
        ]
        let now = Timestamp(nanoseconds: 1_095_000_125_999)
        let process = ProcessInfo(pid: 42, comm: "we\"ird\\name\n\u{1}", unit: "x.service", kernelConfirmed: false,
                                  pod: PodName(namespace: "payments", name: "api-0"))
        let processes = [LiveState.processKey(uid: "C12", side: .resp): process]
        let rendered = ConnectionsReport.render(rows, capturing: true, now: now, processes: processes)
        let report = try #require(ConnectionsReport.decode(rendered))
        #expect(report.time == now.rfc3339)
        #expect(report.connections.map(\.uid) == ["C12", "C9"])
        let first = try #require(report.connections.first)
        #expect(first.ageMs == 95_000.125)
        #expect(first.communityId == rows[0].identity.communityID)
        #expect(first.endpoint == .init(ip: "2001:db8::1", port: 443) && first.peer == .init(ip: "198.18.0.1", port: 40_000))
        #expect(first.states == .init(orig: "FIN_WAIT_2", resp: "CLOSE_WAIT"))
        #expect(first.process == .init(pid: 42, comm: process.comm, unit: "x.service", kernelConfirmed: false,
                                       pod: .init(namespace: "payments", name: "api-0")))
        #expect(report.connections.last?.process == nil)
        // The same JSON the report of these rows encodes (escapes may be spelled differently).
        let parsedRendered = try JSONSerialization.jsonObject(with: Data(rendered)) as? NSDictionary
        let parsedEncoded = try JSONSerialization.jsonObject(with: Data(report.encoded())) as? NSDictionary
        #expect(parsedRendered != nil && parsedRendered == parsedEncoded)
    }
}
