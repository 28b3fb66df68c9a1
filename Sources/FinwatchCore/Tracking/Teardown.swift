/// What exists only once a teardown has begun: phase times, who closed and reset, the close
/// sequence's first steps. Kept apart from the connection record, in the table's
/// `TeardownStore`, so the record stays small for the open connections that have none. Plain
/// data, 112 bytes: the rare rest (steps past the fourth, FIN intervals) lives in the store.
struct Teardown {
    // Ordered so the value packs: one exists per connection closing at once, and a flood of
    // FINs makes every tracked connection one.
    /// The first FIN or RST: the zero of the close sequence's `ms`.
    var start: Timestamp
    /// When each side entered its current state (for durations, alerts and snapshots).
    var stateSince: InlineArray<2, Timestamp>
    // Per side, indexed by `Side.index`.
    var finTime = OptionalTimePair()
    var finAckedTime = OptionalTimePair()
    var lastFINCopy = OptionalTimePair()
    /// The close sequence's first steps, inline: a four-way close allocates nothing.
    var steps = CloseSequence.Head()
    /// The state the RST that ended the connection was sent from. The RST's time is the
    /// record's own: an RST writes the record at once.
    var resetState: EndpointState?
    /// Six facts in one byte (accessors below).
    private var facts = PackedFlags()
    /// Where the store keeps the rest of this teardown (steps past the inline ones, FIN
    /// intervals), from 1; 0 for most, which have no rest.
    var spill: UInt32 = 0

    static let maxSteps = CloseSequence.capacity
    static let maxIntervals = 15

    init(start: Timestamp, since: Timestamp) {
        self.start = start
        stateSince = InlineArray(repeating: since)
    }

    /// The side whose FIN came first (either, when they crossed).
    var firstFINSide: Side? {
        get { facts[1] ? (facts[2] ? .resp : .orig) : nil }
        set { facts[1] = newValue != nil; facts[2] = newValue == .resp }
    }

    /// Who sent the RST that ended the connection.
    var resetBy: Side? {
        get { facts[4] ? (facts[8] ? .resp : .orig) : nil }
        set { facts[4] = newValue != nil; facts[8] = newValue == .resp }
    }

    var stepsTruncated: Bool { get { facts[16] } set { facts[16] = newValue } }
    var crossed: Bool { get { facts[32] } set { facts[32] = newValue } }

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
    private var teardowns: Arena<Teardown>
    /// What a long or retransmitted close keeps beyond its `Teardown`, by `Teardown.spill`.
    private var spills: [Spill] = []
    private var freeNumbers: [UInt32] = []
    private var freeSpills: [UInt32] = []

    private struct Spill {
        /// The close sequence's steps past `CloseSequence.inlineCapacity`.
        var steps: [SequenceStep] = []
        /// Intervals between successive FIN copies (the back-off evidence), ns, at most
        /// `Teardown.maxIntervals` per side, by `Side.index`.
        var intervals: [[Int64]] = [[], []]
    }

    /// Address space for `count` teardowns up front (pages are touched only as they are used):
    /// grown by doubling instead, the old and the new block would both be resident while one
    /// is copied into the other, when the table is fullest.
    init(reserving count: Int = 16) {
        teardowns = Arena(reserving: count)
    }

    /// A new teardown starting at `start`, both sides in their state since `since`; its number.
    mutating func make(start: Timestamp, since: Timestamp) -> UInt32 {
        let teardown = Teardown(start: start, since: since)
        if let number = freeNumbers.popLast() {
            teardowns[Int(number) - 1] = teardown
            return number
        }
        teardowns.append(teardown)
        return UInt32(teardowns.count)
    }

    /// Frees `number` for the next teardown.
    mutating func release(_ number: UInt32) {
        guard number != 0 else { return }
        let spill = teardowns[Int(number) - 1].spill
        if spill != 0 {
            spills[Int(spill) - 1] = Spill()
            freeSpills.append(spill)
        }
        freeNumbers.append(number)
    }

    /// The index of teardown `number`'s spill, made on first use.
    private mutating func spillIndex(_ number: UInt32) -> Int {
        let index = Int(number) - 1
        if teardowns[index].spill == 0 {
            if let free = freeSpills.popLast() {
                teardowns[index].spill = free
            } else {
                spills.append(Spill())
                teardowns[index].spill = UInt32(spills.count)
            }
        }
        return Int(teardowns[index].spill) - 1
    }

    subscript(number: UInt32) -> Teardown {
        get { teardowns[Int(number) - 1] }
        _modify { yield &teardowns[Int(number) - 1] }
    }

    /// The close sequence of teardown `number`.
    func steps(_ number: UInt32) -> CloseSequence {
        let teardown = teardowns[Int(number) - 1]
        return CloseSequence(head: teardown.steps, tail: teardown.spill == 0 ? [] : spills[Int(teardown.spill) - 1].steps)
    }

    /// Whether the close sequence of teardown `number` has begun.
    func hasSteps(_ number: UInt32) -> Bool { teardowns[Int(number) - 1].steps.count != 0 }

    /// One more step of the close sequence, or the mark that it was cut at `Teardown.maxSteps`.
    mutating func append(_ step: SequenceStep, to number: UInt32) {
        let index = Int(number) - 1
        if teardowns[index].steps.append(step) { return }
        if teardowns[index].steps.count < Teardown.maxSteps {
            spills[spillIndex(number)].steps.append(step)
            teardowns[index].steps.count &+= 1
        } else {
            teardowns[index].stepsTruncated = true
        }
    }

    /// The intervals between `side`'s FIN copies.
    func intervals(_ number: UInt32, _ side: Side) -> [Int64] {
        let spill = teardowns[Int(number) - 1].spill
        return spill == 0 ? [] : spills[Int(spill) - 1].intervals[side.index]
    }

    /// One more interval between `side`'s FIN copies, while there is room.
    mutating func appendInterval(_ gap: Int64, to number: UInt32, _ side: Side) {
        let spill = spillIndex(number)
        if spills[spill].intervals[side.index].count < Teardown.maxIntervals { spills[spill].intervals[side.index].append(gap) }
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
