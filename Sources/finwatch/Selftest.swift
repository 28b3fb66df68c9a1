import ArgumentParser
import FinwatchCapture
import FinwatchCore
import FoundationEssentials
import Glibc
import Logging

/// `finwatch selftest`: proves capture works on this host, end to end. It captures on `lo`
/// in-process with a filter for one fresh port, runs the real live path (LiveLoop: libpcap,
/// Pipeline, tracker, writer, process lookup) into a temporary file, opens two real loopback
/// connections — one closed normally, one left in CLOSE_WAIT past a 300 ms threshold, then
/// closed — and checks the events. One line per check; exit 0 when all pass, 1 otherwise.
struct Selftest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open real connections on loopback, capture them, check the events; exit 0 or 1.")

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning   // the report is the output; logs only when something is wrong
            return handler
        }
        let checks = await SelftestRun().run()
        for check in checks { print(check.line) }
        let failed = checks.filter { !$0.passed }.count
        print(failed == 0 ? "selftest passed: capture works on this host" : "selftest FAILED: \(failed) of \(checks.count) checks")
        if failed > 0 { throw ExitCode(1) }
    }
}

/// One line of the selftest's report.
struct SelftestCheck: Sendable {
    var name: String
    var passed: Bool
    var detail: String

    var line: String { "\(passed ? "ok    " : "FAILED") \(name)\(detail.isEmpty ? "" : ": \(detail)")" }
}

/// The selftest itself, apart from printing: what the command runs and the tests call.
struct SelftestRun {
    /// The CLOSE_WAIT threshold in force: short, so the whole test takes about two seconds.
    var closeWaitThreshold: Int64 = 300 * DurationText.millisecond
    /// Every wait is bounded by this, so the selftest ends within about five seconds whatever happens.
    var waitLimit: Duration = .milliseconds(1500)

    func run() async -> [SelftestCheck] {
        var checks: [SelftestCheck] = []
        let listener: SelftestSockets.Listener
        do {
            listener = try SelftestSockets.listen()
        } catch {
            return [SelftestCheck(name: "listen on 127.0.0.1", passed: false, detail: "\(error)")]
        }
        defer { close(listener.descriptor) }
        let port = listener.port
        let filter = "port \(port)"
        let source = CaptureSource.live(LiveCaptureOptions(interface: "lo"))
        let handle: PcapHandle
        do {
            handle = try source.open(filter: filter)
        } catch {
            return [SelftestCheck(name: "capture on lo", passed: false, detail: FinwatchError.capture(error).message)]
        }
        checks.append(SelftestCheck(name: "capture on lo", passed: true, detail: "filter \"\(PcapHandle.filterExpression(for: filter))\", link type \(handle.linkTypeName)"))

        let output = FileManager.default.temporaryDirectory
            .appendingPathComponent("finwatch-selftest-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).jsonl").path
        defer { unlink(output) }
        var tracker = TrackerConfiguration()
        tracker.closeWaitThreshold = closeWaitThreshold
        let options = RunOptions(source: source, filter: filter, output: output, tracker: tracker,
                                 statsInterval: 3600 * DurationText.second, listen: nil)
        var logger = Logger(label: "finwatch.selftest")
        logger.logLevel = .warning
        let state = LiveState()
        let loop = LiveLoop(handle: handle, options: options, metrics: nil, state: state, logger: logger,
                            notifier: SystemdNotifier(environment: [:]), processLookup: ProcessLookup(logger: logger))
        let capture = Task { () -> FinwatchError? in
            do throws(FinwatchError) {
                try await CaptureService.runOnCaptureThread { () throws(FinwatchError) in try loop.run() }
                return nil
            } catch {
                return error
            }
        }
        let clock = ContinuousClock()
        let readyBy = clock.now + waitLimit
        while !state.current.capturing && clock.now < readyBy { try? await Task.sleep(for: .milliseconds(10)) }

        // 1. A normal close, client first.
        var normalClient: UInt16?
        do {
            normalClient = try SelftestSockets.normalClose(listener: listener)
        } catch {
            checks.append(SelftestCheck(name: "normal close on loopback", passed: false, detail: "\(error)"))
        }
        // 2. The peer closes, we do not: our accepted socket sits in CLOSE_WAIT past the threshold.
        var lingering: SelftestSockets.Pair?
        var firedAfter: Duration?
        do {
            let pair = try SelftestSockets.connectedPair(listener: listener)
            lingering = pair
            let finSent = clock.now
            close(pair.client)
            let fireBy = clock.now + .nanoseconds(closeWaitThreshold) + waitLimit
            while clock.now < fireBy {
                if Self.events(in: output).contains(where: { Self.isAlert($0, status: "firing") }) {
                    firedAfter = clock.now - finSent
                    break
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
            close(pair.server)
            let resolveBy = clock.now + waitLimit
            while clock.now < resolveBy, !Self.events(in: output).contains(where: { Self.isAlert($0, status: "resolved") }) {
                try? await Task.sleep(for: .milliseconds(20))
            }
        } catch {
            checks.append(SelftestCheck(name: "connection left in CLOSE_WAIT", passed: false, detail: "\(error)"))
        }

        handle.breakLoop()
        if let failure = await capture.value {
            checks.append(SelftestCheck(name: "capture loop", passed: false, detail: failure.message))
        }
        let events = Self.events(in: output)
        if let normalClient {
            checks.append(Self.checkNormalClose(events, clientPort: normalClient, serverPort: port))
        }
        if let lingering {
            checks += Self.checkLingering(events, pair: lingering, firedAfter: firedAfter, threshold: closeWaitThreshold)
        }
        let stopped = events.last?.type == "stop"
        checks.append(SelftestCheck(name: "capture stopped cleanly", passed: stopped,
                                    detail: stopped ? "\(events.count) events written" : "no stop event"))
        return checks
    }

    // MARK: - Checks

    private static func checkNormalClose(_ events: [SelftestEvent], clientPort: UInt16, serverPort: UInt16) -> SelftestCheck {
        let name = "normal close recorded"
        let closes = events.filter { $0.type == "close" && isLoopback($0.orig, port: clientPort) }
        guard let record = closes.first else {
            return SelftestCheck(name: name, passed: false, detail: "no close event for 127.0.0.1:\(clientPort) → 127.0.0.1:\(serverPort)")
        }
        var problems: [String] = []
        if closes.count != 1 { problems.append("\(closes.count) close events, expected 1") }
        if !isLoopback(record.resp, port: serverPort) { problems.append("resp is not 127.0.0.1:\(serverPort)") }
        if record.close != "normal" { problems.append("close=\(record.close ?? "nil"), expected normal") }
        if record.activeCloser != "orig" { problems.append("active_closer=\(record.activeCloser ?? "nil"), expected orig") }
        if record.handshakeSeen != true { problems.append("handshake not seen") }
        return SelftestCheck(name: name, passed: problems.isEmpty,
                             detail: problems.isEmpty ? "127.0.0.1:\(clientPort) → 127.0.0.1:\(serverPort), close=normal, active_closer=orig"
                                                      : problems.joined(separator: "; "))
    }

    private static func checkLingering(_ events: [SelftestEvent], pair: SelftestSockets.Pair, firedAfter: Duration?,
                                       threshold: Int64) -> [SelftestCheck] {
        let mine = events.filter { isAlert($0, status: nil) && isLoopback($0.orig, port: pair.clientPort) }
        let firing = mine.first { $0.status == "firing" }
        let resolved = mine.first { $0.status == "resolved" }
        var checks: [SelftestCheck] = []
        if let firing {
            let sideOK = firing.side == "resp" && firing.state == "CLOSE_WAIT"
            let latency = firedAfter.map { " \(Int(($0 / .milliseconds(1)).rounded())) ms after the peer's FIN" } ?? ""
            checks.append(SelftestCheck(name: "close_wait_lingering fired", passed: sideOK,
                                        detail: sideOK ? "resp 127.0.0.1:\(pair.serverPort) in CLOSE_WAIT, threshold \(threshold / 1_000_000) ms,\(latency)"
                                                       : "wrong side or state: \(firing.side ?? "nil") \(firing.state ?? "nil")"))
            let process = firing.process
            let pid = process?.pid
            checks.append(SelftestCheck(
                name: "process named", passed: pid == Int(getpid()),
                detail: pid == Int(getpid()) ? "pid \(getpid()) (\(process?.comm ?? "?"))"
                    : pid.map { "pid \($0), expected \(getpid())" }
                    ?? "no process on the alert (reading /proc/PID/fd needs CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE for other users)"))
        } else {
            checks.append(SelftestCheck(name: "close_wait_lingering fired", passed: false,
                                        detail: "no firing alert for 127.0.0.1:\(pair.clientPort) → 127.0.0.1:\(pair.serverPort)"))
        }
        checks.append(SelftestCheck(name: "close_wait_lingering resolved", passed: resolved != nil,
                                    detail: resolved != nil ? "after close()" : "no resolved alert after close()"))
        return checks
    }

    // MARK: - Reading the output

    private static func events(in path: String) -> [SelftestEvent] {
        // nil only when the loop has not created the file yet: no events is the right answer.
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { line in
            // A line that is not JSON fails the checks that look for it; nothing else to do here.
            try? JSONDecoder().decode(SelftestEvent.self, from: Data(line))
        }
    }

    private static func isAlert(_ event: SelftestEvent, status: String?) -> Bool {
        event.type == "alert" && event.alert == "close_wait_lingering" && (status == nil || event.status == status)
    }

    /// Whether a JSON `{"ip", "port"}` object is 127.0.0.1:`port`.
    private static func isLoopback(_ endpoint: SelftestEvent.Endpoint?, port: UInt16) -> Bool {
        endpoint?.ip == "127.0.0.1" && endpoint?.port == Int(port)
    }
}

/// The fields of an event line the selftest's checks read (JSONDecoder: JSONSerialization would
/// link all of Foundation and ICU into the binary). A line without them decodes with nils.
struct SelftestEvent: Decodable {
    struct Endpoint: Decodable { var ip: String; var port: Int }
    struct Process: Decodable { var pid: Int?; var comm: String? }
    var type: String
    var orig: Endpoint?
    var resp: Endpoint?
    var close: String?
    var activeCloser: String?
    var handshakeSeen: Bool?
    var alert: String?
    var status: String?
    var side: String?
    var state: String?
    var process: Process?

    enum CodingKeys: String, CodingKey {
        case type, orig, resp, close, alert, status, side, state, process
        case activeCloser = "active_closer", handshakeSeen = "handshake_seen"
    }
}

/// Plain blocking sockets on 127.0.0.1: the selftest's traffic.
enum SelftestSockets {
    struct Failure: Error, CustomStringConvertible { var description: String }
    struct Listener { var descriptor: Int32; var port: UInt16 }
    /// A connected client and the server's accepted socket, with their ports.
    struct Pair { var client: Int32; var server: Int32; var clientPort: UInt16; var serverPort: UInt16 }

    static func listen() throws(Failure) -> Listener {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            // sockaddr_in is a sockaddr by layout (POSIX); the length passed bounds what is read.
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(descriptor, 8) == 0 else {
            let text = String(cString: strerror(errno))
            close(descriptor)
            throw Failure(description: "bind/listen on 127.0.0.1: \(text)")
        }
        return Listener(descriptor: descriptor, port: localPort(descriptor))
    }

    /// Connects to `listener` and accepts: a pair of established sockets.
    static func connectedPair(listener: Listener) throws(Failure) -> Pair {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard client >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = loopback(port: listener.port)
        let connected = withUnsafePointer(to: &address) {
            // sockaddr_in is a sockaddr by layout (POSIX); the length passed bounds what is read.
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let text = String(cString: strerror(errno))
            close(client)
            throw Failure(description: "connect to 127.0.0.1:\(listener.port): \(text)")
        }
        let server = accept(listener.descriptor, nil, nil)
        guard server >= 0 else {
            let text = String(cString: strerror(errno))
            close(client)
            throw Failure(description: "accept: \(text)")
        }
        return Pair(client: client, server: server, clientPort: localPort(client), serverPort: listener.port)
    }

    /// A few bytes each way, the client closes first, the server reads the EOF and closes.
    /// Returns the client's port.
    static func normalClose(listener: Listener) throws(Failure) -> UInt16 {
        let pair = try connectedPair(listener: listener)
        var buffer = [UInt8](repeating: 0, count: 16)
        let hello = Array("selftest".utf8)
        _ = send(pair.client, hello, hello.count, 0)
        _ = recv(pair.server, &buffer, buffer.count, 0)
        _ = send(pair.server, hello, hello.count, 0)
        _ = recv(pair.client, &buffer, buffer.count, 0)
        close(pair.client)
        _ = recv(pair.server, &buffer, buffer.count, 0)   // the EOF: the client's FIN arrived
        close(pair.server)
        return pair.clientPort
    }

    private static func localPort(_ descriptor: Int32) -> UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            // getsockname writes at most `length` bytes, the size of sockaddr_in.
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}
