/// What exists only once a teardown has begun: phase times, who closed and reset. Kept apart
/// from the connection record, in the table's `TeardownStore`, so the record stays small for the
/// open connections that have none. Plain data: its close sequence and FIN intervals (arrays)
/// live beside it in the store, so reading or copying a teardown touches no reference count.
struct Teardown {
    // Ordered so the value packs (88 bytes, and 24 in the store for its arrays): one exists per
    // connection closing at once, and a flood of FINs makes every tracked connection one.
    /// The first FIN or RST: the zero of the close sequence's `ms`.
    var start: Timestamp
    /// When each side entered its current state (for durations, alerts and snapshots).
    var stateSince: InlineArray<2, Timestamp>
    // Per side, indexed by `Side.index`.
    var finTime = OptionalTimePair()
    var finAckedTime = OptionalTimePair()
    var lastFINCopy = OptionalTimePair()
    var resetTime: Timestamp?
    var firstFINSide: Side?
    /// Who sent the RST that ended the connection, and from which state: needed only for the
    /// record, which an RST writes at once, so they live here rather than in every record.
    var resetBy: Side?
    var resetState: EndpointState?
    var stepsTruncated = false
    var crossed = false

    static let maxSteps = 32
    static let maxIntervals = 15

    init(start: Timestamp, since: Timestamp) {
        self.start = start
        stateSince = InlineArray(repeating: since)
    }

    /// The side whose FIN was copied last, and when: the one a residue still waits on.
    var latestFINCopy: (side: Side, time: Timestamp)? {
        switch (lastFINCopy[0], lastFINCopy[1]) {
        case let (orig?, resp?): resp > orig ? (.resp, resp) : (.orig, orig)
        case let (orig?, nil): (.orig, orig)
        case let (nil, resp?): (.resp, resp)
        case (nil, nil): nil
        }
    }
}

/// The teardowns of the connections closing now, numbered from 1 (0 in a record means none).
/// A number is freed when its connection's record is written and handed to the next teardown,
/// so the store holds as many teardowns as connections are closing at once, not one per
/// connection ever seen.
struct TeardownStore: ~Copyable {
    private var teardowns: [Teardown] = []
    /// Each teardown's close sequence, by number − 1.
    private var steps: [[SequenceStep]] = []
    /// Intervals between successive FIN copies (the back-off evidence), ns, at most 15 per side:
    /// by 2 × (number − 1) + `Side.index`. Empty but for FINs sent again.
    private var intervals: [[Int64]] = []
    private var freeNumbers: [UInt32] = []

    init() {}

    /// Address space for `count` teardowns up front (pages are touched only as they are used):
    /// grown by doubling instead, the old and the new array would both be resident while one
    /// is copied into the other, when the table is fullest.
    mutating func reserve(_ count: Int) {
        teardowns.reserveCapacity(count)
        steps.reserveCapacity(count)
        intervals.reserveCapacity(2 * count)
    }

    /// A new teardown starting at `start`, both sides in their state since `since`; its number.
    mutating func make(start: Timestamp, since: Timestamp) -> UInt32 {
        if let number = freeNumbers.popLast() {
            let index = Int(number) - 1
            teardowns[index] = Teardown(start: start, since: since)
            // The buffer is kept for the next close sequence: a new one is allocated only while
            // the record written last still holds it.
            steps[index].removeAll(keepingCapacity: true)
            return number
        }
        teardowns.append(Teardown(start: start, since: since))
        // A four-way close is 4 steps (3 with the FIN on the ACK); a longer one grows once or
        // twice. Room for 8 cost 64 B more on every connection closing at once.
        var sequence: [SequenceStep] = []
        sequence.reserveCapacity(4)
        steps.append(sequence)
        intervals.append([])
        intervals.append([])
        return UInt32(teardowns.count)
    }

    /// Frees `number` for the next teardown. Its steps stay until then: the record written last
    /// shares their buffer, and the next teardown reuses it once that record is gone.
    mutating func release(_ number: UInt32) {
        guard number != 0 else { return }
        let index = 2 * (Int(number) - 1)
        if !intervals[index].isEmpty { intervals[index] = [] }
        if !intervals[index + 1].isEmpty { intervals[index + 1] = [] }
        freeNumbers.append(number)
    }

    subscript(number: UInt32) -> Teardown {
        get { teardowns[Int(number) - 1] }
        _modify { yield &teardowns[Int(number) - 1] }
    }

    /// The close sequence of teardown `number`.
    func steps(_ number: UInt32) -> [SequenceStep] { steps[Int(number) - 1] }

    /// Whether the close sequence of teardown `number` has begun.
    func hasSteps(_ number: UInt32) -> Bool { !steps[Int(number) - 1].isEmpty }

    /// One more step of the close sequence, or the mark that it was cut at `Teardown.maxSteps`.
    mutating func append(_ step: SequenceStep, to number: UInt32) {
        let index = Int(number) - 1
        if steps[index].count < Teardown.maxSteps { steps[index].append(step) } else { teardowns[index].stepsTruncated = true }
    }

    /// The intervals between `side`'s FIN copies.
    func intervals(_ number: UInt32, _ side: Side) -> [Int64] { intervals[2 * (Int(number) - 1) + side.index] }

    /// One more interval between `side`'s FIN copies, while there is room.
    mutating func appendInterval(_ gap: Int64, to number: UInt32, _ side: Side) {
        let index = 2 * (Int(number) - 1) + side.index
        if intervals[index].count < Teardown.maxIntervals { intervals[index].append(gap) }
    }
}

/// An optional time in 8 bytes: `Int64.min` (never a capture's time) stands for none.
/// `Timestamp?` takes 16, the optional's tag byte padded to 8, in values held by the hundred thousand.
struct OptionalTime: BitwiseCopyable {
    private var nanoseconds: Int64

    init(_ time: Timestamp? = nil) { nanoseconds = time?.nanoseconds ?? .min }

    var time: Timestamp? {
        get { nanoseconds == .min ? nil : Timestamp(nanoseconds: nanoseconds) }
        set { nanoseconds = newValue?.nanoseconds ?? .min }
    }
}

/// Two optional times, one per side, in 16 bytes (`InlineArray<2, Timestamp?>` took 32).
struct OptionalTimePair {
    private var times = InlineArray<2, OptionalTime>(repeating: OptionalTime())

    subscript(index: Int) -> Timestamp? {
        get { times[index].time }
        set { times[index].time = newValue }
    }
}
