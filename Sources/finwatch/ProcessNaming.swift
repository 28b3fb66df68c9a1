import Dispatch
import FinwatchCore
import Synchronization

/// Names the processes behind the half-closed rows for `/connections` and `status`, on a queue
/// of its own: a /proc walk can take a quarter of a second on a busy host (and longer when procfs
/// itself is slow), and neither the capture, the tracker nor an HTTP request may wait for it.
/// Asked at most once per housekeeping tick; a request while one is still running is dropped
/// (the next tick asks again with a fresher snapshot), so slow naming never piles up work.
final class ProcessNaming: Sendable {
    /// How often the half-closed rows are matched to processes.
    static let refreshInterval: Int64 = 1_000_000_000
    /// A row already looked up and not found (not a local socket, no permission) is tried again
    /// this rarely, so a host full of remote CLOSE_WAITs does not rescan /proc every second.
    static let retryInterval: Int64 = 10_000_000_000

    private let lookup: ProcessLookup
    private let queue = DispatchQueue(label: "finwatch.process")
    /// Touched on `queue` only; the Mutex lets the compiler check that (never contended).
    private let state = Mutex(ProcessNames())
    private let busy = BusyFlag()
    private let published = Mutex<[String: ProcessInfo]>([:])
    /// HTTP requests' own lookups, apart from the refresh, one at a time.
    private let requestQueue = DispatchQueue(label: "finwatch.process.request")
    private let requestBusy = BusyFlag()
    /// Rows an HTTP request's lookup did not find, with when to try them again.
    private let misses = Mutex<[String: Int64]>([:])

    init(lookup: ProcessLookup) { self.lookup = lookup }

    /// The names found so far, keyed like `LiveState.Published.processes`. Never waits on /proc.
    var names: [String: ProcessInfo] { published.withLock { $0 } }

    /// Names `rows` now for an HTTP request, waiting at most `limit`: a slow /proc (or a walk of
    /// the background refresh holding the lookup) answers the request without names, never late.
    /// One such lookup at a time; a request meeting one still running gets no names. What a
    /// lookup finds after its request was answered is kept in `names` for the next request.
    func namesNow(for rows: [ConnectionSnapshot], limit: Duration) async -> [String: ProcessInfo] {
        // Rows looked up lately and not found (remote sockets, orphans) are not asked again before
        // `retryInterval`: a request full of them answers at once instead of waiting every time.
        let now = MonotonicClock.nanoseconds()
        let rows = misses.withLock { misses in
            rows.filter { misses[LiveState.processKey(uid: $0.identity.uid, side: $0.side)].map { now >= $0 } ?? true }
        }
        guard !rows.isEmpty, requestBusy.take() else { return [:] }
        let answered = BusyFlag()   // taken by whichever comes first: the names or the limit
        let lookup = lookup
        return await withCheckedContinuation { (continuation: CheckedContinuation<[String: ProcessInfo], Never>) in
            requestQueue.async { [self] in
                let names = lookup.processes(for: rows)
                // Found too late for that request, in time for the next.
                published.withLock { $0 = names }
                let retryAt = MonotonicClock.nanoseconds() + Self.retryInterval
                misses.withLock { misses in
                    if misses.count > 100_000 { misses.removeAll() }   // a bound, not an expected size
                    for row in rows {
                        let key = LiveState.processKey(uid: row.identity.uid, side: row.side)
                        if names[key] == nil { misses[key] = retryAt }
                    }
                }
                requestBusy.release()
                if answered.take() { continuation.resume(returning: names) }
            }
            let (seconds, attoseconds) = limit.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
                if answered.take() { continuation.resume(returning: [:]) }
            }
        }
    }

    /// Names the rows of `snapshot` in the background; returns at once.
    func refresh(_ snapshot: [ConnectionSnapshot]) {
        guard busy.take() else { return }
        queue.async { [self] in
            let names = state.withLock { names in
                names.refresh(snapshot, lookup: lookup, at: MonotonicClock.nanoseconds())
                return names.names
            }
            published.withLock { $0 = names }
            busy.release()
        }
    }
}

/// One piece of work at a time: `take()` says whether the caller got it.
final class BusyFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func take() -> Bool { flag.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
    func release() { flag.store(false, ordering: .releasing) }
}

/// The processes behind the half-closed rows, kept between ticks: a row named once keeps its
/// name until it leaves the snapshot (a socket does not change owner while stuck), so /proc is
/// scanned for new rows only, at most once per `ProcessNaming.refreshInterval`.
struct ProcessNames {
    private(set) var names: [String: ProcessInfo] = [:]
    /// Rows looked up and not found, with when to try again.
    private var retryAt: [String: Int64] = [:]
    private var nextRefresh: Int64 = 0

    mutating func refresh(_ snapshot: [ConnectionSnapshot], lookup: ProcessLookup, at now: Int64) {
        guard now >= nextRefresh else { return }
        nextRefresh = now + ProcessNaming.refreshInterval
        guard !snapshot.isEmpty else {
            names.removeAll()
            retryAt.removeAll()
            return
        }
        let keys = Set(snapshot.map { LiveState.processKey(uid: $0.identity.uid, side: $0.side) })
        names = names.filter { keys.contains($0.key) }
        retryAt = retryAt.filter { keys.contains($0.key) }
        let wanted = snapshot.filter { row in
            let key = LiveState.processKey(uid: row.identity.uid, side: row.side)
            return names[key] == nil && (retryAt[key].map { now >= $0 } ?? true)
        }
        guard !wanted.isEmpty else { return }
        let found = lookup.processes(for: wanted)
        for row in wanted {
            let key = LiveState.processKey(uid: row.identity.uid, side: row.side)
            if let process = found[key] {
                names[key] = process
                retryAt[key] = nil
            } else {
                retryAt[key] = now + ProcessNaming.retryInterval
            }
        }
    }
}

