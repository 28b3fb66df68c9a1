import FinwatchCore
import Metrics

/// Every metric finwatch exports, made once from one factory (the contract's names).
/// Safe to call from any thread: the metric objects are.
final class FinwatchMetrics: Sendable {
    init(factory: any MetricsFactory) {}

    /// Counts a connection event: closes, anomalies, alerts firing (gauge up on firing, down on
    /// resolved), close_wait and teardown histograms.
    func record(_ event: Event) {}

    /// Adds one batch's packet counts (called per batch, not per packet).
    func packets(seen: UInt64, decoded: UInt64, malformed: UInt64) {}

    /// libpcap's cumulative drop counters; the metric moves by the difference.
    func captureDrops(kernelTotal: UInt64, interfaceTotal: UInt64) {}

    /// Tracked endpoints in each state now.
    func endpoints(_ counts: [EndpointState: Int]) {}

    /// Cumulative evictions; the counter moves by the difference.
    func evictions(total: UInt64) {}
}
