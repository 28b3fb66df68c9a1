import FinwatchCore

/// Where events end up: the output stage's one seam. `EventStream` runs a sink on its own queue,
/// one call at a time, so a conformer needs no locking of its own. The JSON-lines file or
/// standard output (`JSONLinesWriter`) is one; another destination (a socket, Kafka) is one more
/// conformer and its flags, nothing else in the pipeline changes.
protocol EventSink: AnyObject {
    /// Where the events go, for the operator's messages (a path, "-", an address).
    var destination: String { get }
    /// Takes one event; may buffer it.
    func write(_ event: Event)
    /// Hands everything buffered on now (`force`), or only when the sink's own interval passed.
    func flush(force: Bool)
    /// Lets go of the destination and takes it afresh (SIGHUP after logrotate). Failing keeps
    /// the old one: no event is lost.
    func reopen() throws(FinwatchError)
    /// Hands everything on and lets the destination go.
    func close()
    /// The counts a `stats` or `stop` event carries, and what an operator is told about failures.
    var status: EventSinkStatus { get }
}

/// What a sink reports about itself, copied out after every batch for other threads to read.
struct EventSinkStatus: Sendable, Equatable {
    var eventsWritten: UInt64 = 0
    var writeErrors: UInt64 = 0
    var linesDropped: UInt64 = 0
    var lastErrorText: String?
    var pendingByteCount = 0
    /// The reader went away (standard output's pipe closed): nothing more can be written.
    var readerGone = false
}

extension JSONLinesWriter: EventSink {
    var destination: String { path }

    func flush(force: Bool) { if force { flush() } else { flushIfDue() } }

    var status: EventSinkStatus {
        EventSinkStatus(eventsWritten: eventsWritten, writeErrors: writeErrors, linesDropped: linesDropped,
                        lastErrorText: lastErrorText, pendingByteCount: pendingByteCount, readerGone: readerGone)
    }
}
