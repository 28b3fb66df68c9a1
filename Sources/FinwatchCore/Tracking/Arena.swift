/// A growable array of plain values with one owner: the table's records, residues and
/// teardowns. `Array` checks before every write whether its buffer is shared, a call into the
/// runtime each time, once per store a packet touches; a noncopyable owner can never share its
/// buffer, so this one asks nothing. Reads and writes still stop on an index out of range.
@safe
struct Arena<Element: BitwiseCopyable>: ~Copyable {
    private var base: UnsafeMutablePointer<Element>
    private(set) var capacity: Int
    private(set) var count = 0

    /// Room for `capacity` values, reserved and not touched: the kernel maps pages as values
    /// are written, so a large reservation costs address space, not memory.
    init(reserving capacity: Int = 16) {
        self.capacity = max(capacity, 16)
        // unsafe: a fresh block, owned by this arena alone and freed by its deinit.
        unsafe base = .allocate(capacity: self.capacity)
    }

    /// `count` copies of `value`, all in use.
    init(repeating value: Element, count: Int) {
        self.init(reserving: count)
        // unsafe: a fresh block of at least `count` values; plain data, nothing to release later.
        unsafe base.initialize(repeating: value, count: count)
        self.count = count
    }

    // unsafe: `base` came from `allocate` and no view of it outlives the arena; the values are
    // BitwiseCopyable, nothing to deinitialize.
    deinit { unsafe base.deallocate() }

    var indices: Range<Int> { 0..<count }
    var isEmpty: Bool { count == 0 }

    subscript(index: Int) -> Element {
        @inline(__always)
        unsafeAddress {
            precondition(UInt(bitPattern: index) < UInt(bitPattern: count), "Arena index out of range")
            // unsafe: in range (checked above), and the first `count` values are initialized. The
            // address lives only for this access, and exclusivity keeps `append` (which may move
            // the block) from running during it.
            return unsafe UnsafePointer(base + index)
        }
        @inline(__always)
        unsafeMutableAddress {
            precondition(UInt(bitPattern: index) < UInt(bitPattern: count), "Arena index out of range")
            // unsafe: as for reading; a write through it is exclusive of every other access.
            return unsafe base + index
        }
    }

    /// The value at `index`, unchecked: for a caller whose index is in range by construction
    /// (a position masked to a power-of-two count that never changes).
    @unsafe
    @inline(__always)
    func unchecked(_ index: Int) -> Element {
        assert(UInt(bitPattern: index) < UInt(bitPattern: count), "Arena index out of range")
        return unsafe base[index]
    }

    @inline(__always)
    mutating func append(_ element: Element) {
        if count == capacity { grow() }
        // unsafe: `count < capacity` now; the value is plain data, nothing to release later.
        unsafe (base + count).initialize(to: element)
        count += 1
    }

    /// The last value, taken out; nil when there is none.
    @inline(__always)
    mutating func popLast() -> Element? {
        guard count > 0 else { return nil }
        let last = self[count - 1]
        count -= 1
        return last
    }

    /// Forgets every value and keeps the room.
    mutating func removeAll() { count = 0 }

    /// Past the reservation the room doubles: the old and the new block are both resident
    /// while one is copied into the other, which is why the table reserves up front.
    @inline(never)
    private mutating func grow() {
        assert(count == capacity)
        // unsafe: called when full, so the new block (twice the capacity) holds every value;
        // the old one is freed once they are moved.
        let larger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
        unsafe larger.moveInitialize(from: base, count: count)
        unsafe base.deallocate()
        unsafe base = larger
        capacity *= 2
    }
}
