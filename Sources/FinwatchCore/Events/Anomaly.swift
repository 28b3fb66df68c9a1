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

    /// The anomaly whose `bit` is `1 << position`.
    init?(bitPosition position: Int) {
        switch position {
        case 0: self = .finRetransmit
        case 1: self = .finalAckRetransmit
        case 2: self = .resetDuringTeardown
        case 3: self = .timeWaitReuse
        case 4: self = .timeWaitReset
        case 5: self = .dataAfterFIN
        case 6: self = .closeWaitLingering
        case 7: self = .finWait2Lingering
        case 8: self = .lastAckLingering
        case 9: self = .resetOutOfWindow
        case 10: self = .captureDrops
        default: return nil
        }
    }

    /// Bit for `AnomalySet`: the declaration order, so a set lists its members in that order.
    var bit: UInt16 {
        switch self {
        case .finRetransmit: 1 << 0
        case .finalAckRetransmit: 1 << 1
        case .resetDuringTeardown: 1 << 2
        case .timeWaitReuse: 1 << 3
        case .timeWaitReset: 1 << 4
        case .dataAfterFIN: 1 << 5
        case .closeWaitLingering: 1 << 6
        case .finWait2Lingering: 1 << 7
        case .lastAckLingering: 1 << 8
        case .resetOutOfWindow: 1 << 9
        case .captureDrops: 1 << 10
        }
    }
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
