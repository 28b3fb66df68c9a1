import FinwatchCore
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// The HTTP endpoint (`--listen`): /metrics, /healthz, /connections. Runs as one service of the
/// daemon's ServiceGroup and stops on graceful shutdown.
struct MetricsEndpoint: Service {
    let host: String
    let port: Int
    let state: LiveState
    let registry: PrometheusCollectorRegistry
    /// Names processes for rows the run loop has not named yet (lazily, per request, bounded in time).
    let naming: ProcessNaming
    let logger: Logger
    /// The longest a request waits for process names: `/connections` and `status` answer in time
    /// however slow /proc is, with the names found so far.
    static let namingLimit: Duration = .milliseconds(50)

    init(host: String, port: Int, state: LiveState, registry: PrometheusCollectorRegistry,
         processLookup: ProcessLookup = ProcessLookup(), logger: Logger = Logger(label: "finwatch.http")) {
        self.host = host
        self.port = port
        self.state = state
        self.registry = registry
        naming = ProcessNaming(lookup: processLookup)
        self.logger = logger
    }

    /// `host:port` as an operator writes it (`[::1]:9465` for IPv6).
    var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    func run() async throws {
        let router = Router()
        router.get("metrics") { _, _ in self.metrics() }
        router.get("healthz") { _, _ in self.health() }
        router.get("connections") { request, _ in
            await self.connections(stateFilter: request.uri.queryParameters["state"].map(String.init))
        }
        // Hummingbird logs every start and request at info; the operator's journal wants only
        // problems from it. Our own start line is the daemon's.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let started = Mutex(false)
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { _ in started.withLock { $0 = true } },
            logger: quiet)
        do {
            try await app.run()
        } catch {
            // Once listening, an error is the server's own; before that it is the bind.
            guard !started.withLock({ $0 }) else { throw error }
            throw MetricsEndpointError(address: address, underlying: "\(error)")
        }
    }

    // MARK: - Handlers

    /// `GET /metrics`: the registry in Prometheus text format 0.0.4.
    func metrics() -> Response {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16_384)
        registry.emit(into: &bytes)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `GET /healthz`: 200 only while the capture thread says it is capturing (a liveness probe).
    func health() -> Response {
        let capturing = state.current.capturing
        return Response(status: capturing ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: capturing ? "ok\n" : "not capturing\n")))
    }

    /// `GET /connections[?state=…]`: the stuck sides now, as `ConnectionsReport` JSON. Names
    /// processes the run loop has not (bounded /proc reads, only for rows in the answer, waited
    /// for at most `namingLimit`).
    func connections(stateFilter: String?) async -> Response {
        var wanted: EndpointState?
        if let stateFilter {
            guard let parsed = EndpointState(rawValue: stateFilter), AlertKind(watching: parsed) != nil else {
                return Response(status: .badRequest, headers: [.contentType: "text/plain"],
                                body: ResponseBody(byteBuffer: ByteBuffer(
                                    string: "state must be CLOSE_WAIT, FIN_WAIT_2 or LAST_ACK, got \"\(stateFilter)\"\n")))
            }
            wanted = parsed
        }
        let published = state.current
        let rows = ConnectionsReport.rows(of: published, only: wanted)
        let unnamed = rows.filter { published.processes[LiveState.processKey(uid: $0.identity.uid, side: $0.side)] == nil }
        var found = naming.names
        found.merge(await naming.namesNow(for: unnamed, limit: Self.namingLimit)) { _, fresh in fresh }
        var processes = published.processes
        processes.merge(found) { known, _ in known }
        let body = ConnectionsReport.render(rows, capturing: published.capturing, now: published.clock?.now() ?? HostClock.now(),
                                              wallShift: published.clock?.wallShift ?? 0, processes: processes)
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// `--listen` could not be served: said in one line with what to do. `reason` is short enough to
/// go inside the daemon's own `cannot serve --listen …` line.
struct MetricsEndpointError: Error, CustomStringConvertible {
    var address: String
    /// The server library's own words (NIO's IOError text, with its errno).
    var underlying: String

    private var errnoValue: Int32? {
        guard let range = underlying.firstRange(of: "errno: ") else { return nil }
        return Int32(underlying[range.upperBound...].prefix { $0.isNumber })
    }

    /// sysexits: the port is taken (69), a privileged port (77), anything else a bad address (64).
    var exitStatus: Int32 {
        switch errnoValue {
        case 98: 69  // EADDRINUSE
        case 13: 77  // EACCES
        default: 64
        }
    }

    var reason: String {
        switch errnoValue {
        case 98: "address already in use (another finwatch, or another service on this port?)"
        case 13: "permission denied (a port below 1024 needs CAP_NET_BIND_SERVICE)"
        case 99: "address not available on this host (see `ip addr`)"
        default: underlying
        }
    }

    var description: String {
        "cannot serve --listen \(address): \(reason) (choose another --listen ADDR:PORT, or --no-listen)"
    }
}
