/// An endpoint's RFC 9293 connection state as inferred at the capture point. Raw values are
/// the contract's spellings. The handshake states appear only for connections that never got
/// past their SYN (refused, unanswered, or still opening when the record is written); a
/// connection picked up mid-stream starts ESTABLISHED on both sides.
package enum EndpointState: String, Sendable, Hashable, CaseIterable, BitwiseCopyable {
    case synSent = "SYN_SENT"
    case synReceived = "SYN_RECEIVED"
    case established = "ESTABLISHED"
    case finWait1 = "FIN_WAIT_1"
    case finWait2 = "FIN_WAIT_2"
    case closeWait = "CLOSE_WAIT"
    case closing = "CLOSING"
    case lastAck = "LAST_ACK"
    case timeWait = "TIME_WAIT"
    case closed = "CLOSED"
}
