import Prometheus
import ServiceLifecycle

/// The HTTP endpoint (`--listen`): /metrics, /healthz, /connections. Runs as one service of the
/// daemon's ServiceGroup and stops on graceful shutdown.
struct MetricsEndpoint: Service {
    let host: String
    let port: Int
    let state: LiveState
    let registry: PrometheusCollectorRegistry

    init(host: String, port: Int, state: LiveState, registry: PrometheusCollectorRegistry) {
        self.host = host
        self.port = port
        self.state = state
        self.registry = registry
    }

    func run() async throws {
        try await gracefulShutdown()
    }
}
