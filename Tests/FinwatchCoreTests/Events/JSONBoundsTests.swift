import Testing
@testable import FinwatchCore

/// What a few JSON primitives write, as text (the encoder writes into an OutputSpan only).
enum JSONText {
    static func written(_ body: (inout OutputSpan<UInt8>) -> Void) -> String {
        var bytes: [UInt8] = []
        JSONLine.append(to: &bytes, maximumLength: 4096, body)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Every line is written into space reserved once for its worst case (`maximumJSONLength`): a
/// bound too small would trap in OutputSpan's check. These are the widest events finwatch can
/// make, every field at its longest, held to their bounds.
@Suite("JSON lines: reserved lengths")
struct JSONBoundsTests {
    static let widestAddress = IPAddress(ipv6High: .max, low: .max)   // ffff:…:ffff, 39 characters
    static let identity = ConnectionIdentity(
        uidNumber: .max, orig: Endpoint(ip: widestAddress, port: .max),
        resp: Endpoint(ip: IPAddress(ipv6High: .max, low: .max - 1), port: .max), handshakeSeen: false)
    /// Every byte escaped to six.
    static let hostile = String(repeating: "\u{01}", count: 300)
    static let latest = Timestamp(nanoseconds: .max)
    static let earliest = Timestamp(nanoseconds: .min)

    static func holds(_ event: Event) {
        let line = event.jsonLine
        #expect(line.utf8.count + 1 <= event.maximumJSONLength, "\(line.utf8.count + 1) > \(event.maximumJSONLength)")
    }

    @Test func widestClose_fitsItsBound() {
        var record = CloseRecord(time: Self.latest, identity: Self.identity, close: .resetAfterFIN)
        record.activeCloser = .both
        record.resetBy = .resp
        record.resetState = .synReceived
        record.origState = .synReceived
        record.respState = .synReceived
        record.durations = TeardownDurations(finWait1: .max, finWait2: .max, closeWait: .max, lastAck: .max,
                                             teardown: .max, lifetime: .max)
        record.origFINRetransmits = .min
        record.respFINRetransmits = .min
        record.finalAckRetransmits = .min
        record.anomalies = AnomalySet(Anomaly.allCases)
        record.sequence = CloseSequence(repeatElement(SequenceStep(from: .resp, flags: TCPFlags(rawValue: 0xFF), offset: .max),
                                count: Teardown.maxSteps))
        record.sequenceTruncated = true
        // The most letters a history holds: every letter from both sides, and the inferred mark.
        record.history = History()
        record.history.recordFlipped()
        for side in Side.allCases { for letter in History.Letter.allCases { record.history.record(letter, from: side) } }
        record.origPackets = .min
        record.respPackets = .min
        record.origFINIntervals = Array(repeating: .max, count: Teardown.maxIntervals)
        record.respFINIntervals = Array(repeating: .max, count: Teardown.maxIntervals)
        record.endedBy = EndedBy.allCases.max { $0.rawValue.utf8.count < $1.rawValue.utf8.count }
        Self.holds(.close(record))
        record.endedBy = nil
        record.time = Self.earliest
        Self.holds(.close(record))
    }

    /// The reservation is an estimate, not a contract the process dies by: a line longer than
    /// it (a close record against reservations from 1 byte to under its length, a 350 kB string
    /// against 8 bytes) is dropped and written again with more room, whole and unchanged.
    @Test func lineLongerThanItsReservation_isWrittenWholeInASecondPass() {
        var record = CloseRecord(time: Self.latest, identity: Self.identity, close: .resetAfterFIN)
        record.sequence = CloseSequence(repeatElement(SequenceStep(from: .orig, flags: [.fin, .ack], offset: 1_234_567),
                                count: Teardown.maxSteps))
        record.history = "ShADadFfR"
        record.origFINIntervals = [200_000_000, 400_000_000]
        record.endedBy = .idleTimeout
        let expected = Event.close(record).jsonLine
        #expect(expected.utf8.count > 1_500)
        for reserved in [1, 16, 100, 700, expected.utf8.count] {
            var bytes = Array("the line before\n".utf8)
            JSONLine.append(to: &bytes, maximumLength: reserved) { out in
                record.write(to: &out)
                out.raw("}\n")
            }
            #expect(String(decoding: bytes, as: UTF8.self) == "the line before\n" + expected + "\n", "reserved \(reserved)")
        }
        let long = String(repeating: "\u{01}x", count: 50_000)
        var bytes: [UInt8] = []
        JSONLine.append(to: &bytes, maximumLength: 8) { $0.string(long) }
        #expect(bytes.count == 2 + 50_000 * 7 && bytes.first == UInt8(ascii: "\"") && bytes.last == UInt8(ascii: "\""))
        #expect(!bytes.contains(JSONLine.outgrownFiller))
    }

    @Test func widestAlert_fitsItsBound() {
        var alert = AlertEvent(time: Self.latest, identity: Self.identity, alert: .finWait2Lingering, status: .resolved,
                               side: .resp, since: Self.earliest, duration: .max, threshold: .max)
        alert.process = ProcessInfo(pid: .min, comm: Self.hostile, unit: Self.hostile, kernelConfirmed: false)
        alert.resolvedTo = .synReceived
        Self.holds(.alert(alert))
    }

    @Test func widestTunnelledEvents_fitTheirBounds() {
        // As deep as the decoder allows, every layer with IPv6 outer addresses and the largest identifier.
        var identity = Self.identity
        identity.tunnel = TunnelLayer.Kind.allCases.prefix(TunnelPath.capacity).map {
            TunnelLayer(kind: $0, outerSource: Self.widestAddress, outerDestination: Self.widestAddress, identifier: .max)
        }
        #expect(identity.tunnel?.count == TunnelPath.capacity)
        let close = CloseRecord(time: Self.latest, identity: identity, close: .resetAfterFIN)
        Self.holds(.close(close))
        let anomaly = AnomalyEvent(time: Self.latest, identity: identity, anomaly: .resetDuringTeardown, side: .resp,
                                   count: .min, intervals: [], state: .synReceived, detail: Self.hostile)
        Self.holds(.anomaly(anomaly))
    }

    @Test func widestAnomaly_fitsItsBound() {
        let anomaly = AnomalyEvent(time: Self.latest, identity: Self.identity, anomaly: .resetDuringTeardown, side: .resp,
                                   count: .min, intervals: Array(repeating: .max, count: Teardown.maxIntervals),
                                   state: .synReceived, detail: Self.hostile)
        Self.holds(.anomaly(anomaly))
    }

    @Test func widestStartStatsAndStop_fitTheirBounds() {
        let start = RunStart(time: Self.latest, version: Self.hostile, sourceKind: .interface, source: Self.hostile,
                             filter: Self.hostile, linkType: Self.hostile,
                             thresholds: [(Self.hostile, .max), ("close_wait", .max)], maxConnections: .min)
        Self.holds(.start(start))
        var stats = RunStats(time: Self.latest)
        stats.packetsSeen = .max
        stats.packetsDecoded = .max
        stats.packetsMalformed = .max
        stats.packetsSkipped = .max
        stats.packetsDuplicate = .max
        stats.connectionsTracked = .min
        for state in EndpointState.allCases { stats.endpointsByState[state] = .min }
        stats.eventsWritten = .max
        stats.writeErrors = .max
        stats.linesDropped = .max
        stats.captureReceived = .max
        stats.dropsKernel = .max
        stats.dropsInterface = .max
        stats.evictions = .max
        stats.reason = StopReason.allCases.max { $0.rawValue.utf8.count < $1.rawValue.utf8.count }
        Self.holds(.stats(stats))
        Self.holds(.stop(stats))
    }
}
