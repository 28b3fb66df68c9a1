#if canImport(Glibc)
import Glibc
#endif
@testable import finwatch
import FinwatchCore
import Testing

@Suite("finwatch status", .serialized) struct StatusTests {
    @Test func againstARunningEndpoint_printsTheTableNewestProblemFirst() async throws {
        let sockets = LoopbackSockets()
        let (serverEnd, clientEnd) = try await sockets.serverSideInCloseWait()

        let state = LiveState()
        let now = HostClock.now().nanoseconds / 1_000_000_000
        let a = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022)
        let b = Endpoint(ip: IPAddress("2001:db8::2")!, port: 443)
        state.publish {
            $0.capturing = true
            $0.halfClosed = [
                EndpointFixture.snapshot(uid: "C1", orig: a, resp: b, side: .orig, state: .finWait2,
                                         sinceSeconds: now - 3_700, firing: true),
                EndpointFixture.snapshot(uid: "C2", orig: clientEnd, resp: serverEnd, side: .resp, state: .closeWait,
                                         sinceSeconds: now - 252, firing: true),
            ]
        }
        try await withRunningEndpoint(state: state) { address, _ in
            // A request waits at most 50 ms for process names; on a loaded machine the walk of
            // /proc can take longer, and its names then come with the next request (bounded).
            var outcome = try await offPool { Status.report(address: address, json: false) }
            for _ in 0..<20 where !outcome.output.contains(" \(getpid()) ") {
                try await Task.sleep(for: .milliseconds(100))
                outcome = try await offPool { Status.report(address: address, json: false) }
            }
            #expect(outcome.status == 0)
            #expect(outcome.error.isEmpty)
            let lines = outcome.output.split(separator: "\n").map(String.init)
            try #require(lines.count == 4, "\(outcome.output)")
            #expect(lines[0] == "2 sides stuck half-closed, 2 alerts firing")
            #expect(lines[1].hasPrefix("STATE"))
            for column in ["AGE", "ENDPOINT", "PEER", "PID", "COMMAND", "UNIT"] { #expect(lines[1].contains(column)) }
            // Newest problem first: the CLOSE_WAIT of 4 minutes, then the FIN_WAIT_2 of an hour.
            #expect(lines[2].hasPrefix("CLOSE_WAIT"))
            #expect(lines[2].contains("4m1") || lines[2].contains("4m2"))
            #expect(lines[2].contains(serverEnd.description))
            #expect(lines[2].contains(" \(getpid()) "))
            #expect(lines[3].hasPrefix("FIN_WAIT_2"))
            #expect(lines[3].contains("1h01m"))
            #expect(lines[3].contains("[2001:db8::2]:443"))

            let json = try await offPool { Status.report(address: address, json: true) }
            #expect(json.status == 0)
            let report = try #require(ConnectionsReport.decode(Array(json.output.utf8)))
            #expect(report.connections.map(\.uid) == ["C2", "C1"])
        }
    }

    @Test func nothingListening_isOneLineAndExit69() throws {
        let port = try freeLoopbackPort()
        let outcome = Status.report(address: "127.0.0.1:\(port)", json: false)
        #expect(outcome.status == 69)
        #expect(outcome.output.isEmpty)
        #expect(outcome.error == "no finwatch answering on 127.0.0.1:\(port) (is the service running? `systemctl status finwatch`)")
    }

    @Test func defaultAddress_isTheContracts() throws {
        let command = try Status.parse([])
        #expect(command.address == "127.0.0.1:9465")
        #expect(!command.json)
        #expect(try Status.parse(["--address", "[::1]:9999", "--json"]).json)
    }

    @Test("a bad address is a usage error, 64", arguments: ["", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "::1:9465", "[::1]9465", ":9465"])
    func badAddress_exits64(address: String) {
        let outcome = Status.report(address: address, json: false)
        #expect(outcome.status == 64)
        #expect(outcome.error.hasPrefix("invalid --address"))
    }

    @Test func addresses_parseIPv4IPv6AndNames() {
        #expect(StatusAddress("127.0.0.1:9465").map { [$0.host, "\($0.port)"] } == ["127.0.0.1", "9465"])
        #expect(StatusAddress("[::1]:9465").map { [$0.host, "\($0.port)"] } == ["::1", "9465"])
        #expect(StatusAddress("localhost:80").map { [$0.host, "\($0.port)"] } == ["localhost", "80"])
    }

    @Test func somethingElseAnswering_isNotMistakenForFinwatch() async throws {
        try await withRunningEndpoint { address, _ in
            // /connections answers; make the client ask a path that is not finwatch's.
            let response = try await fetch(address, "/nope")
            #expect(response.status == 404)
        }
        #expect(ConnectionsReport.decode(Array("<html>".utf8)) == nil)
    }

    @Test func emptyTable_saysSo() {
        let report = ConnectionsReport(time: "t", capturing: true, connections: [])
        #expect(Status.table(report) == "no connections stuck half-closed\n")
        let notCapturing = ConnectionsReport(time: "t", capturing: false, connections: [])
        #expect(Status.table(notCapturing).hasPrefix("warning: finwatch is not capturing"))
    }

    @Test("ages read at a glance", arguments: [(850.0, "850ms"), (42_000, "42s"), (252_000, "4m12s"), (11_100_000, "3h05m"), (187_200_000, "2d04h")])
    func age(milliseconds: Double, text: String) {
        #expect(Status.age(milliseconds: milliseconds) == text)
    }

    @Test func chunkedAndLengthBodies_bothParse() throws {
        let chunked = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n".utf8)
        #expect(try HTTPResponseBytes.parse(chunked).body == Array("abcdef".utf8))
        let sized = Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\n\r\nabcXYZ".utf8)
        let parsed = try HTTPResponseBytes.parse(sized)
        #expect(parsed.status == 503 && parsed.body == Array("abc".utf8))
    }
}
