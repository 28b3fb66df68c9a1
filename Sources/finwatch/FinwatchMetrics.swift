import FinwatchCore
import Prometheus
import Synchronization

/// Every metric finwatch exports, made once on one registry (the contract's names), each with help.
/// Safe to call from any thread: the metric objects are, and the little state kept here to turn
/// cumulative totals into increments sits behind one Mutex.
///
/// Labels come only from enums' raw values: `close` (CloseKind), `active_closer` (ActiveCloser, or
/// `none` when nobody sent a FIN: JSON's `null`), `anomaly` (Anomaly), `alert` (AlertKind),
/// `state` (EndpointState), `result`, `where`; with `--metrics-ports`, `port` on the alert and endpoint
/// gauges, from the bounded list (PortBreakdown: at most 32 ports and `other`). Never an address,
/// an unlisted port or a uid.
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
        /// The `--metrics-ports` bucket (0 without the flag): one gauge per alert and bucket.
        var bucket: Int
    }

    /// One `finwatch_alerts_firing` series: the alert, and its port bucket (0 without --metrics-ports).
    private struct AlertSeries: Hashable {
        var alert: AlertKind
        var bucket: Int
    }

    /// One `finwatch_endpoints` series: the state, and its port label (nil without --metrics-ports).
    private struct EndpointSeries: Hashable {
        var state: EndpointState
        var port: String?
    }

    private struct Totals {
        var firing: Set<FiringAlert> = []
        var firingCount: [AlertSeries: Int] = [:]
        var kernelDrops: UInt64?
        var interfaceDrops: UInt64?
        var evictions: UInt64?
    }

    private let closes: [CloseKey: Prometheus.Counter]
    private let anomalies: [Anomaly: Prometheus.Counter]
    private let alertsFiring: [AlertSeries: Prometheus.Gauge]
    private let endpointGauges: [EndpointSeries: Prometheus.Gauge]
    private let ports: PortBreakdown?
    private let ephemeralPortsUsed: Prometheus.Gauge
    private let ephemeralPortsAvailable: Prometheus.Gauge
    private let closeWaitSeconds: DurationHistogram
    private let teardownSeconds: DurationHistogram
    private let packetsSeen: Prometheus.Counter
    private let packetsDecoded: Prometheus.Counter
    private let packetsMalformed: Prometheus.Counter
    private let dropsKernel: Prometheus.Counter
    private let dropsInterface: Prometheus.Counter
    private let evictionsTotal: Prometheus.Counter
    private let buildInfo: Prometheus.Gauge
    private let totals = Mutex(Totals())

    /// Every family: its name in two parts, the unit last (`total` for counters, `seconds`, or none
    /// for a gauge of things), and its `# HELP` text. swift-metrics' factory API has no place for
    /// help text (the Prometheus factory registers an empty one, and the registry refuses a second,
    /// different help for a name), so the families are made on the factory's registry directly.
    enum Family {
        static var closes: MetricNameDescriptor {
            family("finwatch_closes", "total", "Connections ended, by close class and active closer (none: no FIN).")
        }
        static var anomalies: MetricNameDescriptor {
            family("finwatch_anomalies", "total", "Teardown anomalies seen; a lingering alert counts once, when it fires.")
        }
        static var alertsFiring: MetricNameDescriptor {
            family("finwatch_alerts_firing", "", "Lingering-state alerts firing now.")
        }
        static var endpoints: MetricNameDescriptor {
            family("finwatch_endpoints", "", "Tracked endpoints in each RFC 9293 state now.")
        }
        static var closeWait: MetricNameDescriptor {
            family("finwatch_close_wait", "seconds", "Time from the first FIN to the passive side's FIN (its program calling close()).")
        }
        static var teardown: MetricNameDescriptor {
            family("finwatch_teardown", "seconds", "Time from the first FIN to the last ACK, or to the RST.")
        }
        static var packets: MetricNameDescriptor {
            family("finwatch_packets", "total", "Packets captured (seen), decoded as TCP, and malformed.")
        }
        static var drops: MetricNameDescriptor {
            family("finwatch_capture_drops", "total", "Packets libpcap reports dropped, in the kernel and at the interface.")
        }
        static var evictions: MetricNameDescriptor {
            family("finwatch_evictions", "total", "Connections evicted because the table was full (--max-connections).")
        }
        static var ephemeralPortsUsed: MetricNameDescriptor {
            family("finwatch_ephemeral_ports_used", "",
                   "Local ports held toward the busiest remote address and port from one local address: connections open or in TIME_WAIT.")
        }
        static var ephemeralPortsAvailable: MetricNameDescriptor {
            family("finwatch_ephemeral_ports_available", "",
                   "Size of the local ephemeral port range (net.ipv4.ip_local_port_range, read live); 0 when unknown.")
        }
        static var buildInfo: MetricNameDescriptor {
            family("finwatch_build_info", "", "The running finwatch's version, as a label; always 1.")
        }

        private static func family(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: unit, helpText: help)
        }
    }

    /// Makes every metric now, on `factory`'s registry with its histogram buckets, so a scrape
    /// shows each series at 0 (with its HELP line) before anything happens.
    /// With `ports` (--metrics-ports), the alert and endpoint gauges carry a `port` label: one
    /// series per listed port and `other`, instead of one in all.
    init(factory: PrometheusMetricsFactory, version: String = FinwatchMetrics.unknownVersion, ports: PortBreakdown? = nil) {
        let registry = factory.registry
        var closes: [CloseKey: Prometheus.Counter] = [:]
        for close in CloseKind.allCases {
            for closer in [nil] + ActiveCloser.allCases.map(Optional.some) {
                closes[CloseKey(close: close, activeCloser: closer)] = registry.makeCounter(
                    descriptor: Family.closes,
                    labels: [("close", close.rawValue), ("active_closer", closer?.rawValue ?? Self.noActiveCloser)])
            }
        }
        self.closes = closes
        anomalies = Dictionary(uniqueKeysWithValues: Anomaly.allCases.map {
            ($0, registry.makeCounter(descriptor: Family.anomalies, labels: [("anomaly", $0.rawValue)]))
        })
        self.ports = ports
        var alertsFiring: [AlertSeries: Prometheus.Gauge] = [:]
        var endpointGauges: [EndpointSeries: Prometheus.Gauge] = [:]
        for alert in AlertKind.allCases {
            if let ports {
                for (bucket, port) in ports.labels.enumerated() {
                    alertsFiring[AlertSeries(alert: alert, bucket: bucket)] = registry.makeGauge(
                        descriptor: Family.alertsFiring, labels: [("alert", alert.rawValue), ("port", port)])
                }
            } else {
                alertsFiring[AlertSeries(alert: alert, bucket: 0)] = registry.makeGauge(
                    descriptor: Family.alertsFiring, labels: [("alert", alert.rawValue)])
            }
        }
        for state in EndpointState.allCases {
            if let ports {
                for port in ports.labels {
                    endpointGauges[EndpointSeries(state: state, port: port)] = registry.makeGauge(
                        descriptor: Family.endpoints, labels: [("state", state.rawValue), ("port", port)])
                }
            } else {
                endpointGauges[EndpointSeries(state: state, port: nil)] = registry.makeGauge(
                    descriptor: Family.endpoints, labels: [("state", state.rawValue)])
            }
        }
        self.alertsFiring = alertsFiring
        self.endpointGauges = endpointGauges
        ephemeralPortsUsed = registry.makeGauge(descriptor: Family.ephemeralPortsUsed)
        ephemeralPortsAvailable = registry.makeGauge(descriptor: Family.ephemeralPortsAvailable)
        func histogram(_ family: MetricNameDescriptor) -> DurationHistogram {
            registry.makeDurationHistogram(
                descriptor: family,
                buckets: factory.durationHistogramBuckets[family.name] ?? factory.defaultDurationHistogramBuckets)
        }
        closeWaitSeconds = histogram(Family.closeWait)
        teardownSeconds = histogram(Family.teardown)
        func packets(_ result: String) -> Prometheus.Counter {
            registry.makeCounter(descriptor: Family.packets, labels: [("result", result)])
        }
        packetsSeen = packets("seen")
        packetsDecoded = packets("decoded")
        packetsMalformed = packets("malformed")
        func drops(_ place: String) -> Prometheus.Counter {
            registry.makeCounter(descriptor: Family.drops, labels: [("where", place)])
        }
        dropsKernel = drops("kernel")
        dropsInterface = drops("interface")
        evictionsTotal = registry.makeCounter(descriptor: Family.evictions)
        buildInfo = registry.makeGauge(descriptor: Family.buildInfo, labels: [("version", version)])
        buildInfo.set(to: 1)
        for gauge in alertsFiring.values { gauge.set(to: 0) }
        for gauge in endpointGauges.values { gauge.set(to: 0) }
        ephemeralPortsUsed.set(to: 0)
        ephemeralPortsAvailable.set(to: 0)
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
            let bucket = ports?.bucket(orig: alert.identity.orig.port, resp: alert.identity.resp.port) ?? 0
            let key = FiringAlert(uid: alert.identity.uid, side: alert.side, alert: alert.alert, bucket: bucket)
            let series = AlertSeries(alert: alert.alert, bucket: bucket)
            let count: Int? = totals.withLock { totals in
                let changed = switch alert.status {
                case .firing: totals.firing.insert(key).inserted
                case .resolved: totals.firing.remove(key) != nil
                }
                guard changed else { return nil }
                totals.firingCount[series, default: 0] += alert.status == .firing ? 1 : -1
                return totals.firingCount[series, default: 0]
            }
            guard let count else { return }
            alertsFiring[series]?.set(to: Double(count))
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
        guard let reason = record.endedBy, reason != .shutdown, reason != .endOfInput else { return }
        let counts = totals.withLock { totals in
            let mine = totals.firing.filter { $0.uid == record.identity.uid }
            totals.firing.subtract(mine)
            for key in mine { totals.firingCount[AlertSeries(alert: key.alert, bucket: key.bucket), default: 0] -= 1 }
            return mine.isEmpty ? [:] : totals.firingCount
        }
        for (series, count) in counts { alertsFiring[series]?.set(to: Double(count)) }
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

    /// Tracked endpoints in each state now; a state missing from `counts` is 0. With
    /// --metrics-ports the gauges are per port: `byPort` (label → state → count) sets them.
    func endpoints(_ counts: [EndpointState: Int], byPort: [String: [EndpointState: Int]]? = nil) {
        for (series, gauge) in endpointGauges {
            let count = if let port = series.port { byPort?[port]?[series.state] ?? 0 } else { counts[series.state] ?? 0 }
            gauge.set(to: Double(count))
        }
    }

    /// The busiest destination's held local ports, and the range's size (0: unknown).
    func ephemeralPorts(used: Int, available: Int) {
        ephemeralPortsUsed.set(to: Double(used))
        ephemeralPortsAvailable.set(to: Double(available))
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
