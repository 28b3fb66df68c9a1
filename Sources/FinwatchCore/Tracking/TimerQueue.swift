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

    private var storage: [Entry] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var count: Int { storage.count - head }
    var first: Entry? { head < storage.count ? storage[head] : nil }

    mutating func push(_ entry: Entry) { storage.append(entry) }

    mutating func popFirst() -> Entry? {
        guard head < storage.count else { return nil }
        let entry = storage[head]
        head += 1
        // Reclaim the consumed prefix once it dominates, keeping pushes amortised O(1).
        if head >= 4096 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return entry
    }
}
