/// How a connection ended: the contract's `close` field.
package enum CloseKind: String, Sendable, Hashable, CaseIterable {
    /// Both sides sent FIN and each FIN was acknowledged, no RST.
    case normal
    /// The FINs crossed: each side sent FIN before acknowledging the other's.
    case simultaneous
    /// An RST ended it before any FIN.
    case reset
    /// An RST ended it after at least one FIN.
    case resetAfterFIN = "reset_after_fin"
    /// One side's FIN only, by end of input, shutdown or eviction.
    case halfClosed = "half_closed"
    /// No FIN or RST, by end of input, shutdown or eviction.
    case unterminated
    /// SYN answered by RST.
    case refused
    /// SYN never answered.
    case noAnswer = "no_answer"
}

/// Who closed first: the contract's `active_closer` (`null` when nobody sent FIN).
package enum ActiveCloser: String, Sendable, Hashable, CaseIterable {
    case orig, resp, both
}

/// Why a record was written before the connection ended on the wire: the contract's `ended_by`.
package enum EndedBy: String, Sendable, Hashable, CaseIterable {
    /// The capture file ended.
    case endOfInput = "end_of_input"
    /// finwatch was stopped (SIGTERM, SIGINT).
    case shutdown
    /// The table was full and this connection mattered least.
    case eviction
    /// Nothing seen on it for its phase's idle timeout.
    case idleTimeout = "idle_timeout"
    /// A new SYN on a 4-tuple still tracked as open: the old connection ended unseen.
    case reused
}

/// Why a run ended: the `stop` event's `reason`.
package enum StopReason: String, Sendable, Hashable, CaseIterable {
    /// The capture file was read to its end.
    case endOfInput = "end_of_input"
    /// SIGTERM or SIGINT.
    case signal
    /// The reader of the output went away (standard output closed).
    case outputClosed = "output_closed"
    /// The capture failed.
    case error
}

/// Where frames came from: the `start` event's `source_kind`.
package enum SourceKind: String, Sendable, Hashable, CaseIterable {
    case interface, file
}
