/// An endpoint's RFC 9293 connection state as inferred at the capture point. Raw values are
/// the contract's spellings. Handshake states collapse into `established` for teardown
/// purposes: finwatch reports how connections end, not how they start.
package enum EndpointState: String, Sendable, Hashable, CaseIterable {
    case established = "ESTABLISHED"
    case finWait1 = "FIN_WAIT_1"
    case finWait2 = "FIN_WAIT_2"
    case closeWait = "CLOSE_WAIT"
    case closing = "CLOSING"
    case lastAck = "LAST_ACK"
    case timeWait = "TIME_WAIT"
    case closed = "CLOSED"
}
