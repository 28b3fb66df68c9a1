/// A FIFO of deadlines for one kind of timer. Each kind has one fixed duration, so deadlines
/// are pushed in (nearly) increasing order and the earliest is always at the head: push and pop
/// are O(1) whatever the number of connections. Entries are never removed early; a stale one
/// (slot reused, state left) is recognised by its generation when it reaches the head.
struct TimerQueue {
    /// 16 bytes: the side rides in the low bit of the generation tag.
    struct Entry {
        var deadline: Int64
        var slot: UInt32
        private var tag: UInt32

        init(deadline: Int64, slot: UInt32, generation: UInt32, side: Side) {
            self.deadline = deadline
            self.slot = slot
            tag = generation << 1 | (side == .orig ? 0 : 1)
        }

        var side: Side { tag & 1 == 0 ? .orig : .resp }

        /// Whether the slot still holds the connection this entry was made for.
        func matches(_ generation: UInt32) -> Bool { tag >> 1 == generation & 0x7FFF_FFFF }
    }

    /// Fixed-size blocks instead of one growing array: no doubling slack and no moment where
    /// an old and a new buffer both hold every entry (that peak was most of a timer's memory).
    private static let blockSize = 4096
    private var blocks: [[Entry]] = []
    /// Index of the first live block, and of the next entry to pop within it.
    private var firstBlock = 0
    private var head = 0
    /// Entries waiting, stale ones included.
    private(set) var count = 0

    var isEmpty: Bool { first == nil }

    var first: Entry? {
        guard firstBlock < blocks.count, head < blocks[firstBlock].count else { return nil }
        return blocks[firstBlock][head]
    }

    mutating func push(_ entry: Entry) {
        if blocks.count == firstBlock || blocks[blocks.count - 1].count == TimerQueue.blockSize {
            var block: [Entry] = []
            block.reserveCapacity(TimerQueue.blockSize)
            blocks.append(block)
        }
        blocks[blocks.count - 1].append(entry)
        count += 1
    }

    /// Drops the entries `isCurrent` rejects, keeping the others in order. For a queue whose
    /// timers are long (days) and mostly outlive their connections: never removed early, their
    /// stale entries would pile up at the rate connections end, for the whole duration.
    mutating func compact(keeping isCurrent: (Entry) -> Bool) {
        var kept = TimerQueue()
        while let entry = popFirst() {
            if isCurrent(entry) { kept.push(entry) }
        }
        self = kept
    }

    mutating func popFirst() -> Entry? {
        guard let entry = first else { return nil }
        head += 1
        count -= 1
        if head == TimerQueue.blockSize {
            // The block is spent: free it now, and drop the spent prefix of `blocks` now and then.
            blocks[firstBlock] = []
            firstBlock += 1
            head = 0
            if firstBlock >= 64 && firstBlock * 2 >= blocks.count {
                blocks.removeFirst(firstBlock)
                firstBlock = 0
            }
        } else if firstBlock == blocks.count - 1 && head == blocks[firstBlock].count {
            // Caught up with the tail inside a partly filled block: start it afresh.
            blocks[firstBlock].removeAll(keepingCapacity: true)
            head = 0
        }
        return entry
    }
}
