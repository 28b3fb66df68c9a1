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
/// Everything other threads ask of the output (counts, `readerGone`, reopen, close) goes
/// through the same queue or the status published after every batch. What is written, and how,
/// is the `EventSink`'s business.
final class EventStream: Sendable {
    static let maximumBatchesInFlight = 4

    let path: String
    private let queue = DispatchQueue(label: "finwatch.output")
    private let slots = DispatchSemaphore(value: EventStream.maximumBatchesInFlight)
    /// Used on `queue` only; the Mutex is what lets the compiler check that (it is never contended).
    private let sink: Mutex<any EventSink>
    private let published: Mutex<Status>
    /// Live only: names the process behind the stuck side of each firing alert, here on the
    /// output's queue rather than the tracker's, so a slow /proc holds neither the table nor the
    /// capture (only the output, within ProcessLookup's bounds). Offline there is none.
    private let processLookup: ProcessLookup?
    /// Live: times leave the tracker's step-free frame here, as the wall clock reads them.
    private let clock: LiveClock?

    /// What other threads may read: the sink's counters as of the last batch written.
    typealias Status = EventSinkStatus

    /// Opens `path` (see `JSONLinesWriter`); fails on the caller's thread, before anything runs.
    convenience init(path: String, processLookup: ProcessLookup? = nil, clock: LiveClock? = nil) throws(FinwatchError) {
        self.init(sink: try JSONLinesWriter(path: path), processLookup: processLookup, clock: clock)
    }

    init(sink: sending any EventSink, processLookup: ProcessLookup? = nil, clock: LiveClock? = nil) {
        self.clock = clock
        path = sink.destination
        self.sink = Mutex(sink)
        published = Mutex(Status())
        self.processLookup = processLookup
    }

    /// Queues `events` for writing, in order after everything queued before.
    func submit(_ events: [Event]) {
        guard !events.isEmpty else { return }
        slots.wait()
        queue.async { [self] in
            let events = named(events)
            let shift = clock?.wallShift ?? 0
            run { sink in
                if shift == 0 {
                    for index in events.indices { sink.write(events[index]) }
                } else {
                    for index in events.indices { sink.write(events[index].shiftingTimes(by: shift)) }
                }
            }
            slots.signal()
        }
    }

    /// Queues the event `make` builds from the sink's counts at that point of the stream (a
    /// `stats` event's `events_written` counts exactly the lines before it). Returns at once.
    func submit(_ make: @escaping @Sendable (Status) -> Event) {
        queue.async { [self] in
            let shift = clock?.wallShift ?? 0
            run { sink in sink.write(make(sink.status).shiftingTimes(by: shift)) }
        }
    }

    /// Firing alerts get their process: all of a batch's from one view of /proc, taken at most
    /// about once a second (ProcessLookup's bounds), so an alert storm costs one walk.
    private func named(_ events: [Event]) -> [Event] {
        guard let processLookup else { return events }
        var firing: [(index: Int, query: ProcessLookup.Query)] = []
        for index in events.indices {
            if case .alert(let alert) = events[index], alert.status == .firing {
                firing.append((index, ProcessLookup.query(for: alert)))
            }
        }
        guard !firing.isEmpty else { return events }
        var events = events
        let found = processLookup.processes(for: firing.map(\.query))
        for (alertIndex, process) in zip(firing.map(\.index), found) {
            guard case .alert(var alert) = events[alertIndex] else { continue }
            alert.process = process
            events[alertIndex] = .alert(alert)
        }
        return events
    }

    /// Writes out what is buffered when a second has passed since the last flush.
    func flushIfDue() { queue.async { [self] in run { $0.flush(force: false) } } }

    /// Returns once everything queued so far is encoded and handed to the writer (its counts are
    /// then exact: the `stop` event's `events_written` must be).
    func waitUntilWritten() { queue.sync {} }

    /// SIGHUP: what is queued goes to the old file, then the path is opened afresh.
    func reopen() throws(FinwatchError) {
        let failure: FinwatchError? = queue.sync {
            var failure: FinwatchError?
            run { sink in
                do throws(FinwatchError) { try sink.reopen() } catch { failure = error }
            }
            return failure
        }
        if let failure { throw failure }
    }

    /// Writes everything queued, flushes and closes the file.
    func close() { queue.sync { run { $0.close() } } }

    var status: Status { published.withLock { $0 } }
    var readerGone: Bool { published.withLock { $0.readerGone } }

    /// One step on the output's queue, then the sink's counters republished for other threads.
    private func run(_ body: (any EventSink) -> Void) {
        let status = sink.withLock { sink in
            body(sink)
            return sink.status
        }
        published.withLock { $0 = status }
    }
}
