import FinwatchCapture
import FinwatchCore

/// The version `--version` prints and the start event and build_info carry: the one place it lives.
let finwatchVersion = "0.1.0"

/// The root command's flags, checked and converted: what a run needs, nothing textual left.
struct RunOptions: Sendable, Equatable {
    /// Where `--listen` serves /metrics, /healthz and /connections.
    struct ListenAddress: Sendable, Equatable {
        var host: String
        var port: Int
        /// `host:port`, bracketing IPv6 as an operator writes it.
        var text: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    var source: CaptureSource
    /// The user's --filter (ANDed with "tcp" by the capture layer), nil when absent.
    var filter: String?
    /// "-" for standard output.
    var output: String
    var tracker: TrackerConfiguration
    /// Live: a `stats` event this often, in nanoseconds.
    var statsInterval: Int64
    /// nil with --no-listen (and offline, where there is nothing to serve).
    var listen: ListenAddress?
    /// Live: capture-and-track shards in one PACKET_FANOUT group (--workers); 1 offline.
    var workers = 1
    /// Look inside tunnels (VXLAN, Geneve, GRE, MPLS, PPPoE …); off with --no-decapsulate.
    var decapsulate = true

    static let defaultListen = ListenAddress(host: "127.0.0.1", port: 9465)

    var isOffline: Bool { if case .file = source { true } else { false } }

    /// The thresholds the start event reports, by the names of their flags.
    var thresholds: [(name: String, nanoseconds: Int64)] {
        [("close_wait", tracker.closeWaitThreshold), ("fin_wait_2", tracker.finWait2Threshold),
         ("last_ack", tracker.lastAckThreshold), ("time_wait", tracker.timeWait)]
    }

    /// A duration flag's value in nanoseconds; `allowZero` for --time-wait (no TIME_WAIT hold).
    static func duration(_ text: String, flag: String, allowZero: Bool = false) throws(FinwatchError) -> Int64 {
        guard let nanoseconds = DurationText.parse(text) else {
            throw .usage("\(flag) must be a duration such as 250ms, 3s, 2m or 1h, got \"\(text)\"")
        }
        guard nanoseconds > 0 || (allowZero && nanoseconds == 0) else {
            throw .usage("\(flag) must be positive, got \"\(text)\"")
        }
        return nanoseconds
    }

    /// `--workers N|auto`: 1 to the cores this process may run on (`auto`: all of them); live only.
    static func workers(_ text: String, cores: Int, offline: Bool) throws(FinwatchError) -> Int {
        if offline { throw .usage("--workers applies to live capture, not --read (a file is read by one thread, deterministically)") }
        if text == "auto" { return max(1, cores) }
        guard let count = Int(text) else { throw .usage("--workers must be a number or auto, got \"\(text)\"") }
        guard count >= 1 else { throw .usage("--workers must be at least 1, got \(count)") }
        guard count <= cores else {
            throw .usage("--workers \(count) is more than the \(cores) core\(cores == 1 ? "" : "s") finwatch may run on here (use auto, or at most \(cores))")
        }
        return count
    }

    /// `--metrics-ports 443,5432,…`: at most `PortBreakdown.maximumPorts` distinct ports 1-65535.
    static func metricsPorts(_ text: String) throws(FinwatchError) -> PortBreakdown {
        do throws(PortBreakdown.Problem) {
            return try PortBreakdown(parsing: text)
        } catch {
            throw .usage("--metrics-ports \(error.message)")
        }
    }

    /// `--port-exhaustion-threshold`: a fraction of the ephemeral range (`0.8`, `80%`), a count of
    /// ports (`20000`), or `off`. nil for off.
    static func portExhaustionThreshold(_ text: String) throws(FinwatchError) -> PortExhaustionThreshold? {
        let problem = FinwatchError.usage(
            "--port-exhaustion-threshold must be a fraction of the port range (0.8 or 80%), a count of ports (20000) or off, got \"\(text)\"")
        if text == "off" { return nil }
        let isNumber = !text.isEmpty && text.utf8.allSatisfy { (0x30...0x39).contains($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") }
        guard isNumber else { throw problem }
        if text.hasSuffix("%") {
            guard let percent = Double(text.dropLast()), percent > 0, percent <= 100 else { throw problem }
            return .fraction(percent / 100)
        }
        if text.contains(".") {
            guard let fraction = Double(text), fraction > 0, fraction <= 1 else { throw problem }
            return .fraction(fraction)
        }
        guard let count = Int(text), (1...65535).contains(count) else { throw problem }
        return .count(count)
    }

    /// `ADDR:PORT` with an IPv4 or bracketed IPv6 literal and a port 1-65535.
    static func listenAddress(_ text: String) throws(FinwatchError) -> ListenAddress {
        let problem = FinwatchError.usage("--listen must be ADDR:PORT such as 127.0.0.1:9465 or [::1]:9465, got \"\(text)\"")
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { throw problem }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard IPAddress(String(host))?.isIPv6 == true else { throw problem }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw problem }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard let address = IPAddress(String(host)), !address.isIPv6 else { throw problem }
        }
        guard let port = Int(portText), (1...65535).contains(port) else { throw problem }
        return ListenAddress(host: String(host), port: port)
    }
}
