/// A tracked connection as `/connections` and `finwatch status` show it: one row per side stuck
/// half-closed (CLOSE_WAIT, FIN_WAIT_2, LAST_ACK), with when it entered that state.
package struct ConnectionSnapshot: Sendable, Equatable {
    package var identity: ConnectionIdentity
    package var origState: EndpointState
    package var respState: EndpointState
    /// The side in the half-closed state this row is about.
    package var side: Side
    package var state: EndpointState
    /// When `side` entered `state`.
    package var since: Timestamp
    /// Whether this side's lingering alert is firing now.
    package var alertFiring: Bool
    package var lastSeen: Timestamp

    package init(identity: ConnectionIdentity, origState: EndpointState, respState: EndpointState, side: Side,
                 state: EndpointState, since: Timestamp, alertFiring: Bool, lastSeen: Timestamp) {
        self.identity = identity
        self.origState = origState
        self.respState = respState
        self.side = side
        self.state = state
        self.since = since
        self.alertFiring = alertFiring
        self.lastSeen = lastSeen
    }

    /// The endpoint stuck in `state`.
    package var endpoint: Endpoint { side == .orig ? identity.orig : identity.resp }
    package var peer: Endpoint { side == .orig ? identity.resp : identity.orig }
}
