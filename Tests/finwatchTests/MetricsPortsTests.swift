@testable import finwatch
import FinwatchCore
import Prometheus
import Testing

/// `--metrics-ports`: the alert and endpoint gauges by service port, every other port as `other`,
/// and the port exhaustion gauges, on a real Prometheus registry.
@Suite("metrics by port") struct MetricsPortsTests {
    let registry = PrometheusCollectorRegistry()
    let metrics: FinwatchMetrics

    init() throws {
        metrics = FinwatchMetrics(factory: FinwatchMetrics.prometheusFactory(registry: registry), version: "1.2.3",
                                  ports: try PortBreakdown(parsing: "80,5432"))
    }

    var text: String { registry.emitToString() }

    func value(_ series: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return String(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func alert(_ status: AlertStatus, uid: String, orig: UInt16, resp: UInt16) -> Event {
        .alert(AlertEvent(time: .ms(61_000),
                          identity: ConnectionIdentity(uid: uid, orig: Endpoint(ip: IPAddress("198.18.0.1")!, port: orig),
                                                       resp: Endpoint(ip: IPAddress("198.18.0.2")!, port: resp),
                                                       handshakeSeen: true),
                          alert: .closeWaitLingering, status: status, side: .resp, since: .ms(1_000),
                          duration: 60_000_000_000, threshold: 60_000_000_000))
    }

    @Test func everyPortAndOther_atZero_andNoSeriesWithoutAPort() {
        for port in ["80", "5432", "other"] {
            #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering",port="\#(port)"}"#) == "0.0")
            for state in EndpointState.allCases {
                #expect(value(#"finwatch_endpoints{state="\#(state.rawValue)",port="\#(port)"}"#) == "0.0")
            }
        }
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering"}"#) == nil)
        #expect(value(#"finwatch_endpoints{state="ESTABLISHED"}"#) == nil)
        // Bounded: 3 alerts × 3 ports, 10 states × 3 ports, whatever traffic comes.
        let lines = text.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("finwatch_alerts_firing{") }.count == 9)
        #expect(lines.filter { $0.hasPrefix("finwatch_endpoints{") }.count == 30)
    }

    @Test func alertsFiring_countUnderTheServicePort_unlistedAsOther() {
        metrics.record(Self.alert(.firing, uid: "C1", orig: 40000, resp: 80))
        metrics.record(Self.alert(.firing, uid: "C2", orig: 40001, resp: 80))
        metrics.record(Self.alert(.firing, uid: "C3", orig: 40002, resp: 8080))
        metrics.record(Self.alert(.firing, uid: "C4", orig: 40003, resp: 9999))
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering",port="80"}"#) == "2.0")
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering",port="5432"}"#) == "0.0")
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering",port="other"}"#) == "2.0")
        metrics.record(Self.alert(.resolved, uid: "C1", orig: 40000, resp: 80))
        metrics.record(Self.alert(.resolved, uid: "C1", orig: 40000, resp: 80))   // a duplicate changes nothing
        metrics.record(Self.alert(.resolved, uid: "C4", orig: 40003, resp: 9999))
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering",port="80"}"#) == "1.0")
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering",port="other"}"#) == "1.0")
        #expect(value(#"finwatch_anomalies_total{anomaly="close_wait_lingering"}"#) == "4")
    }

    @Test func evictedConnection_letsGoOfItsPortsAlert() {
        metrics.record(Self.alert(.firing, uid: "C1", orig: 40000, resp: 5432))
        var record = CloseRecord(time: .ms(70_000), identity: ConnectionIdentity(
            uid: "C1", orig: Endpoint(ip: IPAddress("198.18.0.1")!, port: 40000),
            resp: Endpoint(ip: IPAddress("198.18.0.2")!, port: 5432), handshakeSeen: true), close: .halfClosed)
        record.endedBy = .eviction
        metrics.record(.close(record))
        #expect(value(#"finwatch_alerts_firing{alert="close_wait_lingering",port="5432"}"#) == "0.0")
    }

    @Test func endpoints_setFromTheCountsByPort() {
        metrics.endpoints([.established: 5, .closeWait: 1],
                          byPort: ["80": [.established: 2], "5432": [.closeWait: 1], "other": [.established: 3]])
        #expect(value(#"finwatch_endpoints{state="ESTABLISHED",port="80"}"#) == "2.0")
        #expect(value(#"finwatch_endpoints{state="CLOSE_WAIT",port="5432"}"#) == "1.0")
        #expect(value(#"finwatch_endpoints{state="ESTABLISHED",port="other"}"#) == "3.0")
        #expect(value(#"finwatch_endpoints{state="CLOSE_WAIT",port="80"}"#) == "0.0")
    }

    @Test func ephemeralPorts_gauges() {
        #expect(value("finwatch_ephemeral_ports_used") == "0.0")
        #expect(value("finwatch_ephemeral_ports_available") == "0.0")
        metrics.ephemeralPorts(used: 41, available: 50)
        #expect(value("finwatch_ephemeral_ports_used") == "41.0")
        #expect(value("finwatch_ephemeral_ports_available") == "50.0")
        #expect(text.contains("# HELP finwatch_ephemeral_ports_used Local ports held"))
    }
}
