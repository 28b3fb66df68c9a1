import Foundation
import Testing

/// End to end on the packet clock: one small capture per teardown scenario (written by
/// Golden/make_scenarios.py) replayed through the real binary, compared line by line with the
/// golden JSON lines beside it. The same file always yields the same events (CONTRACT.md).
@Suite("Golden replays")
struct GoldenReplayTests {
    static let directory = RepositoryPaths.repository.appendingPathComponent("Tests/finwatchTests/Golden")

    static let scenarios = [
        "normal-orig-first", "simultaneous", "fin-retransmits", "lost-final-ack", "rst-in-close-wait",
        "syn-in-time-wait", "close-wait-lingering", "refused", "no-answer", "ipv6-normal-resp-first",
        "reset-established", "end-of-input", "mid-stream", "data-after-fin", "time-wait-reset",
        "reset-out-of-window", "fin-wait-2-lingering", "last-ack-lingering",
    ]

    @Test("replay matches its golden file", arguments: scenarios)
    func replay(scenario: String) throws {
        let capture = GoldenReplayTests.directory.appendingPathComponent("\(scenario).pcap").path
        let golden = try String(contentsOf: GoldenReplayTests.directory.appendingPathComponent("\(scenario).jsonl"),
                                encoding: .utf8)
        let result = try FinwatchProcess.run(["--read", capture, "--close-wait-threshold", "1s", "--fin-wait-2-threshold", "1s"])
        #expect(result.status == 0 && !result.signaled, "\(result.stderr)")
        // `start` names the file as given; the golden files were made with the bare file name.
        let got = result.stdoutLines.map { $0.replacingOccurrences(of: capture, with: "\(scenario).pcap") }
        let want = golden.split(separator: "\n").map { String($0) }
        #expect(got.count == want.count)
        for (line, (a, b)) in zip(got, want).enumerated() where a != b {
            Issue.record("line \(line + 1) differs:\n got: \(a)\nwant: \(b)")
        }
    }
}
