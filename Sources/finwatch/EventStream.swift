import Dispatch
import FinwatchCore
import Synchronization

/// The pipeline's last stage: JSON encoding and write(2) on the output's own queue.
///
/// Encoding a close record costs as much as tracking all of its connection's packets, and a
/// write to a slow disk or pipe can block; on the capture thread either would stall libpcap's
/// ring (drops, live) or halve the read rate (offline). The tracker hands over the events of one
/// capture batch at a time (never one per packet: STYLE §7) and goes on; batches are encoded and
/// written in the order they came, so the output is byte for byte what one thread would write.
///
/// At most `maximumBatchesInFlight` batches wait: past that the tracker waits too, so a reader
/// that stops reading bounds memory here as well as in the writer's own 8 MiB cap. A batch is
/// what one capture batch caused: up to 4,096 close records in a flood (about 1.6 MB), so four.
/// Everything the capture thread asks of the output (counts, `readerGone`, reopen, close) goes
/// through the same queue or the status the writer thread publishes after every batch.
final class EventStream: Sendable {
    static let maximumBatchesInFlight = 4

    let path: String
    private let queue = DispatchQueue(label: "finwatch.output")
    private let slots = DispatchSemaphore(value: EventStream.maximumBatchesInFlight)
    /// Used on `queue` only; the Mutex is what lets the compiler check that (it is never contended).
    private let writer: Mutex<JSONLinesWriter>
    private let published: Mutex<Status>

    /// What the capture thread may read: the writer's counters as of the last batch written.
    struct Status {
        var eventsWritten: UInt64 = 0
        var writeErrors: UInt64 = 0
        var linesDropped: UInt64 = 0
        var lastErrorText: String?
        var pendingByteCount = 0
        var readerGone = false
    }

    /// Opens `path` (see `JSONLinesWriter`); fails on the caller's thread, before anything runs.
    init(path: String) throws(FinwatchError) {
        self.path = path
        writer = Mutex(try JSONLinesWriter(path: path))
        published = Mutex(Status())
    }

    /// Queues `events` for writing, in order after everything queued before.
    func submit(_ events: [Event]) {
        guard !events.isEmpty else { return }
        slots.wait()
        queue.async { [self] in
            run { writer in for index in events.indices { writer.write(events[index]) } }
            slots.signal()
        }
    }

    /// Writes out what is buffered when a second has passed since the last flush.
    func flushIfDue() { queue.async { [self] in run { $0.flushIfDue() } } }

    /// Returns once everything queued so far is encoded and handed to the writer (its counts are
    /// then exact: the `stop` event's `events_written` must be).
    func waitUntilWritten() { queue.sync {} }

    /// SIGHUP: what is queued goes to the old file, then the path is opened afresh.
    func reopen() throws(FinwatchError) {
        let failure: FinwatchError? = queue.sync {
            var failure: FinwatchError?
            run { writer in
                do throws(FinwatchError) { try writer.reopen() } catch { failure = error }
            }
            return failure
        }
        if let failure { throw failure }
    }

    /// Writes everything queued, flushes and closes the file.
    func close() { queue.sync { run { $0.close() } } }

    var status: Status { published.withLock { $0 } }
    var readerGone: Bool { published.withLock { $0.readerGone } }

    /// One step on the writer thread, then its counters republished for the capture thread.
    private func run(_ body: (JSONLinesWriter) -> Void) {
        let status = writer.withLock { writer in
            body(writer)
            return Status(eventsWritten: writer.eventsWritten, writeErrors: writer.writeErrors,
                          linesDropped: writer.linesDropped, lastErrorText: writer.lastErrorText,
                          pendingByteCount: writer.pendingByteCount, readerGone: writer.readerGone)
        }
        published.withLock { $0 = status }
    }
}
