import Testing
@testable import FinwatchCore

@Suite("JSON lines")
struct EventJSONTests {
    /// The close event of CONTRACT.md's example, built field by field.
    static func contractExample() -> CloseRecord {
        let identity = ConnectionIdentity(
            uid: "C1", orig: Endpoint(ip: IPAddress("127.0.0.1")!, port: 53312),
            resp: Endpoint(ip: IPAddress("127.0.0.1")!, port: 42397), handshakeSeen: true)
        var record = CloseRecord(time: Timestamp(seconds: 1_795_572_251, nanoseconds: 706_210_000),
                                 identity: identity, close: .normal)
        record.activeCloser = .orig
        record.origState = .timeWait
        record.respState = .closed
        record.durations = TeardownDurations(finWait1: 14_000, finWait2: 0, closeWait: 14_000, lastAck: 12_000,
                                             teardown: 26_000, lifetime: 172_000)
        record.sequence = [SequenceStep(from: .orig, flags: [.fin, .ack], offset: 0),
                           SequenceStep(from: .resp, flags: [.fin, .ack], offset: 14_000),
                           SequenceStep(from: .orig, flags: .ack, offset: 26_000)]
        record.history = "ShAFf"
        record.origPackets = 4
        record.respPackets = 2
        return record
    }

    @Test func closeEvent_matchesTheContractExample() {
        let line = Event.close(EventJSONTests.contractExample()).jsonLine
        let communityID = EventJSONTests.contractExample().identity.communityID
        let expected = #"{"type":"close","ts":"2026-11-25T02:04:11.706210Z","uid":"C1","community_id":"\#(communityID)","orig":{"ip":"127.0.0.1","port":53312},"resp":{"ip":"127.0.0.1","port":42397},"handshake_seen":true,"close":"normal","active_closer":"orig","reset_by":null,"reset_state":null,"states":{"orig":"TIME_WAIT","resp":"CLOSED"},"durations_ms":{"fin_wait_1":0.014,"fin_wait_2":0.0,"close_wait":0.014,"last_ack":0.012,"teardown":0.026,"lifetime":0.172},"retransmits":{"orig_fin":0,"resp_fin":0,"final_ack":0},"anomalies":[],"sequence":[{"from":"orig","flags":"FA","ms":0.0},{"from":"resp","flags":"FA","ms":0.014},{"from":"orig","flags":"A","ms":0.026}],"history":"ShAFf","conn_state":"SF","packets":{"orig":4,"resp":2}}"#
        #expect(line == expected)
    }

    @Test("milliseconds keep microsecond precision and drop trailing zeros",
          arguments: [(Int64(0), "0.0"), (1_000, "0.001"), (1_500_000, "1.5"), (2_500_000_000, "2500.0"),
                      (999, "0.0"), (123_456_789, "123.456"), (-5, "0.0")])
    func milliseconds(nanoseconds: Int64, text: String) {
        #expect(JSONText.written { $0.milliseconds(nanoseconds) } == text)
    }

    @Test("milliseconds: every width of the fraction, and the widest value", arguments: [
        (Int64(10_000), "0.01"), (100_000, "0.1"), (110_000, "0.11"), (101_000, "0.101"), (1_000_000, "1.0"),
        (12_345_678_000, "12345.678"), (Int64.max, "9223372036854.775"),
    ])
    func millisecondsWidths(nanoseconds: Int64, text: String) {
        #expect(JSONText.written { $0.milliseconds(nanoseconds) } == text)
    }

    @Test("decimals of every width", arguments: [UInt64(0), 9, 10, 99, 100, 65_535, 1_000_000, 104_857,
                                                 9_999_999_999, UInt64.max])
    func decimals(value: UInt64) {
        #expect(JSONText.written { $0.decimal(value) } == String(value))
        #expect(JSONText.written { $0.int(-Int64(truncatingIfNeeded: value % 1_000_000_007)) }
                == String(-Int64(truncatingIfNeeded: value % 1_000_000_007)))
    }

    @Test("RFC 3339 with microseconds, UTC", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000000Z"),
        (951_782_400_123_456_789, "2000-02-29T00:00:00.123456Z"),
        (-1_000, "1969-12-31T23:59:59.999999Z"),
        (4_102_444_799_999_999_000, "2099-12-31T23:59:59.999999Z"),
    ])
    func timestamps(nanoseconds: Int64, text: String) {
        #expect(Timestamp(nanoseconds: nanoseconds).rfc3339 == text)
    }

    @Test func stringsAreEscaped() {
        #expect(JSONText.written { $0.string("a\"b\\c\nd\u{01}é") } == #""a\"b\\c\nd\u0001é""#)
    }

    @Test func alertEvent_carriesProcessWhenKnown() {
        var alert = AlertEvent(time: .ms(2000), identity: EventJSONTests.contractExample().identity,
                               alert: .closeWaitLingering, status: .firing, side: .resp, since: .ms(0),
                               duration: 2_000_000_000, threshold: 1_000_000_000)
        alert.process = ProcessInfo(pid: 42, comm: "leaky", unit: "leaky.service", kernelConfirmed: true)
        let line = Event.alert(alert).jsonLine
        #expect(line.contains(#""alert":"close_wait_lingering","status":"firing","side":"resp","state":"CLOSE_WAIT","since":"1970-01-01T00:00:00.000000Z","duration_ms":2000.0,"threshold_ms":1000.0,"process":{"pid":42,"comm":"leaky","unit":"leaky.service","kernel_confirmed":true}"#))
    }

    @Test func durationText_parsesTheContractForms() {
        #expect(DurationText.parse("250ms") == 250_000_000)
        #expect(DurationText.parse("3s") == 3_000_000_000)
        #expect(DurationText.parse("2m") == 120_000_000_000)
        #expect(DurationText.parse("1h") == 3_600_000_000_000)
        #expect(DurationText.parse("1.5s") == 1_500_000_000)
        for bad in ["", "s", "10", "-1s", "1x", "ms", ".5s", "1..5s", "1e3s"] {
            #expect(DurationText.parse(bad) == nil, "\(bad)")
        }
        #expect(DurationText.format(60_000_000_000) == "1m")
        #expect(DurationText.format(250_000_000) == "250ms")
    }
}
