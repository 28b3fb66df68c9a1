#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FinwatchCore

// finwatch-bench: the benchmark's tools. `Benchmarks/run.sh` (make bench) drives them; see
// docs/benchmark.md. Output lines are `key=value` pairs so the script can read them.

let usage = """
usage: finwatch-bench generate --out FILE [--packets N] [--connections N] [--seed S] [--open N | --closed N] [--snaplen N]
       finwatch-bench floor FILE [--runs N]
       finwatch-bench check-frames [--count N] [--seed S]
       finwatch-bench measure -- COMMAND [ARGUMENT ...]
       finwatch-bench inject FILE --interface IFACE [--rate FRAMES_PER_SECOND]
       finwatch-bench encode [--count N]
       finwatch-bench track FILE [--runs N] [--port-exhaustion COUNT] [--metrics-ports P,P,...]
       finwatch-bench flood --out FILE [--flows N] [--flags syn|fin]
"""

/// Parses `--name value` pairs after the command word; a bare word is returned as a positional.
func options(_ arguments: ArraySlice<String>) throws(BenchError) -> (named: [String: String], positional: [String]) {
    var named: [String: String] = [:]
    var positional: [String] = []
    var index = arguments.startIndex
    while index < arguments.endIndex {
        let word = arguments[index]
        if word.hasPrefix("--") {
            guard index + 1 < arguments.endIndex else { throw .usage("\(word) needs a value\n\(usage)") }
            named[String(word.dropFirst(2))] = arguments[index + 1]
            index += 2
        } else {
            positional.append(word)
            index += 1
        }
    }
    return (named, positional)
}

/// The positive integer given as `--key`, or `value` when absent.
func number<T: FixedWidthInteger>(_ named: [String: String], _ key: String, default value: T) throws(BenchError) -> T {
    guard let text = named[key] else { return value }
    guard let parsed = T(text.replacingUnderscores()), parsed > 0 else {
        throw .usage("--\(key) must be a positive integer, got \"\(text)\"")
    }
    return parsed
}

extension String {
    /// Lets `--packets 5_000_000` be written as in Swift.
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}

/// `value` rounded to `decimals` places, for key=value output.
func formatted(_ value: Double, decimals: Int = 3) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    return "\(rounded)"
}

func main() throws(BenchError) {
    let arguments = CommandLine.arguments.dropFirst()
    guard let command = arguments.first else { throw .usage(usage) }
    if command == "measure" {
        // Everything after "--" is the child's command line, untouched.
        let rest = arguments.dropFirst()
        let childCommand = Array(rest.first == "--" ? rest.dropFirst() : rest)
        let result = try Measurement.run(childCommand)
        print("seconds=\(formatted(result.seconds, decimals: 4)) cpu_seconds=\(formatted(result.cpuSeconds, decimals: 4)) max_rss_kb=\(result.maxRSSKilobytes) exit=\(result.exitStatus)")
        if result.exitStatus != 0 { exit(result.exitStatus) }
        return
    }
    let (named, positional) = try options(arguments.dropFirst())
    switch command {
    case "generate":
        guard let out = named["out"] else { throw .usage("generate needs --out FILE\n\(usage)") }
        var configuration = Generator.Configuration()
        configuration.packetLimit = try number(named, "packets", default: configuration.packetLimit)
        configuration.concurrency = try number(named, "connections", default: configuration.concurrency)
        configuration.seed = try number(named, "seed", default: configuration.seed)
        configuration.snaplen = try number(named, "snaplen", default: configuration.snaplen)
        if named["open"] != nil { configuration.openCount = try number(named, "open", default: 1) }
        if named["closed"] != nil {
            guard named["open"] == nil else { throw .usage("--open and --closed exclude each other\n\(usage)") }
            configuration.openCount = try number(named, "closed", default: 1)
            configuration.closeHeld = true
        }
        guard configuration.snaplen >= 86 else { throw .usage("--snaplen must be at least 86 (the largest headers)") }
        let started = Floor.monotonicSeconds()
        let summary = try Generator(configuration: configuration).run(to: out)
        let seconds = Floor.monotonicSeconds() - started
        print("file=\(out) packets=\(summary.packets) connections=\(summary.connections) bytes=\(summary.bytes)",
              "capture_seconds=\(formatted(Double(summary.lastTime - summary.firstTime) / 1e6))",
              "largest_queue=\(summary.largestBacklog) generate_seconds=\(formatted(seconds))")
    case "flood":
        guard let out = named["out"] else { throw .usage("flood needs --out FILE\n\(usage)") }
        let flows: Int = try number(named, "flows", default: 10_000_000)
        guard flows <= 65_536 * 64_000 else { throw .usage("--flows must be at most 4,194,304,000 (distinct 4-tuples)") }
        let flags = named["flags"] ?? "syn"
        guard flags == "syn" || flags == "fin" else { throw .usage("--flags must be syn or fin, got \"\(flags)\"") }
        try Flood.write(to: out, flows: flows, fin: flags == "fin")
        print("file=\(out) flows=\(flows)")
    case "floor":
        guard let path = positional.first else { throw .usage("floor needs a FILE\n\(usage)") }
        let runs: Int = try number(named, "runs", default: 1)
        var best: Floor.Result?
        var bestCPU = Double.infinity
        for run in 1...runs {
            let result = try Floor.run(path: path)
            print("run=\(run) packets=\(result.counts.packets) bytes=\(result.counts.bytes)",
                  "seconds=\(formatted(result.seconds, decimals: 4)) cpu_seconds=\(formatted(result.cpuSeconds, decimals: 4))",
                  "packets_per_second=\(Int(result.packetsPerSecond))")
            if best == nil || result.seconds < best!.seconds { best = result }
            bestCPU = min(bestCPU, result.cpuSeconds)
        }
        if let best {
            print("best packets=\(best.counts.packets) seconds=\(formatted(best.seconds, decimals: 4))",
                  "packets_per_second=\(Int(best.packetsPerSecond)) cpu_seconds=\(formatted(bestCPU, decimals: 4))")
        }
    case "check-frames":
        let count: Int = try number(named, "count", default: 10_000)
        let seed: UInt64 = try number(named, "seed", default: 7)
        let result = try FrameCheck.run(count: count, seed: seed)
        print("frames_checked=\(result.frames) result=identical",
              "encoder_ns_per_frame=\(Int(result.encoderNanosecondsPerFrame))",
              "framebuilder_ns_per_frame=\(Int(result.builderNanosecondsPerFrame))")
    case "encode":
        let count: Int = try number(named, "count", default: 2_000_000)
        let result = EncodeBench.run(count: count)
        print("events=\(result.events) bytes_per_event=\(result.bytes / result.events)",
              "seconds=\(formatted(result.seconds, decimals: 4)) ns_per_event=\(Int(result.nanosecondsPerEvent))")
    case "track":
        guard let path = positional.first else { throw .usage("track needs a FILE\n\(usage)") }
        // --runs 0 loads the file and tracks nothing: what callgrind subtracts to count the tracker alone.
        let runs = named["runs"] == "0" ? 0 : try number(named, "runs", default: 3) as Int
        var configuration = TrackerConfiguration()
        // What the live defaults add (port exhaustion watched against Linux's default range) and
        // the opt-in port label, measured against the offline configuration.
        if let count = named["port-exhaustion"] {
            guard let count = Int(count), count > 0 else { throw .usage("--port-exhaustion must be a positive count") }
            configuration.portExhaustion = .count(count)
            configuration.ephemeralPortRange = EphemeralPortRange(low: 32768, high: 60999)
        }
        if let ports = named["metrics-ports"] {
            do throws(PortBreakdown.Problem) {
                configuration.metricsPorts = try PortBreakdown(parsing: ports)
            } catch {
                throw .usage("--metrics-ports \(error.message)")
            }
        }
        let result = try TrackBench.run(path: path, runs: runs, configuration: configuration)
        print("packets=\(result.packets) events=\(result.events)",
              "seconds=\(result.seconds.map { formatted($0, decimals: 4) }.joined(separator: ","))",
              "ns_per_packet=\(Int(result.nanosecondsPerPacket))")
    case "inject":
        guard let path = positional.first, let interface = named["interface"] else {
            throw .usage("inject needs a FILE and --interface IFACE\n\(usage)")
        }
        let rate: Int? = named["rate"] == nil ? nil : try number(named, "rate", default: 1)
        let result = try Inject.run(path: path, interface: interface, rate: rate)
        print("sent=\(result.sent) failed=\(result.failed) seconds=\(formatted(result.seconds, decimals: 4))",
              "packets_per_second=\(Int(Double(result.sent) / max(result.seconds, 1e-9)))")
    default:
        throw .usage("unknown command \"\(command)\"\n\(usage)")
    }
}

do {
    try main()
} catch {
    var standardError = StandardError()
    print("finwatch-bench: \(error)", to: &standardError)
    exit(error.isUsage ? 64 : 1)
}

extension BenchError {
    var isUsage: Bool { if case .usage = self { true } else { false } }
}

/// Standard error as a `TextOutputStream`, for `print(_:to:)`.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        // The file descriptor, not the `stderr` FILE global, which Swift 6 rejects as shared mutable state.
        var text = string
        text.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
