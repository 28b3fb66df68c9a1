import FinwatchCore
import Metrics
import Prometheus
import Synchronization

/// Every metric finwatch exports, made once from one factory (the contract's names).
/// Safe to call from any thread: the metric objects are, and the little state kept here to turn
/// cumulative totals into increments sits behind one Mutex.
///
/// Labels come only from enums' raw values: `close` (CloseKind), `active_closer` (ActiveCloser, or
/// `none` when nobody sent a FIN: JSON's `null`), `anomaly` (Anomaly), `alert` (AlertKind),
/// `state` (EndpointState), `result`, `where`. Never an address, port or uid.
final class FinwatchMetrics: Sendable {
    /// Histogram buckets suited to teardown: a loopback close takes microseconds to a millisecond,
    /// a WAN close tens of milliseconds, a stuck CLOSE_WAIT minutes to hours.
    static let teardownBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
        .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300),
        .seconds(600), .seconds(1800), .seconds(3600),
    ]

    /// The `active_closer` label when the close record's `active_closer` is null (no FIN).
    static let noActiveCloser = "none"

    /// A Prometheus factory over `registry` whose histograms use `teardownBuckets` (the factory's
    /// defaults stop at 10 s, useless for CLOSE_WAIT). The executable bootstraps MetricsSystem with it.
    static func prometheusFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            "finwatch_close_wait_seconds": teardownBuckets,
            "finwatch_teardown_seconds": teardownBuckets,
        ]
        return factory
    }

    private struct CloseKey: Hashable {
        var close: CloseKind
        var activeCloser: ActiveCloser?
    }

    /// Which alert is firing for which side of which connection: the gauge moves only on a real
    /// change, so a duplicate `resolved` never drives it below zero.
    private struct FiringAlert: Hashable {
        var uid: String
        var side: Side
        var alert: AlertKind
    }

    private struct Totals {
        var firing: Set<FiringAlert> = []
        var firingCount: [AlertKind: Int] = [:]
        var kernelDrops: UInt64?
        var interfaceDrops: UInt64?
        var evictions: UInt64?
    }

    private let closes: [CloseKey: Metrics.Counter]
    private let anomalies: [Anomaly: Metrics.Counter]
    private let alertsFiring: [AlertKind: Metrics.Gauge]
    private let endpointGauges: [EndpointState: Metrics.Gauge]
    private let closeWaitSeconds: Metrics.Timer
    private let teardownSeconds: Metrics.Timer
    private let packetsSeen: Metrics.Counter
    private let packetsDecoded: Metrics.Counter
    private let packetsMalformed: Metrics.Counter
    private let dropsKernel: Metrics.Counter
    private let dropsInterface: Metrics.Counter
    private let evictionsTotal: Metrics.Counter
    private let buildInfo: Metrics.Gauge
    private let totals = Mutex(Totals())

    /// Makes every metric now, so a scrape shows each series at 0 before anything happens.
    init(factory: any MetricsFactory, version: String = FinwatchMetrics.unknownVersion) {
        var closes: [CloseKey: Metrics.Counter] = [:]
        for close in CloseKind.allCases {
            for closer in [nil] + ActiveCloser.allCases.map(Optional.some) {
                closes[CloseKey(close: close, activeCloser: closer)] = Metrics.Counter(
                    label: "finwatch_closes_total",
                    dimensions: [("close", close.rawValue), ("active_closer", closer?.rawValue ?? Self.noActiveCloser)],
                    factory: factory)
            }
        }
        self.closes = closes
        anomalies = Dictionary(uniqueKeysWithValues: Anomaly.allCases.map {
            ($0, Metrics.Counter(label: "finwatch_anomalies_total", dimensions: [("anomaly", $0.rawValue)], factory: factory))
        })
        alertsFiring = Dictionary(uniqueKeysWithValues: AlertKind.allCases.map {
            ($0, Metrics.Gauge(label: "finwatch_alerts_firing", dimensions: [("alert", $0.rawValue)], factory: factory))
        })
        endpointGauges = Dictionary(uniqueKeysWithValues: EndpointState.allCases.map {
            ($0, Metrics.Gauge(label: "finwatch_endpoints", dimensions: [("state", $0.rawValue)], factory: factory))
        })
        closeWaitSeconds = Metrics.Timer(label: "finwatch_close_wait_seconds", dimensions: [], factory: factory)
        teardownSeconds = Metrics.Timer(label: "finwatch_teardown_seconds", dimensions: [], factory: factory)
        func packets(_ result: String) -> Metrics.Counter {
            Metrics.Counter(label: "finwatch_packets_total", dimensions: [("result", result)], factory: factory)
        }
        packetsSeen = packets("seen")
        packetsDecoded = packets("decoded")
        packetsMalformed = packets("malformed")
        func drops(_ place: String) -> Metrics.Counter {
            Metrics.Counter(label: "finwatch_capture_drops_total", dimensions: [("where", place)], factory: factory)
        }
        dropsKernel = drops("kernel")
        dropsInterface = drops("interface")
        evictionsTotal = Metrics.Counter(label: "finwatch_evictions_total", dimensions: [], factory: factory)
        buildInfo = Metrics.Gauge(label: "finwatch_build_info", dimensions: [("version", version)], factory: factory)
        buildInfo.record(1)
        for gauge in alertsFiring.values { gauge.record(0) }
        for gauge in endpointGauges.values { gauge.record(0) }
    }

    /// The `version` label when the caller does not pass one.
    static let unknownVersion = "unknown"

    /// Counts a connection event: closes, anomalies, alerts firing (gauge up on firing, down on
    /// resolved), close_wait and teardown histograms.
    ///
    /// Each `anomaly` event counts once; a lingering alert counts as its anomaly
    /// (`close_wait_lingering`, …) once, when it fires. A close record's `anomalies` list repeats
    /// what those events already counted, so it is not counted again.
    func record(_ event: Event) {
        switch event {
        case .close(let record):
            closes[CloseKey(close: record.close, activeCloser: record.activeCloser)]?.increment()
            if let ns = record.durations.closeWait, ns >= 0 { closeWaitSeconds.recordNanoseconds(ns) }
            if let ns = record.durations.teardown, ns >= 0 { teardownSeconds.recordNanoseconds(ns) }
            forgetFiringAlerts(of: record)
        case .alert(let alert):
            let key = FiringAlert(uid: alert.identity.uid, side: alert.side, alert: alert.alert)
            let count: Int? = totals.withLock { totals in
                let changed = switch alert.status {
                case .firing: totals.firing.insert(key).inserted
                case .resolved: totals.firing.remove(key) != nil
                }
                guard changed else { return nil }
                totals.firingCount[alert.alert, default: 0] += alert.status == .firing ? 1 : -1
                return totals.firingCount[alert.alert, default: 0]
            }
            guard let count else { return }
            alertsFiring[alert.alert]?.record(count)
            if alert.status == .firing { anomalies[alert.alert.anomaly]?.increment() }
        case .anomaly(let anomaly):
            anomalies[anomaly.anomaly]?.increment()
        case .start, .stats, .stop:
            break  // run events: their counters arrive through packets(…), captureDrops(…), evictions(…)
        }
    }

    /// A connection that ended without its alerts resolving (evicted, idle): nothing will ever
    /// resolve them, so the gauge lets go. At end of input or shutdown they stay firing (CONTRACT).
    private func forgetFiringAlerts(of record: CloseRecord) {
        guard let reason = record.endedBy, reason != "shutdown", reason != "end_of_input" else { return }
        let counts = totals.withLock { totals in
            let mine = totals.firing.filter { $0.uid == record.identity.uid }
            totals.firing.subtract(mine)
            for key in mine { totals.firingCount[key.alert, default: 0] -= 1 }
            return mine.isEmpty ? [:] : totals.firingCount
        }
        for (alert, count) in counts { alertsFiring[alert]?.record(count) }
    }

    /// Adds one batch's packet counts (called per batch, not per packet).
    func packets(seen: UInt64, decoded: UInt64, malformed: UInt64) {
        if seen > 0 { packetsSeen.increment(by: Int64(clamping: seen)) }
        if decoded > 0 { packetsDecoded.increment(by: Int64(clamping: decoded)) }
        if malformed > 0 { packetsMalformed.increment(by: Int64(clamping: malformed)) }
    }

    /// libpcap's cumulative drop counters; the metric moves by the difference.
    func captureDrops(kernelTotal: UInt64, interfaceTotal: UInt64) {
        let (kernel, interface) = totals.withLock { totals in
            (Self.advance(&totals.kernelDrops, to: kernelTotal), Self.advance(&totals.interfaceDrops, to: interfaceTotal))
        }
        if kernel > 0 { dropsKernel.increment(by: Int64(clamping: kernel)) }
        if interface > 0 { dropsInterface.increment(by: Int64(clamping: interface)) }
    }

    /// Tracked endpoints in each state now; a state missing from `counts` is 0.
    func endpoints(_ counts: [EndpointState: Int]) {
        for (state, gauge) in endpointGauges { gauge.record(counts[state] ?? 0) }
    }

    /// Cumulative evictions; the counter moves by the difference.
    func evictions(total: UInt64) {
        let delta = totals.withLock { Self.advance(&$0.evictions, to: total) }
        if delta > 0 { evictionsTotal.increment(by: Int64(clamping: delta)) }
    }

    /// How far a cumulative total moved since `last`. A total below the last one means its source
    /// restarted from zero (libpcap's counters are per handle, and 32-bit ones wrap): everything
    /// it reports now is new. The first report is taken whole (the handle opened with this run).
    private static func advance(_ last: inout UInt64?, to total: UInt64) -> UInt64 {
        defer { last = total }
        guard let previous = last, total >= previous else { return total }
        return total - previous
    }
}
