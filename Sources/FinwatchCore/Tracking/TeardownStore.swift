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
    /// What a connection without a teardown is lent: its first FIN or RST overwrites it whole
    /// (`Connection.beginTeardown`), and nothing reads it before that.
    private var unbegun = Teardown(start: Timestamp(nanoseconds: 0), since: Timestamp(nanoseconds: 0))

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
        _read { yield teardowns[Int(number) - 1] }
        _modify { yield &teardowns[Int(number) - 1] }
    }

    /// The close sequence of teardown `number`.
    func steps(_ number: UInt32) -> CloseSequence {
        let teardown = teardowns[Int(number) - 1]
        return CloseSequence(head: teardown.steps, tail: teardown.spill == 0 ? [] : spills[Int(teardown.spill) - 1].steps)
    }

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

    // MARK: - Lending

    /// Runs `transitions` on `connection` with its teardown lent: its own, or a fresh one that is
    /// kept here if the segment began a teardown. The transitions never see the store; what a
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
            receipt = transitions(&connection, &unbegun, &events)
            guard connection.phase == .tearingDown else { return receipt }
            number = keep(unbegun)
            connection.teardownNumber = number
        }
        if let step = receipt.overflow.step { append(step, to: number) }
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
