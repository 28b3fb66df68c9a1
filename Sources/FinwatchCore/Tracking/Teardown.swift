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

    /// The first step of the close sequence: the first FIN or RST, at offset 0.
    mutating func beginSteps(from side: Side, flags: TCPFlags) {
        _ = steps.append(SequenceStep(from: side, flags: flags, offset: 0))
    }

    /// A later segment's step, kept inline while there is room; returned when there is not,
    /// for the store to keep (`TeardownStore.appendPastInline`).
    @inline(__always)
    mutating func step(from side: Side, flags: TCPFlags, at time: Timestamp) -> SequenceStep? {
        let step = SequenceStep(from: side, flags: flags, offset: time.nanoseconds(since: start))
        return steps.append(step) ? nil : step
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
