#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FinwatchCore
import FinwatchHost
import Logging
import Synchronization

/// Names the program behind a stuck local socket, the way `ss -tp` does: find the socket by its
/// 4-tuple in the kernel's socket table (a netlink dump, or `/proc/net/tcp{,6}`), then the
/// process holding its inode among `/proc/PID/fd/*`. Runs lazily (an alert firing, a
/// `/connections` request), never per packet. All the I/O of process naming lives here; the
/// parsing is `SockDiag` and `ProcNet` in the core.
///
/// Reading another user's `/proc/PID/fd` needs CAP_DAC_READ_SEARCH (to list it) and
/// CAP_SYS_PTRACE (to read its links). Without them finwatch still alerts, without `process`,
/// and says why once in the log.
final class ProcessLookup: Sendable {
    /// Bounds on what naming costs, so neither a host with a million fds nor a program leaking
    /// hundreds of stuck sockets a second can stall the caller (the tracker, for alerts).
    struct Limits: Sendable {
        /// File descriptors examined per scan at most.
        var maxDescriptors = 500_000
        /// Time spent per scan at most.
        var timeBudget: Duration = .milliseconds(250)
        /// How long one view of the host (socket tables, who holds which socket) answers lookups.
        var viewLifetime: Duration = .seconds(1)
        /// A lookup the view cannot answer (the socket may be newer than the view) retakes it once
        /// the view is this old.
        var retakeAfter: Duration = .milliseconds(100)
        /// A view is never retaken sooner than this many times what taking it cost: naming takes
        /// at most about a tenth of the caller's time however many alerts fire.
        var costFactor = 10
    }

    /// What one lookup asks: the stuck endpoint (a socket here, if anywhere), its peer, and the
    /// state finwatch saw it in.
    struct Query: Hashable, Sendable {
        var endpoint: Endpoint
        var peer: Endpoint
        var state: EndpointState
    }

    /// The host as one scan saw it. Alerts come in storms when a program leaks sockets (hundreds
    /// a second); each reading /proc/net/tcp and walking /proc/PID/fd on its own held the tracker
    /// for seconds at a time and stalled the capture. A stuck socket has been stuck for the
    /// alert's threshold, so a view a second old still has it.
    private struct View {
        var sockets: [SocketKey: ProcNet.Socket]
        /// Who holds which stuck socket: filled by one walk of /proc, when a lookup first needs it.
        var owners: [UInt64: Int32] = [:]
        var walked = false
        /// What that walk met (its `seen` is `owners`).
        var scan = Scan()
        /// comm and systemd unit per pid, read once per view.
        var names: [Int32: (comm: String, unit: String?, pod: PodName?)] = [:]
        var takenAt: ContinuousClock.Instant
        /// What reading the socket tables took: with the walk's time added once it is done.
        var cost: Duration
    }

    private struct Cache {
        var view: View?
        /// Problems already logged: each is logged once per run.
        var warned: Set<String> = []
    }

    private let root: String
    /// Whether the socket tables come from a netlink dump first (tests of procfs paths say no).
    private let netlink: Bool
    private let limits: Limits
    private let logger: Logger
    private let pods: KubernetesPods
    private let cache = Mutex(Cache())

    /// `root` is where procfs is mounted; tests may point elsewhere only for failure paths.
    init(root: String = "/proc", netlink: Bool = true, limits: Limits = Limits(),
         logger: Logger = Logger(label: "finwatch.process"), pods: KubernetesPods = KubernetesPods()) {
        self.root = root
        self.pods = pods
        self.netlink = netlink
        self.limits = limits
        self.logger = logger
    }

    /// The stuck side of an alert as a lookup.
    static func query(for alert: AlertEvent) -> Query {
        let endpoint = alert.side == .orig ? alert.identity.orig : alert.identity.resp
        let peer = alert.side == .orig ? alert.identity.resp : alert.identity.orig
        return Query(endpoint: endpoint, peer: peer, state: alert.state)
    }

    /// Processes for the rows of a snapshot, keyed like `LiveState.Published.processes`.
    func processes(for snapshots: [ConnectionSnapshot]) -> [String: ProcessInfo] {
        let queries = snapshots.map { Query(endpoint: $0.endpoint, peer: $0.peer, state: $0.state) }
        var result: [String: ProcessInfo] = [:]
        for (snapshot, found) in zip(snapshots, processes(for: queries)) {
            if let found { result[LiveState.processKey(uid: snapshot.identity.uid, side: snapshot.side)] = found }
        }
        return result
    }

    /// One answer per query, in order, all from one view of the host (taken now if the last one
    /// is too old to answer them, and the bounds allow).
    func processes(for queries: [Query]) -> [ProcessInfo?] {
        guard !queries.isEmpty else { return [] }
        return cache.withLock { cache in
            var view = currentView(&cache, for: queries)
            defer { cache.view = view }
            let needed = queries.compactMap { view.sockets[SocketKey(local: $0.endpoint, remote: $0.peer)]?.inode }
                .filter { $0 != 0 && view.owners[$0] == nil }
            if !needed.isEmpty && !view.walked {
                // One walk of /proc per view, for every socket an alert can be about, not just these.
                let stuck = view.sockets.values.lazy.filter { $0.inode != 0 && Self.halfClosed.contains($0.state) }.map(\.inode)
                let started = ContinuousClock.now
                let scan = scanDescriptors(wanted: Set(needed).union(stuck))
                view.cost += ContinuousClock.now - started
                view.owners = scan.seen
                view.scan = scan.summary
                view.walked = true
            }
            return queries.map { query in
                guard let socket = view.sockets[SocketKey(local: query.endpoint, remote: query.peer)],
                      socket.inode != 0 else { return nil }
                guard let pid = view.owners[socket.inode] else {
                    explainUnnamed(&cache, view.scan)
                    return nil
                }
                let name = view.names[pid] ?? {
                    let comm = readText("\(root)/\(pid)/comm").map { String($0.prefix { $0 != "\n" }) } ?? "?"
                    let cgroup = readText("\(root)/\(pid)/cgroup")
                    let pod = cgroup.flatMap(pods.pod(cgroup:)).map { PodName(namespace: $0.namespace, name: $0.name) }
                    return (comm, cgroup.flatMap(ProcNet.systemdUnit(cgroup:)), pod)
                }()
                view.names[pid] = name
                return ProcessInfo(pid: pid, comm: name.comm, unit: name.unit,
                                   kernelConfirmed: socket.state.endpointState == query.state, pod: name.pod)
            }
        }
    }

    /// The view to answer `queries` from: the last one while it is young enough, or while taking
    /// another would cost more than the bounds allow; otherwise a new one.
    private func currentView(_ cache: inout Cache, for queries: [Query]) -> View {
        let now = ContinuousClock.now
        if let view = cache.view {
            let age = now - view.takenAt
            let affordable = age >= view.cost * limits.costFactor
            let unanswered = queries.contains { view.sockets[SocketKey(local: $0.endpoint, remote: $0.peer)] == nil }
            let stale = age >= limits.viewLifetime || (unanswered && age >= limits.retakeAfter)
            if !stale || !affordable { return view }
        }
        let sockets = localSockets(&cache)
        return View(sockets: sockets, takenAt: now, cost: ContinuousClock.now - now)
    }

    /// The kernel states a stuck side can be in: the sockets one walk of /proc looks for.
    private static let halfClosed: Set<ProcNet.KernelState> = [.finWait1, .finWait2, .closeWait, .closing, .lastAck]

    /// A held socket whose holder the scan did not find: says why once, if a bound or a
    /// permission is the likely reason (not a process that exited mid-scan).
    private func explainUnnamed(_ cache: inout Cache, _ scan: Scan) {
        if scan.deniedProcesses > 0 {
            warnOnce(&cache, "permission", "cannot name the process behind a stuck socket: no permission to read other processes' /proc/PID/fd (grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)",
                     metadata: ["proc.denied": "\(scan.deniedProcesses)"])
        }
        if scan.stoppedEarly {
            warnOnce(&cache, "limit", "process lookup stopped at its bound before finding every socket",
                     metadata: ["proc.descriptors": "\(scan.descriptors)", "proc.limit": "\(limits.maxDescriptors)",
                                "proc.budget": "\(limits.timeBudget)"])
        }
    }

    // MARK: - The kernel's socket tables

    private struct SocketKey: Hashable {
        var local: Endpoint
        var remote: Endpoint
    }

    /// The TCP sockets of this network namespace a lookup can be about, by 4-tuple; a socket a
    /// process holds (inode not 0) wins over an orphan on the same 4-tuple. Listeners, request
    /// sockets and TIME_WAIT (no process holds one) are left out of the view: on a busy host
    /// they are most of the table. From a netlink dump where the kernel allows one (cheap, and
    /// filtered by state in the kernel), else from `/proc/net/tcp{,6}`.
    private func localSockets(_ cache: inout Cache) -> [SocketKey: ProcNet.Socket] {
        var table: [SocketKey: ProcNet.Socket] = [:]
        func add(_ socket: ProcNet.Socket) {
            let key = SocketKey(local: socket.local, remote: socket.remote)
            if let existing = table[key], existing.inode != 0 { return }
            table[key] = socket
        }
        if netlink, let dumped = socketsByNetlink(&cache) {
            dumped.forEach(add)
            return table
        }
        for file in ["tcp", "tcp6"] {
            guard let text = readText("\(root)/net/\(file)") else {
                warnOnce(&cache, "net.\(file)", "cannot read the kernel's socket table",
                         metadata: ["proc.path": "\(root)/net/\(file)", "error": "\(String(cString: strerror(errno)))"])
                continue
            }
            for socket in ProcNet.sockets(inTable: text) where Self.viewStates.contains(socket.state) { add(socket) }
        }
        return table
    }

    /// The kernel states a view holds: all but TIME_WAIT, LISTEN and request sockets.
    private static let viewStates: Set<ProcNet.KernelState> =
        [.established, .synSent, .synReceived, .finWait1, .finWait2, .close, .closeWait, .lastAck, .closing]

    /// NETLINK_SOCK_DIAG (linux/netlink.h); not in Glibc's module.
    private static let netlinkSockDiag: Int32 = 4

    /// Both families' sockets in `viewStates`, dumped by the kernel over netlink; nil if it cannot
    /// be done (no such socket family here, a sandbox, a malformed or refused dump), and then
    /// `/proc/net/tcp` is read instead, with the reason logged once.
    private func socketsByNetlink(_ cache: inout Cache) -> [ProcNet.Socket]? {
        func refuse(_ reason: String) -> [ProcNet.Socket]? {
            warnOnce(&cache, "netlink", "cannot dump sockets over netlink: reading /proc/net/tcp instead (slower on a busy host)",
                     metadata: ["error": "\(reason)"])
            return nil
        }
        let descriptor = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Self.netlinkSockDiag)
        guard descriptor >= 0 else { return refuse(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        // A kernel that never answers must not hold the caller: a dump's datagrams come at once.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var sockets: [ProcNet.Socket] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        for (index, family) in SockDiag.Family.allCases.enumerated() {
            let sequence = UInt32(index + 1)
            let request = SockDiag.request(family: family, states: Self.viewStates, sequence: sequence)
            let sent = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
            guard sent == request.count else { return refuse(String(cString: strerror(errno))) }
            // Bounded: a million datagrams is tens of millions of sockets, far past any host.
            var finished = false
            for _ in 0..<1_000_000 where !finished {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return refuse(count == 0 ? "end of the dump without NLMSG_DONE" : String(cString: strerror(errno))) }
                let chunk = SockDiag.parse(buffer[0..<count], sequence: sequence)
                if let errorNumber = chunk.errorNumber { return refuse(String(cString: strerror(errorNumber))) }
                if chunk.isMalformed { return refuse("a malformed message in the dump") }
                sockets.append(contentsOf: chunk.sockets)
                finished = chunk.isDone
            }
            guard finished else { return refuse("the dump did not end") }
        }
        return sockets
    }

    // MARK: - Who holds an inode

    private struct Scan {
        var seen: [UInt64: Int32] = [:]
        var descriptors = 0
        var deniedProcesses = 0
        var stoppedEarly = false
        /// The same without `seen`, kept with a view.
        var summary: Scan { Scan(descriptors: descriptors, deniedProcesses: deniedProcesses, stoppedEarly: stoppedEarly) }
    }

    /// Walks `/proc/[0-9]*/fd/*`, noting the holder of each of `wanted` (the TCP sockets of the
    /// tables), until every one is found or a bound is hit. readlinkat on the open directory: no
    /// path string per fd.
    private func scanDescriptors(wanted: Set<UInt64>) -> Scan {
        var scan = Scan()
        var missing = wanted
        guard !missing.isEmpty else { return scan }
        let deadline = ContinuousClock.now + limits.timeBudget
        guard let procDirectory = opendir(root) else { return scan }
        defer { closedir(procDirectory) }
        var link = [CChar](repeating: 0, count: 64)
        let prefix = Array("socket:[".utf8)
        processes: while let entry = readdir(procDirectory) {
            let name = Self.name(of: entry)
            guard let pid = Int32(name) else { continue }
            guard let fdDirectory = opendir("\(root)/\(name)/fd") else {
                if errno == EACCES || errno == EPERM { scan.deniedProcesses += 1 }
                continue  // ENOENT: the process exited meanwhile
            }
            defer { closedir(fdDirectory) }
            let fdDescriptor = dirfd(fdDirectory)
            while let fdEntry = readdir(fdDirectory) {
                scan.descriptors += 1
                if scan.descriptors > limits.maxDescriptors || (scan.descriptors % 1024 == 0 && ContinuousClock.now > deadline) {
                    scan.stoppedEarly = true
                    break processes
                }
                let count = withUnsafePointer(to: &fdEntry.pointee.d_name) { namePointer in
                    namePointer.withMemoryRebound(to: CChar.self, capacity: 256) { fdName in
                        readlinkat(fdDescriptor, fdName, &link, link.count)
                    }
                }
                if count < 0 {
                    if errno == EACCES || errno == EPERM { scan.deniedProcesses += 1; continue processes }
                    continue
                }
                guard count > prefix.count,
                      link.withUnsafeBufferPointer({ buffer in
                          prefix.indices.allSatisfy { UInt8(bitPattern: buffer[$0]) == prefix[$0] }
                      })
                else { continue }
                let digits = link[prefix.count..<(count - 1)]
                guard let inode = UInt64(String(decoding: digits.map { UInt8(bitPattern: $0) }, as: UTF8.self)) else { continue }
                if missing.remove(inode) != nil {
                    scan.seen[inode] = pid
                    if missing.isEmpty { break processes }
                }
            }
        }
        return scan
    }

    private static func name(of entry: UnsafeMutablePointer<dirent>) -> String {
        withUnsafePointer(to: &entry.pointee.d_name) { pointer in
            pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
    }

    // MARK: - Small I/O

    /// A whole procfs file (they report size 0, so read to EOF), or nil with errno set.
    private func readText(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0 { if errno == EINTR { continue }; return nil }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > 64 << 20 { break }  // a bound, not an expected size: /proc/net/tcp with ~400k sockets
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func warnOnce(_ cache: inout Cache, _ key: String, _ message: Logger.Message, metadata: Logger.Metadata) {
        if cache.warned.insert(key).inserted { logger.warning(message, metadata: metadata) }
    }
}
