/// The teardowns of the connections closing now, numbered from 1 (0 in a record means none).
/// A number is freed when its connection's record is written and handed to the next teardown,
/// so the store holds as many teardowns as connections are closing at once, not one per
/// connection ever seen.
struct TeardownStore: ~Copyable {
    private var teardowns: Arena<Teardown>
    /// What a long or retransmitted close keeps beyond its `Teardown`, by `Teardown.spill`.
    private var spills: Arena<Spill>
    private var freeNumbers = Arena<UInt32>()
    private var freeSpills = Arena<UInt32>()
    /// What a connection without a teardown is lent. It still holds the last teardown kept
    /// (stale, not zeros): a connection's first FIN or RST overwrites it whole
    /// (`Connection.beginTeardown`), and the transitions read a teardown only once the phase
    /// says one began (every FIN row and every closing RST row of the machine begins one).
    private var unbegun = Teardown(start: Timestamp(nanoseconds: 0), since: Timestamp(nanoseconds: 0))

    /// Plain data in fixed room, like the teardown: a step or an interval is a store into it,
    /// not an append to an array inside an array (a uniqueness check on each, and a release of
    /// both when the teardown ends).
    struct Spill: BitwiseCopyable {
        /// The close sequence's steps past the inline ones (`SequenceStep.packed`); how many is
        /// the teardown's step count less `CloseSequence.inlineCapacity`.
        var steps = InlineArray<28, UInt64>(repeating: 0)
        /// Intervals between successive FIN copies (the back-off evidence), ns: orig's from 0,
        /// resp's from `Teardown.maxIntervals`.
        var intervals = InlineArray<30, Int64>(repeating: 0)
        /// How many intervals each side has, by `Side.index`.
        var intervalCounts = InlineArray<2, UInt8>(repeating: 0)

        static var stepCapacity: Int { InlineArray<28, UInt64>.count }
        static var intervalCapacity: Int { InlineArray<30, Int64>.count / 2 }
    }

    /// Address space for `count` teardowns up front (pages are touched only as they are used):
    /// grown by doubling instead, the old and the new block would both be resident while one
    /// is copied into the other, when the table is fullest. Spills, four times a teardown's
    /// size and rare (a close past four steps, a FIN sent again), get a sixteenth of that
    /// room up front and grow by doubling past it.
    init(reserving count: Int = 16) {
        teardowns = Arena(reserving: count)
        spills = Arena(reserving: count / 16)
    }

    /// Keeps `teardown`, begun by a connection's first FIN or RST; its number.
    private mutating func keep(_ teardown: Teardown) -> UInt32 {
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
        if spill != 0 { freeSpills.append(spill) }
        freeNumbers.append(number)
    }

    /// The index of teardown `number`'s spill, made on first use.
    private mutating func spillIndex(_ number: UInt32) -> Int {
        let index = Int(number) - 1
        if teardowns[index].spill == 0 {
            if let free = freeSpills.popLast() {
                teardowns[index].spill = free
                spills[Int(free) - 1].intervalCounts = InlineArray(repeating: 0)   // the steps count is the teardown's
            } else {
                spills.append(Spill())
                teardowns[index].spill = UInt32(spills.count)
            }
        }
        return Int(teardowns[index].spill) - 1
    }

    subscript(number: UInt32) -> Teardown {
        _read { yield teardowns[Int(number) - 1] }
        _modify { yield &teardowns[Int(number) - 1] }
    }

    /// The close sequence of teardown `number`.
    func steps(_ number: UInt32) -> CloseSequence {
        let teardown = teardowns[Int(number) - 1]
        let spilled = Int(teardown.steps.count) - CloseSequence.inlineCapacity
        guard teardown.spill != 0, spilled > 0 else { return CloseSequence(head: teardown.steps, tail: []) }
        let spill = Int(teardown.spill) - 1
        return CloseSequence(head: teardown.steps, tail: (0..<spilled).map { SequenceStep(packed: spills[spill].steps[$0]) })
    }

    /// A step past the inline ones (`Teardown.step` returned it: the inline room is taken), or
    /// the mark that the sequence was cut at `Teardown.maxSteps`.
    mutating func appendPastInline(_ step: SequenceStep, to number: UInt32) {
        let index = Int(number) - 1
        let count = Int(teardowns[index].steps.count)
        if count < Teardown.maxSteps {
            spills[spillIndex(number)].steps[count - CloseSequence.inlineCapacity] = step.packed
            teardowns[index].steps.count &+= 1
        } else {
            teardowns[index].stepsTruncated = true
        }
    }

    /// The intervals between `side`'s FIN copies.
    func intervals(_ number: UInt32, _ side: Side) -> [Int64] {
        let spill = Int(teardowns[Int(number) - 1].spill) - 1
        guard spill >= 0 else { return [] }
        let first = side.index * Teardown.maxIntervals
        return (0..<Int(spills[spill].intervalCounts[side.index])).map { spills[spill].intervals[first + $0] }
    }

    /// One more interval between `side`'s FIN copies, while there is room.
    mutating func appendInterval(_ gap: Int64, to number: UInt32, _ side: Side) {
        let spill = spillIndex(number)
        let count = Int(spills[spill].intervalCounts[side.index])
        guard count < Teardown.maxIntervals else { return }
        spills[spill].intervals[side.index * Teardown.maxIntervals + count] = gap
        spills[spill].intervalCounts[side.index] = UInt8(count + 1)
    }

    // MARK: - Lending

    /// Runs `transitions` on `connection` with its teardown lent: its own, or `unbegun`, kept
    /// here if the segment began a teardown. The transitions never see the store; what a
    /// segment leaves for it (a close-sequence step past the inline ones, a FIN sent again) is
    /// kept after they return.
    @inline(__always)
    mutating func lend(to connection: inout Connection, at time: Timestamp, into events: inout [Event],
                       _ transitions: (inout Connection, inout Teardown, inout [Event]) -> Receipt) -> Receipt {
        var number = connection.teardownNumber
        let receipt: Receipt
        if number != 0 {
            receipt = transitions(&connection, &teardowns[Int(number) - 1], &events)
        } else {
            assert(connection.phase != .tearingDown, "a teardown without its number")
            receipt = transitions(&connection, &unbegun, &events)
            guard connection.phase == .tearingDown else { return receipt }
            number = keep(unbegun)
            connection.teardownNumber = number
        }
        if let step = receipt.overflow.step { appendPastInline(step, to: number) }
        if let again = receipt.overflow.finRetransmit {
            noteFINRetransmit(again, of: connection, teardown: number, at: time, into: &events)
        }
        return receipt
    }

    /// A FIN sent again while the teardown is open: its interval kept with the teardown's rest,
    /// and the `fin_retransmit` anomaly listing every interval so far.
    private mutating func noteFINRetransmit(_ again: FINRetransmit, of connection: Connection, teardown number: UInt32,
                                            at time: Timestamp, into events: inout [Event]) {
        let side = again.side
        if let gap = again.interval { appendInterval(gap, to: number, side) }
        events.append(.anomaly(AnomalyEvent(
            time: time, identity: connection.identity, anomaly: .finRetransmit, side: side,
            count: Int(connection[side].finRetransmits), interval: again.interval,
            intervals: intervals(number, side), state: connection[side].state)))
    }
}
