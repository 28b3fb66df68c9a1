import ArgumentParser
import FinwatchCapture
import FinwatchCore
import FoundationEssentials
import Glibc

/// The root command: capture (live or from a file) and write the contract's JSON lines.
/// `status` and `selftest` are subcommands; everything else is this command's flags.
@main
struct Finwatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finwatch",
        abstract: "Watch how TCP connections end.",
        version: finwatchVersion,
        subcommands: [Status.self, Selftest.self])

    @Option(help: ArgumentHelp("Capture live on this interface (default: any).", valueName: "IFACE"))
    var interface: String?

    @Option(help: ArgumentHelp("Read a pcap or pcapng file instead of capturing live.", valueName: "FILE"))
    var read: String?

    @Option(help: ArgumentHelp("Extra capture filter (BPF), ANDed with \"tcp\".", valueName: "BPF"))
    var filter: String?

    @Option(help: ArgumentHelp("Append JSON lines here; - is standard output.", valueName: "PATH"))
    var output: String = "-"

    @Option(help: ArgumentHelp("Alert when a side stays in CLOSE_WAIT this long (default 60s).", valueName: "DURATION"))
    var closeWaitThreshold: String?

    @Option(name: .customLong("fin-wait-2-threshold"),
            help: ArgumentHelp("Alert when a side stays in FIN_WAIT_2 this long (default 60s).", valueName: "DURATION"))
    var finWait2Threshold: String?

    @Option(help: ArgumentHelp("Alert when a side stays in LAST_ACK this long (default 30s).", valueName: "DURATION"))
    var lastAckThreshold: String?

    @Option(help: ArgumentHelp("How long the active closer is held in TIME_WAIT (default 60s, Linux's 2*MSL).", valueName: "DURATION"))
    var timeWait: String?

    @Option(help: ArgumentHelp("Bound on tracked connections (default 262144).", valueName: "N"))
    var maxConnections: Int?

    @Option(help: ArgumentHelp("Live: write a stats event this often.", valueName: "DURATION"))
    var statsInterval: String = "60s"

    @Option(help: ArgumentHelp("Live: serve /metrics, /healthz, /connections here (default 127.0.0.1:9465).", valueName: "ADDR:PORT"))
    var listen: String?

    @Flag(help: "Live: do not serve HTTP.")
    var noListen = false

    @Flag(help: "Live: put the interface in promiscuous mode (needs CAP_NET_ADMIN too).")
    var promiscuous = false

    @Flag(help: "Do not look inside tunnels (VXLAN, Geneve, GRE, MPLS, PPPoE …).")
    var noDecapsulate = false

    @Option(help: ArgumentHelp("Live: capture-and-track shards in one PACKET_FANOUT group; auto = the cores finwatch may use (default 1).",
                               valueName: "N|auto"))
    var workers: String?

    @Option(help: ArgumentHelp("Add a port label to the alert and endpoint metrics for these ports (at most 32); others count as \"other\".",
                               valueName: "P,P,..."))
    var metricsPorts: String?

    @Option(help: ArgumentHelp("Live: warn when connections to one remote address and port hold this much of the local port range: a fraction (0.8, 80%), a count, or off (default 0.8).",
                               valueName: "F|N|off"))
    var portExhaustionThreshold: String?

    /// The flags checked and converted. Every problem is a `FinwatchError.usage` naming the flag.
    func runOptions() throws(FinwatchError) -> RunOptions {
        if let read, let interface {
            throw .usage("--read \"\(read)\" and --interface \"\(interface)\" cannot be used together: choose a file or a live interface")
        }
        if listen != nil && noListen { throw .usage("--listen and --no-listen cannot be used together") }
        if read != nil && promiscuous { throw .usage("--promiscuous applies to live capture, not --read") }
        if output.isEmpty { throw .usage("--output must be a path or -, got \"\"") }
        var tracker = TrackerConfiguration()
        if let text = closeWaitThreshold { tracker.closeWaitThreshold = try RunOptions.duration(text, flag: "--close-wait-threshold") }
        if let text = finWait2Threshold { tracker.finWait2Threshold = try RunOptions.duration(text, flag: "--fin-wait-2-threshold") }
        if let text = lastAckThreshold { tracker.lastAckThreshold = try RunOptions.duration(text, flag: "--last-ack-threshold") }
        if let text = timeWait { tracker.timeWait = try RunOptions.duration(text, flag: "--time-wait", allowZero: true) }
        if let maxConnections {
            guard maxConnections > 0 else { throw .usage("--max-connections must be at least 1, got \(maxConnections)") }
            guard maxConnections <= TrackerConfiguration.maximumConnectionsLimit else {
                throw .usage("--max-connections must be at most \(TrackerConfiguration.maximumConnectionsLimit) (about 40 GB of memory), got \(maxConnections)")
            }
            tracker.maxConnections = maxConnections
        }
        if let metricsPorts { tracker.metricsPorts = try RunOptions.metricsPorts(metricsPorts) }
        if let text = portExhaustionThreshold {
            if read != nil { throw .usage("--port-exhaustion-threshold applies to live capture, not --read (the host's port range says nothing of a file's)") }
            tracker.portExhaustion = try RunOptions.portExhaustionThreshold(text)
        } else if read == nil {
            tracker.portExhaustion = .default
        }
        let statsInterval = try RunOptions.duration(statsInterval, flag: "--stats-interval")
        let source: CaptureSource = if let read {
            .file(path: read)
        } else {
            .live(LiveCaptureOptions(interface: interface ?? "any", promiscuous: promiscuous))
        }
        var listenAddress: RunOptions.ListenAddress? = nil
        if !noListen, read == nil {
            listenAddress = try listen.map { text throws(FinwatchError) in try RunOptions.listenAddress(text) }
                ?? RunOptions.defaultListen
        } else if let listen {
            _ = try RunOptions.listenAddress(listen)   // still reject a malformed value
        }
        var options = RunOptions(source: source, filter: filter, output: output, tracker: tracker,
                                 statsInterval: statsInterval, listen: listenAddress)
        options.decapsulate = !noDecapsulate
        if let workers {
            options.workers = try RunOptions.workers(workers, cores: FoundationEssentials.ProcessInfo.processInfo.activeProcessorCount,
                                                     offline: read != nil)
        }
        options.tracker.portExhaustionShards = options.workers
        return options
    }

    /// ArgumentParser runs this after parsing: usage errors surface before anything opens.
    func validate() throws {
        do {
            _ = try runOptions()
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The one place errors end the program: one line on standard error, the sysexits status.
    func run() async throws {
        // A reader that goes away (`finwatch | head`) must end us cleanly, not kill us: the
        // writer sees EPIPE instead.
        signal(SIGPIPE, SIG_IGN)
        do {
            let options = try runOptions()
            if options.isOffline {
                try OfflineRun(options: options).run()
            } else {
                try await LiveRun(options: options).run()
            }
        } catch {
            Self.printError(error.message)
            throw ExitCode(error.exitStatus.rawValue)
        }
    }

    /// Replaces ArgumentParser's multi-line usage errors with one line, keeping its statuses
    /// (64 for usage); help and --version still print in full.
    static func main() async {
        do {
            var command = try parseAsRoot(ProcessArguments.current())
            if command is Finwatch || command is Selftest {
                // Here, before the first await: an await can start the runtime's first worker
                // thread, and with it the check that aborts (`requireOwnProcEntries`).
                do {
                    try requireOwnProcEntries()
                } catch {
                    printError(error.message)
                    Glibc.exit(command is Selftest ? 1 : error.exitStatus.rawValue)
                }
            }
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let status = exitCode(for: error)
            if status.isSuccess {
                print(fullMessage(for: error))
            } else {
                let text = message(for: error).split(whereSeparator: \.isNewline).joined(separator: "; ")
                if !text.isEmpty { printError(text) }
            }
            Glibc.exit(status.rawValue)   // exit() flushes stdio: help text is not lost
        }
    }

    /// libdispatch, under Swift's concurrency and finwatch's own queues, checks its worker
    /// threads once a second, the first time as the first one starts, by reading
    /// /proc/<thread>/stat, and aborts the process (SIGILL, no message) when it cannot open one.
    /// A host whose /proc hides this process's own entries gets one clear line and 69 at start
    /// instead of a crash now and then. ProcSubset=pid and hidepid keep them; only a /proc
    /// masked whole removes them.
    static func requireOwnProcEntries() throws(FinwatchError) {
        let fd = open("/proc/thread-self/stat", O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw .runtimeUnavailable("cannot read /proc/thread-self/stat (\(reason)): the Swift runtime's thread pool reads /proc/<thread>/stat and aborts without it; give finwatch a procfs that shows its own process (ProcSubset=pid is enough)")
        }
        close(fd)
    }

    static func printError(_ message: String) {
        // write(2), not FileHandle: FileHandle alone would link all of Foundation and ICU (34 MB).
        let line = Array("finwatch: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
