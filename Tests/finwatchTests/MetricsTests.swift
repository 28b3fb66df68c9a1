@testable import finwatch
import FinwatchCore
import Prometheus
import Testing

/// Fixtures for events built directly, as the tracker would report them.
enum MetricsFixture {
    static func identity(_ uid: String = "C1") -> ConnectionIdentity {
        ConnectionIdentity(uid: uid, orig: Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022),
                           resp: Endpoint(ip: IPAddress("198.18.0.2")!, port: 80), handshakeSeen: true)
    }

    static func close(_ kind: CloseKind, closer: ActiveCloser?, closeWaitMs: Double? = nil, teardownMs: Double? = nil,
                      uid: String = "C1", endedBy: EndedBy? = nil) -> Event {
        var record = CloseRecord(time: .ms(1_000), identity: identity(uid), close: kind)
        record.activeCloser = closer
        record.durations.closeWait = closeWaitMs.map { Int64($0 * 1_000_000) }
        record.durations.teardown = teardownMs.map { Int64($0 * 1_000_000) }
        record.endedBy = endedBy
        return .close(record)
    }

    static func alert(_ kind: AlertKind, _ status: AlertStatus, uid: String = "C1", side: Side = .resp) -> Event {
        .alert(AlertEvent(time: .ms(61_000), identity: identity(uid), alert: kind, status: status, side: side,
                          since: .ms(1_000), duration: 60_000_000_000, threshold: 60_000_000_000))
    }
}

@Suite("FinwatchMetrics over a Prometheus registry") struct MetricsTests {
    let registry = PrometheusCollectorRegistry()
    let metrics: FinwatchMetrics

    init() {
        metrics = FinwatchMetrics(factory: FinwatchMetrics.prometheusFactory(registry: registry), version: "1.2.3")
    }

    var text: String { registry.emitToString() }

    /// The sample line for `series` (name and labels exactly as emitted), its value as text.
    func value(_ series: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return String(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func beforeAnyEvent_everySeriesIsThereAtZero() {
        #expect(value(#"finwatch_closes_total{close="normal",active_closer="orig"}"#) == "0")
        #expect(value(#"finwatch_closes_total{close="reset",active_closer="none"}"#) == "0")
        #expect(value(#"finwatch_anomalies_total{anomaly="fin_retransmit"}"#) == "0")
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering"}"#) == "0.0")
        for state in EndpointState.allCases {
            #expect(value(#"finwatch_endpoints{state="\#(state.rawValue)"}"#) == "0.0")
        }
        #expect(value(#"finwatch_packets_total{result="malformed"}"#) == "0")
        #expect(value(#"finwatch_capture_drops_total{where="kernel"}"#) == "0")
        #expect(value("finwatch_evictions_total") == "0")
        #expect(value(#"finwatch_build_info{version="1.2.3"}"#) == "1.0")
        #expect(text.contains("# TYPE finwatch_close_wait_seconds histogram"))
        #expect(text.contains("# TYPE finwatch_teardown_seconds histogram"))
    }

    @Test func everyFamily_hasOneHelpLineBeforeItsType() {
        let lines = text.split(separator: "\n")
        let families = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(families.count == 12)
        for (index, line) in lines.enumerated() where line.hasPrefix("# TYPE ") {
            let name = line.split(separator: " ")[2]
            #expect(index > 0 && lines[index - 1].hasPrefix("# HELP \(name) "), "no HELP right before \(line)")
        }
        #expect(lines.filter { $0.hasPrefix("# HELP ") }.count == families.count)
    }

    @Test func closeRecords_countByKindAndActiveCloser_nullAsNone() {
        metrics.record(MetricsFixture.close(.normal, closer: .orig))
        metrics.record(MetricsFixture.close(.normal, closer: .orig))
        metrics.record(MetricsFixture.close(.simultaneous, closer: .both))
        metrics.record(MetricsFixture.close(.reset, closer: nil))
        #expect(value(#"finwatch_closes_total{close="normal",active_closer="orig"}"#) == "2")
        #expect(value(#"finwatch_closes_total{close="simultaneous",active_closer="both"}"#) == "1")
        #expect(value(#"finwatch_closes_total{close="reset",active_closer="none"}"#) == "1")
        #expect(value(#"finwatch_closes_total{close="normal",active_closer="resp"}"#) == "0")
    }

    @Test func closeDurations_landInTeardownSizedBuckets() {
        metrics.record(MetricsFixture.close(.normal, closer: .orig, closeWaitMs: 0.5, teardownMs: 3))
        metrics.record(MetricsFixture.close(.normal, closer: .resp, closeWaitMs: 400_000, teardownMs: 400_000))
        #expect(value(#"finwatch_close_wait_seconds_bucket{le="0.001"}"#) == "1")
        #expect(value(#"finwatch_close_wait_seconds_bucket{le="300.0"}"#) == "1")
        #expect(value(#"finwatch_close_wait_seconds_bucket{le="600.0"}"#) == "2")
        #expect(value(#"finwatch_close_wait_seconds_bucket{le="3600.0"}"#) == "2")
        #expect(value("finwatch_close_wait_seconds_count") == "2")
        #expect(value(#"finwatch_teardown_seconds_bucket{le="0.001"}"#) == "0")
        #expect(value(#"finwatch_teardown_seconds_bucket{le="0.005"}"#) == "1")
        #expect(value("finwatch_teardown_seconds_count") == "2")
    }

    @Test func closeWithoutPhases_recordsNoDuration() {
        metrics.record(MetricsFixture.close(.reset, closer: nil))
        #expect(value("finwatch_close_wait_seconds_count") == "0")
        #expect(value("finwatch_teardown_seconds_count") == "0")
    }

    @Test func alertFiringThenResolved_movesTheGaugeUpAndDown_andCountsTheAnomalyOnce() {
        metrics.record(MetricsFixture.alert(.closeWaitLingering, .firing, uid: "C1"))
        metrics.record(MetricsFixture.alert(.closeWaitLingering, .firing, uid: "C2"))
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering"}"#) == "2.0")
        metrics.record(MetricsFixture.alert(.closeWaitLingering, .resolved, uid: "C1"))
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering"}"#) == "1.0")
        #expect(value(#"finwatch_anomalies_total{anomaly="close_wait_lingering"}"#) == "2")
        #expect(value(#"finwatch_alerts_firing{alert="fin_wait_2_lingering"}"#) == "0.0")
    }

    @Test func resolvedWithoutFiring_orTwice_neverDrivesTheGaugeNegative() {
        metrics.record(MetricsFixture.alert(.lastAckLingering, .resolved))
        metrics.record(MetricsFixture.alert(.lastAckLingering, .firing))
        metrics.record(MetricsFixture.alert(.lastAckLingering, .firing))  // a duplicate: still one
        metrics.record(MetricsFixture.alert(.lastAckLingering, .resolved))
        metrics.record(MetricsFixture.alert(.lastAckLingering, .resolved))
        #expect(value(#"finwatch_alerts_firing{alert="last_ack_lingering"}"#) == "0.0")
        #expect(value(#"finwatch_anomalies_total{anomaly="last_ack_lingering"}"#) == "1")
    }

    @Test func evictedConnection_letsGoOfItsFiringAlert_butShutdownKeepsIt() {
        metrics.record(MetricsFixture.alert(.finWait2Lingering, .firing, uid: "C1", side: .orig))
        metrics.record(MetricsFixture.alert(.finWait2Lingering, .firing, uid: "C2", side: .orig))
        metrics.record(MetricsFixture.close(.halfClosed, closer: .orig, uid: "C1", endedBy: .eviction))
        #expect(value(#"finwatch_alerts_firing{alert="fin_wait_2_lingering"}"#) == "1.0")
        metrics.record(MetricsFixture.close(.halfClosed, closer: .orig, uid: "C2", endedBy: .shutdown))
        #expect(value(#"finwatch_alerts_firing{alert="fin_wait_2_lingering"}"#) == "1.0")
    }

    @Test func anomalyEvents_countOncePerEvent() {
        let identity = MetricsFixture.identity()
        metrics.record(.anomaly(AnomalyEvent(time: .ms(5), identity: identity, anomaly: .finRetransmit, side: .orig, count: 2)))
        metrics.record(.anomaly(AnomalyEvent(time: .ms(9), identity: identity, anomaly: .finRetransmit, side: .orig, count: 3)))
        metrics.record(.anomaly(AnomalyEvent(time: .ms(9), identity: identity, anomaly: .timeWaitReuse)))
        // The close record lists them again; they are not counted twice.
        var record = CloseRecord(time: .ms(10), identity: identity, close: .normal)
        record.anomalies = AnomalySet([.finRetransmit, .timeWaitReuse])
        metrics.record(.close(record))
        #expect(value(#"finwatch_anomalies_total{anomaly="fin_retransmit"}"#) == "2")
        #expect(value(#"finwatch_anomalies_total{anomaly="time_wait_reuse"}"#) == "1")
    }

    @Test func endpoints_setEveryState_missingOnesToZero() {
        metrics.endpoints([.closeWait: 3, .established: 10])
        metrics.endpoints([.closeWait: 2, .timeWait: 7])
        #expect(value(#"finwatch_endpoints{state="CLOSE_WAIT"}"#) == "2.0")
        #expect(value(#"finwatch_endpoints{state="TIME_WAIT"}"#) == "7.0")
        #expect(value(#"finwatch_endpoints{state="ESTABLISHED"}"#) == "0.0")
    }

    @Test func packets_addEachBatch() {
        metrics.packets(seen: 100, decoded: 98, malformed: 2)
        metrics.packets(seen: 50, decoded: 50, malformed: 0)
        #expect(value(#"finwatch_packets_total{result="seen"}"#) == "150")
        #expect(value(#"finwatch_packets_total{result="decoded"}"#) == "148")
        #expect(value(#"finwatch_packets_total{result="malformed"}"#) == "2")
    }

    @Test func captureDrops_moveByTheDifference_andSurviveACounterReset() {
        metrics.captureDrops(kernelTotal: 10, interfaceTotal: 0)
        metrics.captureDrops(kernelTotal: 25, interfaceTotal: 3)
        #expect(value(#"finwatch_capture_drops_total{where="kernel"}"#) == "25")
        metrics.captureDrops(kernelTotal: 4, interfaceTotal: 3)  // the handle was reopened: 4 new drops
        #expect(value(#"finwatch_capture_drops_total{where="kernel"}"#) == "29")
        #expect(value(#"finwatch_capture_drops_total{where="interface"}"#) == "3")
    }

    @Test func evictions_moveByTheDifference() {
        metrics.evictions(total: 5)
        metrics.evictions(total: 5)
        metrics.evictions(total: 8)
        #expect(value("finwatch_evictions_total") == "8")
    }

    @Test func labels_neverCarryAnAddressPortOrUid() {
        metrics.record(MetricsFixture.close(.normal, closer: .orig, uid: "C42"))
        metrics.record(MetricsFixture.alert(.closeWaitLingering, .firing, uid: "C42"))
        #expect(!text.contains("198.18."))
        #expect(!text.contains("C42"))
        #expect(!text.contains("40022"))
    }

    @Test func manyThreads_recordingAtOnce_loseNothing() async {
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<500 {
                        metrics.record(MetricsFixture.close(.normal, closer: .orig))
                        metrics.record(MetricsFixture.alert(.closeWaitLingering, .firing, uid: "C\(task * 1000 + index)"))
                        metrics.record(MetricsFixture.alert(.closeWaitLingering, .resolved, uid: "C\(task * 1000 + index)"))
                    }
                }
            }
        }
        #expect(value(#"finwatch_closes_total{close="normal",active_closer="orig"}"#) == "4000")
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering"}"#) == "0.0")
        #expect(value(#"finwatch_anomalies_total{anomaly="close_wait_lingering"}"#) == "4000")
    }
}
