import Foundation
import Glibc
import Testing

/// Exit statuses and the one-line error, by running the built binary (see FinwatchProcess).
@Suite("exit statuses") struct ExitStatusTests {
    /// Runs finwatch, expects `status`, no output, and exactly one stderr line containing `fragment`.
    func expectFailure(_ arguments: [String], status: Int32, mentioning fragment: String) throws {
        let result = try FinwatchProcess.run(arguments)
        #expect(result.signaled == false)
        #expect(result.status == status, "stderr: \(result.stderr)")
        #expect(result.stdout.isEmpty, "nothing written half-way: \(result.stdout)")
        #expect(result.stderrLines.count == 1, "one line: \(result.stderr)")
        #expect(result.stderr.hasPrefix("finwatch: "))
        #expect(result.stderr.contains(fragment), "\(result.stderr)")
    }

    @Test func missingFile_66() throws {
        try expectFailure(["--read", "/nonexistent/finwatch-\(UUID().uuidString).pcap"], status: 66, mentioning: "no such file")
    }

    @Test func directoryAsFile_66() throws {
        try expectFailure(["--read", NSTemporaryDirectory()], status: 66, mentioning: "directory")
    }

    @Test func textFile_65_withLibpcapsMessage() throws {
        let path = NSTemporaryDirectory() + "finwatch-\(UUID().uuidString).txt"
        try Data("not a capture\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }   // best effort cleanup
        try expectFailure(["--read", path], status: 65, mentioning: "libpcap says: unknown file format")
    }

    @Test func gzipCapture_65() throws {
        let corpus = try #require(RepositoryPaths.corpus, "the corpus is in the repository (Tests/Corpus)")
        try expectFailure(["--read", corpus.appendingPathComponent("community-id/pcaps/combined.pcap.gz").path],
                          status: 65, mentioning: "not a pcap or pcapng capture")
    }

    @Test func badFilter_64_withLibpcapsMessage() throws {
        let corpus = try #require(RepositoryPaths.corpus)
        try expectFailure(["--read", corpus.appendingPathComponent("tcpdump/print-flags.pcap").path, "--filter", "tcp port"],
                          status: 64, mentioning: "invalid --filter \"tcp port\": libpcap says: ")
        try expectFailure(["--read", corpus.appendingPathComponent("tcpdump/print-flags.pcap").path, "--filter", "tcp port"],
                          status: 64, mentioning: "syntax error")
    }

    @Test func unknownInterface_69() throws {
        try expectFailure(["--interface", "eth9", "--no-listen"], status: 69,
                          mentioning: "cannot capture on \"eth9\": no such interface (see `ip link`)")
    }

    @Test func listenPortTaken_69_beforeAnythingIsWritten() throws {
        // Another program holds the port: finwatch must refuse before it opens the capture.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(holder >= 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(holder, 1) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(holder, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)
        try expectFailure(["--interface", "lo", "--listen", "127.0.0.1:\(port)"], status: 69,
                          mentioning: "cannot serve --listen 127.0.0.1:\(port): address already in use")
    }

    @Test func readAndInterface_64() throws {
        try expectFailure(["--read", "x.pcap", "--interface", "lo"], status: 64, mentioning: "cannot be used together")
    }

    @Test func workersZero_64() throws {
        try expectFailure(["--workers", "0", "--no-listen"], status: 64, mentioning: "--workers must be at least 1, got 0")
    }

    @Test func workersAboveTheCores_64() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        try expectFailure(["--workers", "\(cores + 1)", "--no-listen"], status: 64,
                          mentioning: "--workers \(cores + 1) is more than the \(cores) core")
    }

    @Test func workersWithRead_64() throws {
        try expectFailure(["--read", "x.pcap", "--workers", "2"], status: 64, mentioning: "--workers applies to live capture, not --read")
        try expectFailure(["--read", "x.pcap", "--workers", "auto"], status: 64, mentioning: "not --read")
    }

    @Test func workersNotANumber_64() throws {
        try expectFailure(["--workers", "many", "--no-listen"], status: 64, mentioning: "--workers must be a number or auto")
    }

    @Test func badDuration_64() throws {
        try expectFailure(["--read", "x.pcap", "--close-wait-threshold", "0s"], status: 64,
                          mentioning: "--close-wait-threshold must be positive, got \"0s\"")
    }

    @Test("a bad --metrics-ports list: 64 and one line naming the problem", arguments: [
        ("443,https", "--metrics-ports takes ports 1-65535 separated by commas, got \"https\""),
        ("0", "got \"0\""),
        ("443,443", "--metrics-ports lists port 443 twice"),
        ((1...33).map(String.init).joined(separator: ","), "--metrics-ports lists 33 ports, at most 32"),
        ("", "--metrics-ports must list at least one port"),
    ])
    func badMetricsPorts_64(list: String, fragment: String) throws {
        try expectFailure(["--read", "x.pcap", "--metrics-ports", list], status: 64, mentioning: fragment)
        try expectFailure(["--no-listen", "--metrics-ports", list], status: 64, mentioning: fragment)
    }

    @Test func badPortExhaustionThreshold_64() throws {
        for text in ["0", "1.5", "0%", "lots", "3x", "65536", "1.2.3"] {
            try expectFailure(["--no-listen", "--port-exhaustion-threshold", text], status: 64,
                              mentioning: "--port-exhaustion-threshold must be a fraction of the port range (0.8 or 80%), a count of ports (20000) or off, got \"\(text)\"")
        }
        try expectFailure(["--read", "x.pcap", "--port-exhaustion-threshold", "0.5"], status: 64,
                          mentioning: "--port-exhaustion-threshold applies to live capture, not --read")
    }

    @Test func unknownFlag_64_oneLine() throws {
        try expectFailure(["--frobnicate"], status: 64, mentioning: "--frobnicate")
    }

    @Test func unwritableOutput_73() throws {
        let corpus = try #require(RepositoryPaths.corpus)
        try expectFailure(["--read", corpus.appendingPathComponent("tcpdump/print-flags.pcap").path,
                           "--output", "/nonexistent/dir/out.jsonl"], status: 73, mentioning: "cannot open --output")
    }

    @Test func version_0() throws {
        let result = try FinwatchProcess.run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdoutLines.count == 1)
        #expect(result.stdout.first?.isNumber == true)
    }

    @Test func readerGoneEarly_exits0() throws {
        // A closed pipe: finwatch must see EPIPE, not die of SIGPIPE.
        let corpus = try #require(RepositoryPaths.corpus)
        let binary = try #require(FinwatchProcess.binary)
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--read", corpus.appendingPathComponent("zeek/ipv6-http-atomic-frag.pcap").path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try pipe.fileHandleForReading.close()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
    }
}
