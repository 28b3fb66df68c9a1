#if canImport(Glibc)
import Glibc
#endif
@testable import finwatch
import FinwatchCore
import FinwatchHost
import Logging
import Synchronization
import Testing

/// Real TCP sockets on loopback, owned by this test process; every descriptor is closed on deinit.
final class LoopbackSockets {
    private(set) var descriptors: [Int32] = []
    let family: Int32

    init(ipv6: Bool = false) { family = ipv6 ? AF_INET6 : AF_INET }

    deinit { for descriptor in descriptors { close(descriptor) } }

    private func makeSocket() throws -> Int32 {
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(descriptor >= 0, "socket: errno \(errno)")
        descriptors.append(descriptor)
        return descriptor
    }

    private func withLoopback<R>(port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = in6addr_loopback
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// The port a socket is bound to.
    func port(of descriptor: Int32) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return withUnsafePointer(to: &storage) { pointer in
            family == AF_INET6
                ? pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                : pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    /// A listener on an ephemeral loopback port.
    func listener(backlog: Int32 = 4096) throws -> Int32 {
        let descriptor = try makeSocket()
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withLoopback(port: 0) { bind(descriptor, $0, $1) }
        try #require(bound == 0, "bind: errno \(errno)")
        try #require(listen(descriptor, backlog) == 0)
        return descriptor
    }

    /// A listener on a port below Linux's ephemeral range (32768–60999), so no other test's
    /// connecting socket can be given the same port number and match a `port P` capture filter.
    func listenerOutsideEphemeralRange(backlog: Int32 = 16) throws -> Int32 {
        let descriptor = try makeSocket()
        var bound: Int32 = -1
        for _ in 0..<50 where bound != 0 {
            bound = withLoopback(port: UInt16.random(in: 20_000..<30_000)) { bind(descriptor, $0, $1) }
        }
        try #require(bound == 0, "bind below the ephemeral range: errno \(errno)")
        try #require(listen(descriptor, backlog) == 0)
        return descriptor
    }

    /// Connects to `listener` and accepts: (the connecting side, the accepted side).
    func connectedPair(to listener: Int32) throws -> (client: Int32, server: Int32) {
        let client = try makeSocket()
        let connected = withLoopback(port: port(of: listener)) { connect(client, $0, $1) }
        try #require(connected == 0, "connect: errno \(errno)")
        let server = accept(listener, nil, nil)
        try #require(server >= 0, "accept: errno \(errno)")
        descriptors.append(server)
        return (client, server)
    }

    /// A real loopback connection whose accepted side (ours, held open) the peer has closed:
    /// returns once the kernel's own table shows that side in CLOSE_WAIT.
    func serverSideInCloseWait() async throws -> (server: Endpoint, client: Endpoint) {
        let (client, server) = try connectedPair(to: try listener())
        let serverEnd = endpoint(of: server)
        let clientEnd = peerEndpoint(of: server)
        close(client)
        _ = try await waitForKernelState(.closeWait, local: serverEnd, remote: clientEnd)
        return (serverEnd, clientEnd)
    }

    /// Closes one end now (its FIN goes out): the other end enters CLOSE_WAIT.
    func close(_ descriptor: Int32) {
        if let index = descriptors.firstIndex(of: descriptor) { descriptors.remove(at: index) }
        Glibc.close(descriptor)
    }

    var loopbackAddress: IPAddress { family == AF_INET6 ? IPAddress("::1")! : IPAddress("127.0.0.1")! }

    func endpoint(of descriptor: Int32) -> Endpoint { Endpoint(ip: loopbackAddress, port: port(of: descriptor)) }

    /// The peer's port (getpeername) — for an accepted socket, the client's.
    func peerEndpoint(of descriptor: Int32) -> Endpoint {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
        }
        let port = withUnsafePointer(to: &storage) { pointer in
            family == AF_INET6
                ? pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                : pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        return Endpoint(ip: loopbackAddress, port: port)
    }
}

/// What the kernel says about one socket of ours: the truth the lookup is checked against.
func kernelRow(local: Endpoint, remote: Endpoint) -> ProcNet.Socket? {
    var sockets: [ProcNet.Socket] = []
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? readWholeFile(file) else { continue }
        sockets += ProcNet.sockets(inTable: text)
    }
    return sockets.first { $0.local == local && $0.remote == remote && $0.inode != 0 }
}

func readWholeFile(_ path: String) throws -> String {
    let descriptor = open(path, O_RDONLY)
    try #require(descriptor >= 0, "open \(path): errno \(errno)")
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = read(descriptor, &chunk, chunk.count)
        if count <= 0 { break }
        bytes += chunk[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Waits (bounded) until the kernel shows the socket in `state`: the FIN crosses loopback at once,
/// but the test must not race it.
func waitForKernelState(_ state: ProcNet.KernelState, local: Endpoint, remote: Endpoint) async throws -> ProcNet.Socket {
    for _ in 0..<100 {
        if let row = kernelRow(local: local, remote: remote), row.state == state { return row }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try #require(kernelRow(local: local, remote: remote).flatMap { $0.state == state ? $0 : nil },
                        "socket \(local) never reached \(state) in /proc/net/tcp")
}

/// Collects what a Logger writes, to check what is said and how often.
final class RecordingLogHandler: LogHandler, Sendable {
    let entries = Mutex<[(Logger.Level, String)]>([])
    var metadata: Logger.Metadata { get { [:] } set {} }
    var logLevel: Logger.Level { get { .trace } set {} }
    subscript(metadataKey _: String) -> Logger.Metadata.Value? { get { nil } set {} }
    func log(event: LogEvent) { entries.withLock { $0.append((event.level, "\(event.message)")) } }
}

@Suite("Naming the program behind a stuck socket", .serialized) struct ProcessLookupTests {
    @Test(arguments: [false, true])
    func ourSocketInCloseWait_isNamedAsThisProcess_kernelConfirmed(ipv6: Bool) async throws {
        let sockets = LoopbackSockets(ipv6: ipv6)
        let listener = try sockets.listener()
        let (client, server) = try sockets.connectedPair(to: listener)
        let stuck = sockets.endpoint(of: server)
        let peer = sockets.peerEndpoint(of: server)
        sockets.close(client)  // the peer closes; we never do: our side sits in CLOSE_WAIT
        let row = try await waitForKernelState(.closeWait, local: stuck, remote: peer)

        let lookup = ProcessLookup()
        let found = lookup.processes(for: [ProcessLookup.Query(endpoint: stuck, peer: peer, state: .closeWait)])
        let process = try #require(found.first ?? nil)
        #expect(process.pid == getpid())
        #expect(process.kernelConfirmed)
        let comm = try readWholeFile("/proc/self/comm").split(separator: "\n").first.map(String.init)
        #expect(process.comm == comm)
        #expect(row.inode != 0)
    }

    @Test func alertEvent_namesItsStuckSide_andAWrongStateIsNotConfirmed() async throws {
        let sockets = LoopbackSockets()
        let (serverEnd, clientEnd) = try await sockets.serverSideInCloseWait()

        // orig = the client that closed, resp = our server side, stuck in CLOSE_WAIT.
        let identity = ConnectionIdentity(uid: "C7", orig: clientEnd, resp: serverEnd, handshakeSeen: true)
        var alert = AlertEvent(time: .ms(0), identity: identity, alert: .closeWaitLingering, status: .firing,
                               side: .resp, since: .ms(0), duration: 0, threshold: 0)
        let lookup = ProcessLookup()
        func process(for alert: AlertEvent) -> ProcessInfo? { lookup.processes(for: [ProcessLookup.query(for: alert)])[0] }
        #expect(process(for: alert)?.pid == getpid())
        #expect(process(for: alert)?.kernelConfirmed == true)

        alert.alert = .lastAckLingering  // finwatch thinks LAST_ACK; the kernel says CLOSE_WAIT
        #expect(process(for: alert)?.kernelConfirmed == false)

        // The orig side (the client) closed: the kernel keeps an orphan with no inode, no process.
        alert.side = .orig
        alert.alert = .finWait2Lingering
        #expect(process(for: alert) == nil)
    }

    @Test func snapshotRows_areKeyedByUidAndSide() async throws {
        let sockets = LoopbackSockets()
        let (serverEnd, clientEnd) = try await sockets.serverSideInCloseWait()
        let identity = ConnectionIdentity(uid: "C9", orig: clientEnd, resp: serverEnd, handshakeSeen: true)
        let snapshot = ConnectionSnapshot(identity: identity, origState: .finWait2, respState: .closeWait, side: .resp,
                                          state: .closeWait, since: .ms(0), alertFiring: true, lastSeen: .ms(0))
        let found = ProcessLookup().processes(for: [snapshot])
        #expect(found["C9/resp"]?.pid == getpid())
        #expect(found.count == 1)
    }

    @Test func endpointNotOnThisHost_isNil_withoutScanningForever() {
        let remote = ProcessLookup.Query(endpoint: Endpoint(ip: IPAddress("198.18.0.9")!, port: 1),
                                         peer: Endpoint(ip: IPAddress("198.18.0.10")!, port: 2), state: .closeWait)
        #expect(ProcessLookup().processes(for: [remote]) == [nil])
    }

    @Test func unreadableProc_degradesToNoProcess_andSaysWhyOnce() {
        let handler = RecordingLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        let lookup = ProcessLookup(root: "/nonexistent-proc-for-finwatch-test", netlink: false, logger: logger)
        let query = ProcessLookup.Query(endpoint: Endpoint(ip: IPAddress("127.0.0.1")!, port: 1),
                                        peer: Endpoint(ip: IPAddress("127.0.0.1")!, port: 2), state: .closeWait)
        #expect(lookup.processes(for: [query]) == [nil])
        #expect(lookup.processes(for: [query]) == [nil])
        let warnings = handler.entries.withLock { $0.filter { $0.0 == .warning } }
        #expect(warnings.count == 2)  // tcp and tcp6, once each, not once per lookup
        #expect(warnings.allSatisfy { $0.1.contains("socket table") })
    }

    /// The same socket, the same answer, whichever way the socket table is read; and the netlink
    /// dump really is what answers (no fallback said in the log).
    @Test(arguments: [false, true])
    func netlinkDumpAndProcText_agree(ipv6: Bool) async throws {
        let sockets = LoopbackSockets(ipv6: ipv6)
        let (serverEnd, clientEnd) = try await sockets.serverSideInCloseWait()
        let query = ProcessLookup.Query(endpoint: serverEnd, peer: clientEnd, state: .closeWait)
        let handler = RecordingLogHandler()
        let byNetlink = ProcessLookup(logger: Logger(label: "test") { _ in handler }).processes(for: [query])[0]
        let byText = ProcessLookup(netlink: false).processes(for: [query])[0]
        #expect(byNetlink?.pid == getpid() && byNetlink?.kernelConfirmed == true)
        #expect(byNetlink == byText)
        #expect(handler.entries.withLock { $0.isEmpty }, "\(handler.entries.withLock { $0 })")
    }

    /// A program leaking sockets: hundreds stuck at once, all named by one call (one read of the
    /// socket tables, one walk of /proc), each as this process, each confirmed by the kernel.
    @Test func manyStuckSockets_areAllNamedFromOneView() async throws {
        let sockets = LoopbackSockets()
        let listener = try sockets.listener()
        var queries: [ProcessLookup.Query] = []
        for _ in 0..<300 {
            let (client, server) = try sockets.connectedPair(to: listener)
            queries.append(ProcessLookup.Query(endpoint: sockets.endpoint(of: server),
                                               peer: sockets.peerEndpoint(of: server), state: .closeWait))
            sockets.close(client)
        }
        _ = try await waitForKernelState(.closeWait, local: queries[queries.count - 1].endpoint,
                                         remote: queries[queries.count - 1].peer)
        let found = ProcessLookup().processes(for: queries)
        #expect(found.count == 300)
        #expect(found.allSatisfy { $0?.pid == getpid() && $0?.kernelConfirmed == true })
    }

    /// A view of the host answers lookups while it is young; a socket newer than the view is
    /// found only once the view may be retaken.
    @Test func aViewIsReused_andRetakenForASocketItLacks() async throws {
        let sockets = LoopbackSockets()
        let (firstServer, firstClient) = try await sockets.serverSideInCloseWait()
        let first = ProcessLookup.Query(endpoint: firstServer, peer: firstClient, state: .closeWait)
        let hour = Duration.seconds(3600)
        let holding = ProcessLookup(limits: .init(viewLifetime: hour, retakeAfter: hour))
        let retaking = ProcessLookup(limits: .init(viewLifetime: hour, retakeAfter: .zero, costFactor: 0))
        #expect(holding.processes(for: [first])[0]?.pid == getpid())
        #expect(retaking.processes(for: [first])[0]?.pid == getpid())

        let (secondServer, secondClient) = try await sockets.serverSideInCloseWait()
        let second = ProcessLookup.Query(endpoint: secondServer, peer: secondClient, state: .closeWait)
        #expect(holding.processes(for: [second]) == [nil])   // the view predates the socket
        #expect(retaking.processes(for: [second])[0]?.pid == getpid())
    }

    /// Not a timed assertion: prints what a lookup costs among ~3000 sockets, for the README.
    @Test func costAmongThreeThousandSockets_isMeasured() async throws {
        let sockets = LoopbackSockets()
        let listener = try sockets.listener()
        var pairs: [(Int32, Int32)] = []
        for _ in 0..<1_500 { pairs.append(try sockets.connectedPair(to: listener)) }
        let (client, server) = pairs[pairs.count / 2]
        let stuck = sockets.endpoint(of: server)
        let peer = sockets.peerEndpoint(of: server)
        sockets.close(client)
        _ = try await waitForKernelState(.closeWait, local: stuck, remote: peer)
        let query = ProcessLookup.Query(endpoint: stuck, peer: peer, state: .closeWait)
        let tables = (try readWholeFile("/proc/net/tcp") + readWholeFile("/proc/net/tcp6")).split(separator: "\n").count

        let clock = ContinuousClock()
        var cold: [Duration] = []
        for _ in 0..<5 {
            let lookup = ProcessLookup()  // a fresh cache: the full cost, tables read and /proc scanned
            var found: ProcessInfo?
            cold.append(clock.measure { found = lookup.processes(for: [query])[0] })
            #expect(found?.pid == getpid())
        }
        let warmLookup = ProcessLookup()
        _ = warmLookup.processes(for: [query])
        let warm = clock.measure { _ = warmLookup.processes(for: [query]) }
        let missing = ProcessLookup.Query(endpoint: Endpoint(ip: IPAddress("127.0.0.1")!, port: 1), peer: peer, state: .closeWait)
        let miss = clock.measure { _ = ProcessLookup().processes(for: [missing]) }
        print("process lookup among \(sockets.descriptors.count) open sockets (\(tables) rows in /proc/net/tcp{,6}): cold median \(cold.sorted()[2]), cached \(warm), not a local socket \(miss)")
    }
}
