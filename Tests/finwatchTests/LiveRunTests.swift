import Foundation
import Glibc
import Testing

/// A real finwatch on `lo` against real sockets: start, one normal close, stop on SIGTERM.
@Suite("live run on lo", .serialized) struct LiveRunTests {
    @Test(.enabled(if: geteuid() == 0, "capturing on lo needs root or CAP_NET_RAW"))
    func loopbackConnection_closedNormally_isReportedThenStopOnSIGTERM() throws {
        let (listener, port) = try LoopbackConversation.listen()
        defer { close(listener) }
        let finwatch = try FinwatchProcess(["--interface", "lo", "--filter", "tcp port \(port)", "--no-listen"])
        // The start event is written once the capture is open: wait for it (bounded).
        let deadline = Date().addingTimeInterval(10)
        while !finwatch.currentStdout.contains("\"type\":\"start\"") && Date() < deadline { usleep(20_000) }
        #expect(finwatch.currentStdout.contains("\"type\":\"start\""), "no start event within 10 s")

        let clientPort = try LoopbackConversation.run(listener: listener, port: port)
        // The close record is written at the final ACK; give the capture loop a few ticks.
        let closeDeadline = Date().addingTimeInterval(5)
        while !finwatch.currentStdout.contains("\"type\":\"close\"") && Date() < closeDeadline { usleep(50_000) }
        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 10)

        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.signaled == false)
        let events = try FinwatchProcess.jsonObjects(result.stdoutLines)
        #expect(events.first?["type"] as? String == "start")
        #expect(events.first?["source"] as? String == "lo")
        #expect(events.last?["type"] as? String == "stop")
        let closes = events.filter { $0["type"] as? String == "close" }
        #expect(closes.count == 1, "one close record; got \(result.stdout)")
        guard let close = closes.first else { return }
        let orig = close["orig"] as? [String: Any]
        let resp = close["resp"] as? [String: Any]
        #expect(orig?["ip"] as? String == "127.0.0.1")
        #expect(orig?["port"] as? Int == Int(clientPort))
        #expect(resp?["ip"] as? String == "127.0.0.1")
        #expect(resp?["port"] as? Int == Int(port))
        #expect(close["handshake_seen"] as? Bool == true)
        #expect(close["close"] as? String == "normal")
        #expect(close["active_closer"] as? String == "orig")
    }
}
