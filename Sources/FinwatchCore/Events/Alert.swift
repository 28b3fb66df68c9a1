/// A condition that lasts: a side stuck in a half-closed state past its threshold.
package enum AlertKind: String, Sendable, Hashable, CaseIterable {
    case closeWaitLingering = "close_wait_lingering"
    case finWait2Lingering = "fin_wait_2_lingering"
    case lastAckLingering = "last_ack_lingering"

    /// The state the stuck side is in.
    package var state: EndpointState {
        switch self {
        case .closeWaitLingering: .closeWait
        case .finWait2Lingering: .finWait2
        case .lastAckLingering: .lastAck
        }
    }

    /// The anomaly name a close record lists once this alert has fired.
    package var anomaly: Anomaly {
        switch self {
        case .closeWaitLingering: .closeWaitLingering
        case .finWait2Lingering: .finWait2Lingering
        case .lastAckLingering: .lastAckLingering
        }
    }

    /// The alert watching `state`, if any.
    package init?(watching state: EndpointState) {
        switch state {
        case .closeWait: self = .closeWaitLingering
        case .finWait2: self = .finWait2Lingering
        case .lastAck: self = .lastAckLingering
        case .synSent, .synReceived, .established, .finWait1, .closing, .timeWait, .closed: return nil
        }
    }
}

package enum AlertStatus: String, Sendable, Hashable {
    case firing, resolved
}
