/// A FIFO of deadlines for one kind of timer. Each kind has one fixed duration, so deadlines
/// are pushed in (nearly) increasing order and the earliest is always at the head: push and pop
/// are O(1) whatever the number of connections. Entries are never removed early; a stale one
/// (slot reused, state left) is recognised by its generation when it reaches the head.
struct TimerQueue: ~Copyable {
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
    /// A full block: the tail it was, moved here whole, never copied.
    private final class Block {
        let entries: Arena<Entry>
        init(_ entries: consuming Arena<Entry>) { self.entries = entries }
    }

    /// Full blocks, oldest first; those before `firstBlock` are spent.
    private var blocks: [Block?] = []
    /// The block being filled, apart from the full ones, in storage of its own: a push is a
    /// store and a count, where an array's append asks the runtime whether its buffer is shared.
    private var tail = Arena<Entry>(reserving: TimerQueue.blockSize)
    /// Index of the first live full block, and of the next entry to pop in the head block: that
    /// full block, or `tail` once every full block is spent.
    private var firstBlock = 0
    private var head = 0
    /// Entries waiting, stale ones included.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    var first: Entry? {
        guard count > 0 else { return nil }
        guard firstBlock < blocks.count else { return tail[head] }
        return blocks[firstBlock]!.entries[head]   // only spent blocks, before `firstBlock`, are nil
    }

    mutating func push(_ entry: Entry) {
        if tail.count == TimerQueue.blockSize { sealTail() }
        tail.append(entry)
        count &+= 1
    }

    /// The full tail joins the blocks as it is; a fresh one takes its place.
    @inline(never)   // once every 4,096 pushes
    private mutating func sealTail() {
        var full = Arena<Entry>(reserving: TimerQueue.blockSize)
        swap(&full, &tail)
        blocks.append(Block(full))
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
        if firstBlock < blocks.count {
            guard head == TimerQueue.blockSize else { return entry }
            // The block is spent: free it now, and drop the spent prefix of `blocks` now and then.
            blocks[firstBlock] = nil
            firstBlock += 1
            head = 0
            if firstBlock >= 64 && firstBlock * 2 >= blocks.count {
                blocks.removeFirst(firstBlock)
                firstBlock = 0
            }
        } else if head == tail.count {
            // Caught up with the tail: start it afresh.
            tail.removeAll()
            head = 0
        }
        return entry
    }
}
