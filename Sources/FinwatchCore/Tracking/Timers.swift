/// What a timer entry stands for: each kind is one FIFO queue with one fixed duration.
enum TimerKind: Int, CaseIterable {
    /// A side in CLOSE_WAIT, FIN_WAIT_2 or LAST_ACK past its alert threshold.
    case closeWait, finWait2, lastAck
    /// A residue's end: TIME_WAIT over, or the hold after an RST.
    case residue
    /// Idle timeouts by the record's phase; also the eviction order (oldest activity first).
    case opening, open, tearingDown

    init(_ alert: AlertKind) {
        switch alert {
        case .closeWaitLingering: self = .closeWait
        case .finWait2Lingering: self = .finWait2
        case .lastAckLingering: self = .lastAck
        }
    }

    init(idle phase: RecordPhase) {
        switch phase {
        case .opening: self = .opening
        case .open: self = .open
        case .tearingDown: self = .tearingDown
        }
    }
}

/// Every timer of the table, one queue per `TimerKind`, and the earliest deadline of them all,
/// so the clock's `advance` is one comparison until something is due.
struct Timers: ~Copyable {
    private var queues = InlineArray<7, TimerQueue> { _ in TimerQueue() }
    /// The earliest deadline at any queue's head (or earlier: a popped head leaves it until
    /// `recomputeNextDue`).
    private(set) var nextDue: Int64 = .max

    @inline(__always)
    func first(_ kind: TimerKind) -> TimerQueue.Entry? { queues[kind.rawValue].first }

    @discardableResult
    mutating func popFirst(_ kind: TimerKind) -> TimerQueue.Entry? { queues[kind.rawValue].popFirst() }

    /// Queues `entry`; returns how many entries that kind now holds, stale ones included.
    @discardableResult
    mutating func push(_ entry: TimerQueue.Entry, _ kind: TimerKind) -> Int {
        queues[kind.rawValue].push(entry)
        nextDue = min(nextDue, entry.deadline)
        return queues[kind.rawValue].count
    }

    /// Entries waiting in `kind`'s queue, stale ones included.
    @inline(__always)
    func count(_ kind: TimerKind) -> Int { queues[kind.rawValue].count }

    /// Drops the entries of `kind` that `isCurrent` rejects.
    mutating func compact(_ kind: TimerKind, keeping isCurrent: (TimerQueue.Entry) -> Bool) {
        queues[kind.rawValue].compact(keeping: isCurrent)
        recomputeNextDue()
    }

    mutating func recomputeNextDue() {
        var due = Int64.max
        for index in queues.indices { if let head = queues[index].first { due = min(due, head.deadline) } }
        nextDue = due
    }
}
