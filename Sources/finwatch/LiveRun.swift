import Glibc
import FinwatchCapture
import FinwatchCore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// A live capture as a daemon: a ServiceGroup of the capture service and, with --listen, the
/// HTTP endpoint; SIGTERM and SIGINT shut it down gracefully (close records, `stop`, exit 0).
struct LiveRun {
    let options: RunOptions
    /// After a signal, how long the services get before the group stops waiting.
    static let shutdownGrace: Duration = .seconds(10)

    func run() async throws(FinwatchError) {
        LoggingSystem.bootstrap { JournalLogHandler(label: $0) }   // `<N>` priorities under systemd
        let logger = Logger(label: "finwatch")
        if let listen = options.listen { try ListenProbe.check(listen) }
        // Opened here, before any service starts: a missing interface or missing permission
        // is one line and its status, not a half-started daemon.
        let handles: [PcapHandle]
        do {
            handles = try Self.open(options)
        } catch {
            throw .capture(error)
        }
        // Fail on an unwritable --output now too; the capture thread opens its own writer.
        try JSONLinesWriter(path: options.output).close()

        let state = LiveState()
        // One lookup (one cache of inode → pid) for the alerts and the HTTP endpoint's rows.
        let processLookup = ProcessLookup(logger: logger)
        var metrics: FinwatchMetrics?
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var endpoint: MetricsEndpoint?
        if let listen = options.listen {
            let registry = PrometheusCollectorRegistry()
            let factory = FinwatchMetrics.prometheusFactory(registry: registry)
            MetricsSystem.bootstrap(factory)
            metrics = FinwatchMetrics(factory: factory, version: finwatchVersion, ports: options.tracker.metricsPorts)
            endpoint = MetricsEndpoint(host: listen.host, port: listen.port, state: state, registry: registry,
                                      processLookup: processLookup)
        }
        let capture = CaptureService(loop: LiveLoop(
            handles: handles, options: options, metrics: metrics, state: state, logger: logger,
            notifier: .fromEnvironment, processLookup: processLookup))
        // The capture ending (the reader of stdout went away) ends the whole daemon gracefully.
        services.append(.init(service: capture, successTerminationBehavior: .gracefullyShutdownGroup))
        if let endpoint { services.append(.init(service: endpoint)) }
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        configuration.maximumGracefulShutdownDuration = Self.shutdownGrace
        let group = ServiceGroup(configuration: configuration)
        // SIGHUP reopens --output from here on (the loop acts on it), never "terminate".
        HangupSignal.install()
        do {
            try await group.run()
        } catch let error as FinwatchError {
            throw error
        } catch let error as MetricsEndpointError {
            // Its reason alone: the FinwatchError message adds the address and the advice once.
            throw .listen(address: error.address, reason: error.reason)
        } catch {
            if let listen = options.listen {
                throw .listen(address: listen.text, reason: "\(error)")
            }
            throw .internalError("\(error)")
        }
    }

    /// The pinned fanout group id, for hosts where ids are handed out by hand; by default the
    /// kernel gives one no other socket uses.
    static let fanoutGroupVariable = "FINWATCH_FANOUT_GROUP"

    /// One activated, filtered handle per worker; with more than one, all in one PACKET_FANOUT
    /// group (hash with defragmentation), joined right after activation.
    static func open(_ options: RunOptions) throws(CaptureError) -> [PcapHandle] {
        let first = try options.source.open(filter: options.filter, decapsulate: options.decapsulate)
        guard options.workers > 1 else { return [first] }
        let pinned = getenv(fanoutGroupVariable).flatMap { UInt16(String(cString: $0)) }
        let group = try first.joinFanout(group: pinned)
        var handles = [first]
        for _ in 1..<options.workers {
            let handle = try options.source.open(filter: options.filter, decapsulate: options.decapsulate)
            _ = try handle.joinFanout(group: group)
            handles.append(handle)
        }
        return handles
    }
}
