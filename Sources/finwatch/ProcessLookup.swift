#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FinwatchCore
import Logging
import Synchronization

/// Names the program behind a stuck local socket, the way `ss -tp` does: find the socket by its
/// 4-tuple in `/proc/net/tcp{,6}`, then the process holding its inode among `/proc/PID/fd/*`.
/// Runs lazily (an alert firing, a `/connections` request), never per packet. All the I/O of
/// process naming lives here; the parsing is `ProcNet` in the core.
///
/// Reading another user's `/proc/PID/fd` needs CAP_DAC_READ_SEARCH (to list it) and
/// CAP_SYS_PTRACE (to read its links). Without them finwatch still alerts, without `process`,
/// and says why once in the log.
final class ProcessLookup: Sendable {
    /// Bounds on one scan of `/proc`, so a host with a million fds never stalls the caller.
    struct Limits: Sendable {
        /// File descriptors examined per scan at most.
        var maxDescriptors = 500_000
        /// Time spent per scan at most: one tick of the capture loop, which may be the caller.
        var timeBudget: Duration = .milliseconds(250)
        /// How long what a scan saw (inode → pid) is trusted: about one tick of the run loop.
        var cacheLifetime: Duration = .seconds(1)
    }

    /// What one lookup asks: the stuck endpoint (a socket here, if anywhere), its peer, and the
    /// state finwatch saw it in.
    struct Query: Hashable, Sendable {
        var endpoint: Endpoint
        var peer: Endpoint
        var state: EndpointState
    }

    private struct Cache {
        var inodes: [UInt64: Int32] = [:]
        var takenAt: ContinuousClock.Instant?
        /// Problems already logged: each is logged once per run.
        var warned: Set<String> = []
    }

    private let root: String
    private let limits: Limits
    private let logger: Logger
    private let cache = Mutex(Cache())

    /// `root` is where procfs is mounted; tests may point elsewhere only for failure paths.
    init(root: String = "/proc", limits: Limits = Limits(), logger: Logger = Logger(label: "finwatch.process")) {
        self.root = root
        self.limits = limits
        self.logger = logger
    }

    /// The process behind the stuck side of one alert, or nil (not a local socket, orphaned, no
    /// permission).
    func process(for alert: AlertEvent) -> ProcessInfo? {
        let endpoint = alert.side == .orig ? alert.identity.orig : alert.identity.resp
        let peer = alert.side == .orig ? alert.identity.resp : alert.identity.orig
        return processes(for: [Query(endpoint: endpoint, peer: peer, state: alert.state)])[0]
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

    /// One answer per query, in order: the socket tables are read once and `/proc` scanned at
    /// most once for the whole batch.
    func processes(for queries: [Query]) -> [ProcessInfo?] {
        guard !queries.isEmpty else { return [] }
        let sockets = localSockets()
        let matches = queries.map { sockets[SocketKey(local: $0.endpoint, remote: $0.peer)] }
        let wanted = Set(matches.compactMap { $0?.inode }.filter { $0 != 0 })
        let owners = owners(of: wanted)
        return zip(queries, matches).map { query, socket in
            guard let socket, socket.inode != 0, let pid = owners[socket.inode] else { return nil }
            let comm = readText("\(root)/\(pid)/comm").map { String($0.prefix { $0 != "\n" }) } ?? "?"
            let unit = readText("\(root)/\(pid)/cgroup").flatMap(ProcNet.systemdUnit(cgroup:))
            return ProcessInfo(pid: pid, comm: comm, unit: unit,
                               kernelConfirmed: socket.state.endpointState == query.state)
        }
    }

    // MARK: - The kernel's socket tables

    private struct SocketKey: Hashable {
        var local: Endpoint
        var remote: Endpoint
    }

    /// Every TCP socket of this network namespace by 4-tuple; a socket a process holds (inode
    /// not 0) wins over an orphan or TIME_WAIT row on the same 4-tuple.
    private func localSockets() -> [SocketKey: ProcNet.Socket] {
        var table: [SocketKey: ProcNet.Socket] = [:]
        for file in ["tcp", "tcp6"] {
            guard let text = readText("\(root)/net/\(file)") else {
                warnOnce("net.\(file)", "cannot read the kernel's socket table",
                         metadata: ["proc.path": "\(root)/net/\(file)", "error": "\(String(cString: strerror(errno)))"])
                continue
            }
            for socket in ProcNet.sockets(inTable: text) {
                let key = SocketKey(local: socket.local, remote: socket.remote)
                if let existing = table[key], existing.inode != 0 { continue }
                table[key] = socket
            }
        }
        return table
    }

    // MARK: - Who holds an inode

    /// The pid holding each of `wanted` as an open fd, from the cache or one bounded scan of `/proc`.
    private func owners(of wanted: Set<UInt64>) -> [UInt64: Int32] {
        guard !wanted.isEmpty else { return [:] }
        let now = ContinuousClock.now
        var found: [UInt64: Int32] = cache.withLock { cache in
            if let takenAt = cache.takenAt, now - takenAt > limits.cacheLifetime {
                cache.inodes.removeAll(keepingCapacity: true)
                cache.takenAt = nil
            }
            return cache.inodes.filter { wanted.contains($0.key) }
        }
        var missing = wanted.subtracting(found.keys)
        guard !missing.isEmpty else { return found }

        let scan = scanDescriptors(until: &missing)
        cache.withLock { cache in
            cache.inodes.merge(scan.seen) { _, new in new }
            if cache.takenAt == nil { cache.takenAt = now }
        }
        for inode in wanted { if let pid = scan.seen[inode] { found[inode] = pid } }
        if !missing.isEmpty {
            if scan.deniedProcesses > 0 {
                warnOnce("permission", "cannot name the process behind a stuck socket: no permission to read other processes' /proc/PID/fd (grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)",
                         metadata: ["proc.denied": "\(scan.deniedProcesses)"])
            }
            if scan.stoppedEarly {
                warnOnce("limit", "process lookup stopped at its bound before finding every socket",
                         metadata: ["proc.descriptors": "\(scan.descriptors)", "proc.limit": "\(limits.maxDescriptors)",
                                    "proc.budget": "\(limits.timeBudget)"])
            }
        }
        return found
    }

    private struct Scan {
        var seen: [UInt64: Int32] = [:]
        var descriptors = 0
        var deniedProcesses = 0
        var stoppedEarly = false
    }

    /// Walks `/proc/[0-9]*/fd/*`, noting every socket inode it passes, until `missing` is empty or
    /// a bound is hit. readlinkat on the open directory: no path string per fd.
    private func scanDescriptors(until missing: inout Set<UInt64>) -> Scan {
        var scan = Scan()
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
                scan.seen[inode] = pid
                if missing.remove(inode) != nil, missing.isEmpty { break processes }
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

    private func warnOnce(_ key: String, _ message: Logger.Message, metadata: Logger.Metadata) {
        let first = cache.withLock { $0.warned.insert(key).inserted }
        if first { logger.warning(message, metadata: metadata) }
    }
}
