import FinwatchCore

/// `finwatch-bench encode`: the output stage alone. Encodes a fixed mix of events — the close
/// records the benchmark file is made of (IPv4 and IPv6, four-way, piggybacked, reset, half
/// closed), FIN retransmission anomalies and an alert — into one buffer that is emptied every
/// 64 KiB, as the writer's is, and reports the time and bytes per event.
enum EncodeBench {
    struct Result {
        var events: Int
        var bytes: Int
        var seconds: Double
        var nanosecondsPerEvent: Double { seconds * 1e9 / Double(events) }
    }

    static func run(count: Int) -> Result {
        let mix = events()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64 * 1024 + 8192)
        var bytes = 0
        let started = Floor.monotonicSeconds()
        for index in 0..<count {
            mix[index % mix.count].appendJSONLine(to: &buffer)
            if buffer.count >= 64 * 1024 {
                bytes += buffer.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        bytes += buffer.count
        return Result(events: count, bytes: bytes, seconds: Floor.monotonicSeconds() - started)
    }

    /// Eight events whose uids, addresses and times differ, as consecutive records' do.
    static func events() -> [Event] {
        let base = Timestamp(seconds: 1_795_000_000, nanoseconds: 123_456_000)
        func at(_ microseconds: Int64) -> Timestamp { base.adding(nanoseconds: microseconds * 1_000) }
        let v4 = (Endpoint(ip: IPAddress("198.18.7.21")!, port: 51_234), Endpoint(ip: IPAddress("198.19.0.80")!, port: 443))
        let v6 = (Endpoint(ip: IPAddress("2001:db8::1:f00d")!, port: 40_022), Endpoint(ip: IPAddress("2001:db8:0:2::80")!, port: 80))
        func step(_ from: Side, _ flags: TCPFlags, _ microseconds: Int64) -> SequenceStep {
            SequenceStep(from: from, flags: flags, offset: microseconds * 1_000)
        }
        func record(_ uid: UInt64, _ endpoints: (Endpoint, Endpoint), _ close: CloseKind, at end: Int64) -> CloseRecord {
            var record = CloseRecord(time: at(end), identity: ConnectionIdentity(
                uidNumber: uid, orig: endpoints.0, resp: endpoints.1, handshakeSeen: true), close: close)
            record.origPackets = 7
            record.respPackets = 9
            record.history = "ShADadFf"
            record.durations.lifetime = end * 1_000 + 48_213_000
            return record
        }

        var normal = record(104_857, v4, .normal, at: 20_040)
        normal.activeCloser = .orig
        normal.origState = .timeWait
        normal.durations = TeardownDurations(finWait1: 50_000, finWait2: 19_950_000, closeWait: 20_000_000,
                                             lastAck: 40_000, teardown: 20_040_000, lifetime: 30_040_000)
        normal.sequence = [step(.orig, [.fin, .ack], 0), step(.resp, .ack, 50), step(.resp, [.fin, .ack], 20_000),
                           step(.orig, .ack, 20_040)]

        var piggybacked = record(104_858, v6, .normal, at: 812)
        piggybacked.activeCloser = .resp
        piggybacked.respState = .timeWait
        piggybacked.durations = TeardownDurations(finWait1: 412_000, finWait2: 0, closeWait: 412_000,
                                                  lastAck: 400_000, teardown: 812_000, lifetime: 9_211_000)
        piggybacked.sequence = [step(.resp, [.fin, .psh, .ack], 0), step(.orig, [.fin, .ack], 412), step(.resp, .ack, 812)]

        var reset = record(104_861, v4, .resetAfterFIN, at: 3_000)
        reset.activeCloser = .orig
        reset.resetBy = .resp
        reset.resetState = .closeWait
        reset.anomalies.insert(.resetDuringTeardown)
        reset.durations = TeardownDurations(finWait1: 90_000, teardown: 3_000_000, lifetime: 5_000_000)
        reset.sequence = [step(.orig, [.fin, .ack], 0), step(.resp, .ack, 90), step(.resp, [.rst, .ack], 3_000)]

        var retransmitted = record(104_870, v4, .normal, at: 1_650_000)
        retransmitted.activeCloser = .orig
        retransmitted.origState = .timeWait
        retransmitted.origFINRetransmits = 3
        retransmitted.anomalies.insert(.finRetransmit)
        retransmitted.origFINIntervals = [204_113_000, 408_026_000, 816_391_000]
        retransmitted.durations = TeardownDurations(finWait1: 1_428_530_000, finWait2: 210_000, closeWait: 1_428_740_000,
                                                    lastAck: 50_000, teardown: 1_428_790_000, lifetime: 1_500_000_000)
        retransmitted.sequence = [step(.orig, [.fin, .ack], 0), step(.orig, [.fin, .ack], 204_113),
                                  step(.orig, [.fin, .ack], 612_139), step(.orig, [.fin, .ack], 1_428_530),
                                  step(.resp, .ack, 1_428_530), step(.resp, [.fin, .ack], 1_428_740),
                                  step(.orig, .ack, 1_428_790)]

        var halfClosed = record(104_899, v6, .halfClosed, at: 15_700_000)
        halfClosed.activeCloser = .orig
        halfClosed.origState = .finWait2
        halfClosed.respState = .closeWait
        halfClosed.endedBy = .endOfInput
        halfClosed.durations = TeardownDurations(finWait1: 60_000, lifetime: 15_800_000_000)
        halfClosed.sequence = [step(.orig, [.fin, .ack], 0), step(.resp, .ack, 60)]

        let anomaly = AnomalyEvent(time: at(612_139), identity: retransmitted.identity, anomaly: .finRetransmit, side: .orig,
                                   count: 2, intervals: [204_113_000, 408_026_000], state: .finWait1)
        var alert = AlertEvent(time: at(61_000_000), identity: halfClosed.identity, alert: .closeWaitLingering,
                               status: .firing, side: .resp, since: at(1_000_000), duration: 60_000_000_000,
                               threshold: 60_000_000_000)
        alert.resolvedTo = nil
        var unterminated = record(104_900, v4, .unterminated, at: 15_700_000)
        unterminated.origState = .established
        unterminated.respState = .established
        unterminated.endedBy = .endOfInput
        return [.close(normal), .close(piggybacked), .close(reset), .close(retransmitted), .anomaly(anomaly),
                .close(halfClosed), .alert(alert), .close(unterminated)]
    }
}
