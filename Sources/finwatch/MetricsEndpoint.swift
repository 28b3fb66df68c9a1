import FinwatchCore
import FoundationEssentials
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
    static let namingLimit: Duration = .milliseconds(80)

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
        let report = ConnectionsReport.make(from: published, now: published.clock?.now() ?? HostClock.now(), only: wanted, names: found)
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: report.encoded())))
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

/// The body of `GET /connections`, which `finwatch status` reads back: every side stuck
/// half-closed now, newest problem first (the one an operator just got paged for on top).
struct ConnectionsReport: Codable, Sendable, Equatable {
    /// `{"ip": …, "port": …}`, as in the events.
    struct Address: Codable, Sendable, Equatable {
        var ip: String
        var port: Int
    }

    /// The program holding the stuck socket (`ProcessInfo` on the wire).
    struct Process: Codable, Sendable, Equatable {
        var pid: Int32
        var comm: String
        var unit: String?
        var kernelConfirmed: Bool
        /// The Kubernetes pod, when the process runs in one; absent otherwise.
        var pod: Pod?
    }

    struct Pod: Codable, Sendable, Equatable {
        var namespace: String
        var name: String
    }

    /// Both sides' states now.
    struct States: Codable, Sendable, Equatable {
        var orig: String
        var resp: String
    }

    /// One stuck side of one connection.
    struct Row: Codable, Sendable, Equatable {
        var uid: String
        var communityId: String
        var orig: Address
        var resp: Address
        var side: String
        var state: String
        var states: States
        /// The stuck side's address (orig or resp, by `side`) and its peer's, for people.
        var endpoint: Address
        var peer: Address
        var since: String
        var ageMs: Double
        var alertFiring: Bool
        var process: Process?
    }

    /// When the report was made (host clock, RFC 3339).
    var time: String
    var capturing: Bool
    var connections: [Row]

    /// The published rows in `state` (all when nil), newest problem first.
    static func rows(of published: LiveState.Published, only state: EndpointState?) -> [ConnectionSnapshot] {
        published.halfClosed
            .filter { state == nil || $0.state == state }
            .sorted { ($0.since, $0.identity.uid, $0.side.rawValue) > ($1.since, $1.identity.uid, $1.side.rawValue) }
    }

    /// Rows from what the run loop last published, with its process names and `names` (found
    /// for this request) for the rest.
    static func make(from published: LiveState.Published, now: Timestamp, only state: EndpointState?,
                     names: [String: FinwatchCore.ProcessInfo] = [:]) -> ConnectionsReport {
        let selected = rows(of: published, only: state)
        var processes = published.processes
        processes.merge(names) { known, _ in known }
        let wallShift = published.clock?.wallShift ?? 0
        return ConnectionsReport(
            time: now.adding(nanoseconds: wallShift).rfc3339, capturing: published.capturing,
            connections: selected.map { snapshot in
                let process = processes[LiveState.processKey(uid: snapshot.identity.uid, side: snapshot.side)]
                return Row(
                    uid: snapshot.identity.uid, communityId: snapshot.identity.communityID,
                    orig: Address(snapshot.identity.orig), resp: Address(snapshot.identity.resp),
                    side: snapshot.side.rawValue, state: snapshot.state.rawValue,
                    states: States(orig: snapshot.origState.rawValue, resp: snapshot.respState.rawValue),
                    endpoint: Address(snapshot.endpoint), peer: Address(snapshot.peer),
                    since: snapshot.since.adding(nanoseconds: wallShift).rfc3339,
                    ageMs: Double(max(0, now.nanoseconds(since: snapshot.since)) / 1_000) / 1_000,
                    alertFiring: snapshot.alertFiring,
                    process: process.map {
                        Process(pid: $0.pid, comm: $0.comm, unit: $0.unit, kernelConfirmed: $0.kernelConfirmed,
                                pod: $0.pod.map { Pod(namespace: $0.namespace, name: $0.name) })
                    })
            })
    }

    /// One line of JSON, keys in snake_case and sorted, so the output is stable. Written by hand
    /// rather than by JSONEncoder: thousands of stuck rows took JSONEncoder half a second, and
    /// `/connections` must answer within 100 ms; `decode` reads it back.
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + connections.count * 480)
        out += Array(#"{"capturing":"#.utf8)
        out += Array((capturing ? "true" : "false").utf8)
        out += Array(#","connections":["#.utf8)
        for (index, row) in connections.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            row.encode(into: &out)
        }
        out += Array(#"],"time":"#.utf8)
        JSONText.string(time, into: &out)
        out += Array("}\n".utf8)
        return out
    }

    /// Reads what `encoded()` wrote; nil when the bytes are not such a report.
    static func decode(_ bytes: [UInt8]) -> ConnectionsReport? {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        // nil is the answer for "not a finwatch report"; the caller says so to the user.
        return try? decoder.decode(ConnectionsReport.self, from: Data(bytes))
    }
}

extension ConnectionsReport.Row {
    /// The row's JSON object, keys sorted as JSONEncoder's `.sortedKeys` would; nil optionals omitted.
    func encode(into out: inout [UInt8]) {
        out += Array(#"{"age_ms":"#.utf8)
        out += Array("\(ageMs)".utf8)
        out += Array(#","alert_firing":"#.utf8)
        out += Array((alertFiring ? "true" : "false").utf8)
        out += Array(#","community_id":"#.utf8)
        JSONText.string(communityId, into: &out)
        out += Array(#","endpoint":"#.utf8)
        endpoint.encode(into: &out)
        out += Array(#","orig":"#.utf8)
        orig.encode(into: &out)
        out += Array(#","peer":"#.utf8)
        peer.encode(into: &out)
        if let process {
            out += Array(#","process":{"comm":"#.utf8)
            JSONText.string(process.comm, into: &out)
            out += Array(#","kernel_confirmed":"#.utf8)
            out += Array((process.kernelConfirmed ? "true" : "false").utf8)
            out += Array(#","pid":"#.utf8)
            out += Array("\(process.pid)".utf8)
            if let pod = process.pod {
                out += Array(#","pod":{"name":"#.utf8)
                JSONText.string(pod.name, into: &out)
                out += Array(#","namespace":"#.utf8)
                JSONText.string(pod.namespace, into: &out)
                out.append(UInt8(ascii: "}"))
            }
            if let unit = process.unit {
                out += Array(#","unit":"#.utf8)
                JSONText.string(unit, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out += Array(#","resp":"#.utf8)
        resp.encode(into: &out)
        out += Array(#","side":"#.utf8)
        JSONText.string(side, into: &out)
        out += Array(#","since":"#.utf8)
        JSONText.string(since, into: &out)
        out += Array(#","state":"#.utf8)
        JSONText.string(state, into: &out)
        out += Array(#","states":{"orig":"#.utf8)
        JSONText.string(states.orig, into: &out)
        out += Array(#","resp":"#.utf8)
        JSONText.string(states.resp, into: &out)
        out += Array(#"},"uid":"#.utf8)
        JSONText.string(uid, into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

/// Strings as JSON (RFC 8259 §7): quoted, with quotes, backslashes and control characters escaped.
enum JSONText {
    static func string(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension ConnectionsReport.Address {
    func encode(into out: inout [UInt8]) {
        out += Array(#"{"ip":"#.utf8)
        JSONText.string(ip, into: &out)
        out += Array(#","port":"#.utf8)
        out += Array("\(port)".utf8)
        out.append(UInt8(ascii: "}"))
    }

    init(_ endpoint: Endpoint) { self.init(ip: endpoint.ip.description, port: Int(endpoint.port)) }

    /// "127.0.0.1:8080" or "[::1]:8080".
    var text: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}
