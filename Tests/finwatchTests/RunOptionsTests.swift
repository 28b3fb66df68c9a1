import ArgumentParser
import FinwatchCapture
import FinwatchCore
import Testing
@testable import finwatch

/// The command line, parsed in-process (`Finwatch.parseAsRoot`): every flag, defaults, errors.
@Suite("command line") struct RunOptionsTests {
    func options(_ arguments: [String]) throws -> RunOptions {
        let command = try #require(try Finwatch.parseAsRoot(arguments) as? Finwatch)
        return try command.runOptions()
    }

    @Test func noFlags_liveOnAny_withContractDefaults() throws {
        let options = try options([])
        #expect(options.source == .live(LiveCaptureOptions(interface: "any")))
        #expect(options.output == "-")
        #expect(options.filter == nil)
        var tracker = TrackerConfiguration()
        tracker.portExhaustion = .fraction(0.8)   // live only: the host's port range is watched
        #expect(options.tracker == tracker)
        #expect(options.statsInterval == 60 * DurationText.second)
        #expect(options.listen == RunOptions.ListenAddress(host: "127.0.0.1", port: 9465))
        guard case .live(let live) = options.source else { Issue.record("not live"); return }
        #expect(live.snapshotLength == 256)
        #expect(live.promiscuous == false)
        // Block delivery (TPACKET_V3): a wakeup per block, a block held back at most 100 ms.
        #expect(!live.immediateMode)
        #expect(live.bufferTimeoutMilliseconds == 100)
        #expect(options.workers == 1)
    }

    @Test func workers_countOrAuto_liveOnly() throws {
        #expect(try options(["--workers", "1"]).workers == 1)
        #expect(try RunOptions.workers("auto", cores: 6, offline: false) == 6)
        #expect(try RunOptions.workers("4", cores: 6, offline: false) == 4)
        #expect(throws: FinwatchError.self) { try RunOptions.workers("7", cores: 6, offline: false) }
        #expect(throws: FinwatchError.self) { try RunOptions.workers("1", cores: 6, offline: true) }
    }

    @Test func metricsPorts_listBecomesTheBoundedBreakdown() throws {
        #expect(try options([]).tracker.metricsPorts == nil)
        #expect(try options(["--metrics-ports", "443,5432"]).tracker.metricsPorts?.labels == ["443", "5432", "other"])
        // Offline nothing is served, but a bad list is still refused.
        #expect(try options(["--read", "a.pcap", "--metrics-ports", "80"]).tracker.metricsPorts?.ports == [80])
        #expect(throws: (any Error).self) { try options(["--read", "a.pcap", "--metrics-ports", "80,x"]) }
    }

    @Test("--port-exhaustion-threshold: a fraction, a percentage, a count or off", arguments: [
        ("0.8", PortExhaustionThreshold?.some(.fraction(0.8))), ("80%", .fraction(0.8)), ("1", .count(1)),
        ("20000", .count(20000)), ("1.0", .fraction(1)), ("off", nil),
    ])
    func portExhaustionThreshold(text: String, expected: PortExhaustionThreshold?) throws {
        let options = try options(["--port-exhaustion-threshold", text])
        #expect(options.tracker.portExhaustion == expected)
    }

    @Test func portExhaustion_watchedLiveOnly_sharedByTheWorkers() throws {
        #expect(try options(["--read", "a.pcap"]).tracker.portExhaustion == nil)
        #expect(try options(["--workers", "1"]).tracker.portExhaustionShards == 1)
    }

    @Test func everyFlag_isApplied() throws {
        let options = try options([
            "--interface", "lo", "--filter", "port 80", "--output", "/tmp/x.jsonl",
            "--close-wait-threshold", "3s", "--fin-wait-2-threshold", "250ms", "--last-ack-threshold", "2m",
            "--time-wait", "1h", "--max-connections", "1000", "--stats-interval", "5s",
            "--listen", "[::1]:9000", "--promiscuous",
        ])
        #expect(options.source == .live(LiveCaptureOptions(interface: "lo", promiscuous: true)))
        #expect(options.filter == "port 80")
        #expect(options.output == "/tmp/x.jsonl")
        #expect(options.tracker.closeWaitThreshold == 3 * DurationText.second)
        #expect(options.tracker.finWait2Threshold == 250 * DurationText.millisecond)
        #expect(options.tracker.lastAckThreshold == 120 * DurationText.second)
        #expect(options.tracker.timeWait == 3600 * DurationText.second)
        #expect(options.tracker.maxConnections == 1000)
        #expect(options.statsInterval == 5 * DurationText.second)
        #expect(options.listen == RunOptions.ListenAddress(host: "::1", port: 9000))
    }

    @Test func read_isOffline_andServesNothing() throws {
        let options = try options(["--read", "/tmp/a.pcap"])
        #expect(options.source == .file(path: "/tmp/a.pcap"))
        #expect(options.isOffline)
        #expect(options.listen == nil)
    }

    @Test func noListen_servesNothing() throws {
        #expect(try options(["--no-listen"]).listen == nil)
    }

    @Test func timeWaitZero_isAllowed() throws {
        #expect(try options(["--time-wait", "0s"]).tracker.timeWait == 0)
    }

    @Test("bad usage is rejected while parsing", arguments: [
        ["--read", "a.pcap", "--interface", "lo"],
        ["--close-wait-threshold", "3"],
        ["--close-wait-threshold", "0s"],
        ["--fin-wait-2-threshold", "-1s"],
        ["--last-ack-threshold", "soon"],
        ["--time-wait", "1x"],
        ["--stats-interval", "0ms"],
        ["--max-connections", "0"],
        ["--max-connections", "many"],
        ["--max-connections", "100000001"],   // past what the index numbers and memory allow
        ["--listen", "localhost:9465"],
        ["--listen", "127.0.0.1:70000"],
        ["--listen", "127.0.0.1"],
        ["--listen", "127.0.0.1:9465", "--no-listen"],
        ["--read", "a.pcap", "--promiscuous"],
        ["--no-such-flag"],
    ])
    func badUsage_isAParseError_withStatus64(arguments: [String]) {
        #expect {
            _ = try Finwatch.parseAsRoot(arguments)
        } throws: { error in
            Finwatch.exitCode(for: error).rawValue == 64
        }
    }

    @Test func badDuration_messageNamesTheFlagAndValue() throws {
        var command = try #require(try Finwatch.parseAsRoot([]) as? Finwatch)
        command.closeWaitThreshold = "0s"
        #expect(throws: FinwatchError.usage("--close-wait-threshold must be positive, got \"0s\"")) {
            _ = try command.runOptions()
        }
        command.closeWaitThreshold = "3"
        #expect(throws: FinwatchError.usage(
            "--close-wait-threshold must be a duration such as 250ms, 3s, 2m or 1h, got \"3\"")) {
            _ = try command.runOptions()
        }
    }

    @Test func subcommands_stayReachable() throws {
        #expect(try Finwatch.parseAsRoot(["status"]) is Status)
        #expect(try Finwatch.parseAsRoot(["selftest"]) is Selftest)
    }

    @Test func version_isTheOneConstant() {
        #expect(Finwatch.configuration.version == finwatchVersion)
    }
}
