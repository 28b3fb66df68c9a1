/// What exists only once a teardown has begun: phase times, FIN retransmission intervals and
/// the close sequence. Kept apart from the connection record, in the table's `TeardownStore`,
/// so the record stays small for the open connections that have none, and plain data.
struct Teardown {
    // Ordered so the value packs (112 bytes): one exists per connection closing at once, and a
    // flood of FINs makes every tracked connection one.
    /// The first FIN or RST: the zero of the close sequence's `ms`.
    var start: Timestamp
    /// When each side entered its current state (for durations, alerts and snapshots).
    var stateSince: InlineArray<2, Timestamp>
    // Per side, indexed by `Side.index`.
    var finTime = OptionalTimePair()
    var finAckedTime = OptionalTimePair()
    var lastFINCopy = OptionalTimePair()
    /// Intervals between successive FIN copies per side, ns (the back-off evidence), at most 15.
    var finIntervals = InlineArray<2, [Int64]>(repeating: [])
    var steps: [SequenceStep] = []
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

    mutating func append(_ step: SequenceStep) {
        if steps.count < Teardown.maxSteps { steps.append(step) } else { stepsTruncated = true }
    }
}

/// The teardowns of the connections closing now, numbered from 1 (0 in a record means none).
/// A number is freed when its connection's record is written and handed to the next teardown,
/// so the store holds as many teardowns as connections are closing at once, not one per
/// connection ever seen.
struct TeardownStore: ~Copyable {
    private var teardowns: [Teardown] = []
    private var freeNumbers: [UInt32] = []

    init() {}

    /// Address space for `count` teardowns up front (pages are touched only as they are used):
    /// grown by doubling instead, the old and the new array would both be resident while one
    /// is copied into the other, when the table is fullest.
    mutating func reserve(_ count: Int) { teardowns.reserveCapacity(count) }

    /// A new teardown starting at `start`, both sides in their state since `since`; its number.
    mutating func make(start: Timestamp, since: Timestamp) -> UInt32 {
        var teardown = Teardown(start: start, since: since)
        // A four-way close is 4 steps (3 with the FIN on the ACK); a longer one grows once or
        // twice. Room for 8 cost 64 B more on every connection closing at once.
        teardown.steps.reserveCapacity(4)
        if let number = freeNumbers.popLast() {
            teardowns[Int(number) - 1] = teardown
            return number
        }
        teardowns.append(teardown)
        return UInt32(teardowns.count)
    }

    /// Frees `number` for the next teardown (its arrays go with it).
    mutating func release(_ number: UInt32) {
        guard number != 0 else { return }
        teardowns[Int(number) - 1].steps = []
        teardowns[Int(number) - 1].finIntervals = InlineArray(repeating: [])
        freeNumbers.append(number)
    }

    subscript(number: UInt32) -> Teardown {
        get { teardowns[Int(number) - 1] }
        _modify { yield &teardowns[Int(number) - 1] }
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
