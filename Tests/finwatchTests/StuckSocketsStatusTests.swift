#if canImport(Glibc)
import Glibc
#endif
@testable import finwatch
import FinwatchCore
import Foundation
import Logging
import Testing

/// `/connections` and `finwatch status` against a live capture of real stuck sockets, while the
/// /proc walk that names their processes is stuck: 3,000 loopback connections whose client
/// closed and whose server never does (3,000 sockets in CLOSE_WAIT, held by this process, and
/// their 3,000 peers in FIN_WAIT_2: 6,000 stuck sides), captured on `lo` by the daemon's own
/// capture loop. The process lookup's socket table is a FIFO nobody writes, so its open(2)
/// blocks: the slowest /proc there is. Neither may wait for it: what the blocked /proc and HTTP
/// add to producing the answer must stay under 100 ms.
@Suite("status with 3,000 real stuck sockets", .serialized) struct StuckSocketsStatusTests {
    static let connections = 3_000
    static let limit = Duration.milliseconds(100)

    @Test("3,000 real sockets in CLOSE_WAIT, /proc walk blocked: /connections and status wait under 100 ms for it")
    func realStuckSockets_procBlocked_connectionsAndStatusWithin100ms() async throws {
        // 3,000 held sockets and a few hundred more for the test runner: more than the 1,024 many
        // hosts give a process by default. Raised within the hard limit, and put back after.
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved)
        let needed = rlim_t(Self.connections * 2 + 1_024)
        try #require(saved.rlim_max >= needed, "the hard fd limit \(saved.rlim_max) is below \(needed): raise `ulimit -Hn`")
        var raised = saved
        raised.rlim_cur = max(saved.rlim_cur, needed)
        #expect(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0)
        defer { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved) }

        let proc = try BlockedProc()
        defer { proc.release() }
        let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let lookup = ProcessLookup(root: proc.root, netlink: false, logger: quiet)

        let listener = try LoopbackListener()
        defer { listener.close() }
        let output = NSTemporaryDirectory() + "finwatch-stuck-\(UUID().uuidString).jsonl"
        defer { unlink(output) }
        let command = try #require(try Finwatch.parseAsRoot([
            "--interface", "lo", "--filter", "port \(listener.port)", "--no-listen", "--output", output,
        ]) as? Finwatch)
        let options = try command.runOptions()
        let state = LiveState()
        let loop = LiveLoop(handles: try LiveRun.open(options), options: options, metrics: nil, state: state,
                            logger: quiet, notifier: SystemdNotifier(environment: [:]), processLookup: lookup)
        let ended = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? loop.run()
            ended.signal()
        }
        defer {
            loop.stop()
            _ = ended.wait(timeout: .now() + 20)
        }
        #expect(ServiceSupport.waitUntil(seconds: 10) { state.current.capturing }, "the capture never started")

        // Connected and accepted one at a time (the backlog never fills), then every client
        // closes: each server socket goes to CLOSE_WAIT and stays there while we hold it.
        var servers: [Int32] = []
        defer { for descriptor in servers { Glibc.close(descriptor) } }
        var clients: [Int32] = []
        for _ in 0..<Self.connections {
            let client = try listener.connectClient()
            clients.append(client)
            servers.append(try listener.accept())
        }
        for descriptor in clients { Glibc.close(descriptor) }
        let stuck = Self.connections * 2
        let published = ServiceSupport.waitUntil(seconds: 30) { state.current.halfClosed.count >= stuck }
        try #require(published, "the capture published \(state.current.halfClosed.count) stuck sides, not \(stuck)")

        try await withRunningEndpoint(state: state, processLookup: lookup) { address, _ in
            let clock = ContinuousClock()
            var connectionsTimes: [Duration] = [], statusTimes: [Duration] = []
            for _ in 0..<5 {
                var started = clock.now
                let response = try await fetch(address, "/connections")
                connectionsTimes.append(clock.now - started)
                #expect(response.status == 200)
                let report = try #require(ConnectionsReport.decode(response.body))
                #expect(report.connections.count == stuck)
                #expect(report.connections.filter { $0.state == "CLOSE_WAIT" }.count == Self.connections)
                #expect(report.connections.allSatisfy { $0.process == nil }, "/proc is blocked: nothing can be named")

                started = clock.now
                let status = try await offPool { Status.report(address: address, json: false) }
                statusTimes.append(clock.now - started)
                #expect(status.status == 0)
                #expect(status.output.hasPrefix("\(stuck) sides stuck half-closed"))
                #expect(status.output.split(separator: "\n").count == stuck + 2, "the summary, the header, a row per side")
            }
            // What producing the same answers costs here with no HTTP and no /proc at all: the
            // body rendered, read back and laid out. An optimized build takes a few ms for it,
            // an unoptimized one (`swift test`) ten times more; the blocked /proc and the HTTP
            // round trip must add under 100 ms to it (the release binary is held to 100 ms in
            // all by Tests/faults).
            var renderTimes: [Duration] = [], readTimes: [Duration] = []
            let rows = ConnectionsReport.rows(of: state.current, only: nil)
            for _ in 0..<3 {
                var started = clock.now
                let body = ConnectionsReport.render(rows, capturing: true, now: HostClock.now(), processes: [:])
                renderTimes.append(clock.now - started)
                started = clock.now
                _ = Status.table(try #require(ConnectionsReport.decode(body)))
                readTimes.append(clock.now - started)
            }
            let render = renderTimes.min()!, read = readTimes.min()!
            print("3,000 stuck sockets, /proc blocked: /connections \(connectionsTimes), status \(statusTimes); "
                + "in-process render \(render), read and table \(read)")
            // The quickest of five each way: on this shared 2-core machine single timings move by
            // 100s of ms with other builds; what the code costs is the quickest.
            #expect(connectionsTimes.min()! - render < Self.limit, "/connections: \(connectionsTimes), render \(render)")
            #expect(statusTimes.min()! - render - read < Self.limit, "status: \(statusTimes), render \(render), read \(read)")
        }
    }
}

/// A procfs stand-in whose socket tables are FIFOs nobody writes: opening one blocks until
/// `release()` (idempotent) opens and closes a writer, which ends the open and gives EOF.
final class BlockedProc: Sendable {
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "finwatch-blockedproc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/net", withIntermediateDirectories: true)
        for table in ["tcp", "tcp6"] where mkfifo(root + "/net/" + table, 0o600) != 0 {
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
    }

    func release() {
        // Each reader that reaches a FIFO's open after this is let through by the next writer;
        // ENXIO means no reader is waiting now (bounded retries for one that is on its way).
        for table in ["tcp", "tcp6"] {
            for _ in 0..<100 {
                let descriptor = open(root + "/net/" + table, O_WRONLY | O_NONBLOCK)
                if descriptor >= 0 { Glibc.close(descriptor); break }
                usleep(10_000)
            }
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// A TCP listener on 127.0.0.1 with an ephemeral port, and clients for it.
struct LoopbackListener {
    let descriptor: Int32
    let port: UInt16

    init() throws {
        let listening = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listening >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listening, $0, length) }
        }
        guard bound == 0, listen(listening, 4_096) == 0 else {
            let error = errno
            Glibc.close(listening)
            throw POSIXError(.init(rawValue: error) ?? .EIO)
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listening, $0, &length) }
        }
        descriptor = listening
        port = UInt16(bigEndian: address.sin_port)
    }

    func connectClient() throws -> Int32 {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard client >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = Self.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = errno
            Glibc.close(client)
            throw POSIXError(.init(rawValue: error) ?? .EIO)
        }
        return client
    }

    func accept() throws -> Int32 {
        let server = Glibc.accept(descriptor, nil, nil)
        guard server >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return server
    }

    func close() { Glibc.close(descriptor) }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}
