/// Something that happened once in a connection's teardown: the contract's `anomaly` names.
package enum Anomaly: String, Sendable, Hashable, CaseIterable {
    case finRetransmit = "fin_retransmit"
    case finalAckRetransmit = "final_ack_retransmit"
    case resetDuringTeardown = "reset_during_teardown"
    case timeWaitReuse = "time_wait_reuse"
    case timeWaitReset = "time_wait_reset"
    case dataAfterFIN = "data_after_fin"
    case closeWaitLingering = "close_wait_lingering"
    case finWait2Lingering = "fin_wait_2_lingering"
    case lastAckLingering = "last_ack_lingering"
    /// An RST whose sequence number lies outside the receiver's window (RFC 5961 §3): reported,
    /// not believed; the connection is not closed on it.
    case resetOutOfWindow = "reset_out_of_window"
    /// libpcap reported drops while this connection was tracked: its record may lack segments.
    case captureDrops = "capture_drops"
    /// The local ports held toward one remote address and port (open plus TIME_WAIT) reached the
    /// threshold set against the ephemeral port range: connect() there is about to fail.
    case portExhaustion = "port_exhaustion"

    /// The cases in declaration order, made once (`allCases` builds a new array on each use).
    private static let ordered = allCases

    /// The anomaly whose `bit` is `1 << position`.
    init?(bitPosition position: Int) {
        guard Anomaly.ordered.indices.contains(position) else { return nil }
        self = Anomaly.ordered[position]
    }

    /// Bit for `AnomalySet`: the declaration order, so a set lists its members in that order.
    /// Looked up when an anomaly is recorded, not per packet.
    var bit: UInt16 { UInt16(1) << UInt16(Anomaly.ordered.firstIndex(of: self) ?? 0) }
}

/// A compact set of anomalies kept per connection (two bytes instead of an array).
package struct AnomalySet: Hashable, Sendable, Sequence, BitwiseCopyable {
    package var rawValue: UInt16 = 0
    package init() {}
    package init(_ anomalies: [Anomaly]) { for a in anomalies { insert(a) } }

    package mutating func insert(_ anomaly: Anomaly) { rawValue |= anomaly.bit }
    package func contains(_ anomaly: Anomaly) -> Bool { rawValue & anomaly.bit != 0 }
    package var isEmpty: Bool { rawValue == 0 }

    /// Members in the contract's declaration order, so output is stable. Walks the bits: no
    /// array per close record.
    package func makeIterator() -> Iterator { Iterator(remaining: rawValue) }

    package struct Iterator: IteratorProtocol {
        var remaining: UInt16

        package mutating func next() -> Anomaly? {
            while remaining != 0 {
                let position = remaining.trailingZeroBitCount   // the lowest member left
                remaining &= remaining &- 1
                if let anomaly = Anomaly(bitPosition: position) { return anomaly }
            }
            return nil
        }
    }
}
