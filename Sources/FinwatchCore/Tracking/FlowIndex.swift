/// Where each tracked 4-tuple's record or residue is: open addressing with linear probing over
/// 4-byte entries. An entry is 0 when empty, otherwise a reference in its low bits and the top
/// bits of the key's hash above them (the tag): a probe that meets another key is almost always
/// told by its tag without reading that record — the records are far bigger than the cache, and
/// each one read was a cache miss. Backward-shift deletion: no tombstones, so probes stay short
/// however long the run. Nothing outside this type sees the bits.
struct FlowIndex: ~Copyable {
    /// What an entry names: a record's slot, or a residue's number.
    enum Reference: Equatable {
        case record(Int)
        case residue(Int)
    }

    /// A power of two of them, never fewer than one.
    private var entries: Arena<UInt32>
    /// `entries.count - 1`: a hash's position is its low bits, always one of the entries.
    private var mask: Int
    /// Bits that hold a reference: enough for `maxConnections` and the residue flag above it;
    /// the rest of the word is the tag.
    private let referenceMask: UInt32
    /// The bits above: the tag (`~referenceMask`, kept to spare the probe a complement).
    private let tagMask: UInt32
    /// The reference's top bit: set, the rest numbers a residue; clear, a record's slot.
    private let residueFlag: UInt32
    /// Entries in use.
    private(set) var count = 0

    init(maxConnections: Int) {
        entries = Arena(repeating: 0, count: FlowIndex.initialEntries)
        mask = FlowIndex.initialEntries - 1
        let numbers = UInt64(max(maxConnections, 16) + 1)
        let referenceBits = numbers.bitWidth - numbers.leadingZeroBitCount + 1   // and the residue flag
        // The command line stops at 100 million (`maximumConnectionsLimit`), far below this.
        precondition(referenceBits <= 32, "maxConnections \(maxConnections) needs more than 32 bits of index")
        referenceMask = referenceBits >= 32 ? .max : (1 << UInt32(referenceBits)) - 1
        tagMask = ~referenceMask
        residueFlag = 1 << UInt32(referenceBits - 1)
    }

    private static let initialEntries = 1024

    /// Bits a reference needs (at most 32): what a packed sort key may give a slot number.
    var referenceBits: Int { referenceMask.nonzeroBitCount }

    @inline(__always)
    private func encode(_ reference: Reference) -> UInt32 {
        switch reference {
        case .record(let slot): UInt32(slot + 1)
        case .residue(let number): residueFlag | UInt32(number + 1)
        }
    }

    @inline(__always)
    private func decode(_ bits: UInt32) -> Reference {
        bits & residueFlag == 0 ? .record(Int(bits) - 1) : .residue(Int(bits & ~residueFlag) - 1)
    }

    /// Bits of the hash's upper half, where the entry has no reference bits (none when
    /// references need all 32). The position comes from the lower half: the two are independent.
    @inline(__always)
    private func tag(_ hash: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: hash >> 32) & tagMask
    }

    /// Where a lookup stands: the next position to read, and the tag it looks for.
    struct Probe {
        fileprivate var position: Int
        fileprivate let tag: UInt32
    }

    /// A lookup of the keys indexed under `hash`: `next` yields each candidate whose tag matches,
    /// in probe order, and the caller compares keys (the index holds none).
    @inline(__always)
    func probe(_ hash: UInt64) -> Probe {
        Probe(position: Int(truncatingIfNeeded: hash) & mask, tag: tag(hash))
    }

    /// The probe's next candidate, nil at the first empty entry: the key is not indexed.
    @inline(__always)
    func next(_ probe: inout Probe) -> Reference? {
        while true {
            // unsafe: masked here (whatever made the probe), and the entries are always `mask + 1`.
            let entry = unsafe entries.unchecked(probe.position & mask)
            if entry == 0 { return nil }
            probe.position = (probe.position &+ 1) & mask
            if entry & tagMask == probe.tag { return decode(entry & referenceMask) }
        }
    }

    /// Indexes `reference` under `hash`; `hashOf` rehashes the others if the index must grow.
    mutating func insert(_ reference: Reference, hash: UInt64, hashOf: (Reference) -> UInt64) {
        count += 1
        if (count + 1) * 2 > entries.count { grow(hashOf: hashOf) }
        var position = Int(truncatingIfNeeded: hash) & mask
        while entries[position] != 0 { position = (position + 1) & mask }
        entries[position] = tag(hash) | encode(reference)
    }

    /// The entry naming `old` names `new` from now on; its place and tag stay (same key).
    mutating func retarget(hash: UInt64, from old: Reference, to new: Reference) {
        let (old, new) = (encode(old), encode(new))
        var position = Int(truncatingIfNeeded: hash) & mask
        while entries[position] & referenceMask != old {
            if entries[position] == 0 { return }   // not indexed: nothing to retarget
            position = (position + 1) & mask
        }
        entries[position] = entries[position] & tagMask | new
    }

    private mutating func grow(hashOf: (Reference) -> UInt64) {
        var old = Arena<UInt32>(repeating: 0, count: entries.count * 2)
        swap(&old, &entries)
        mask = entries.count - 1
        for index in old.indices {
            let entry = old[index]
            guard entry != 0 else { continue }
            var position = Int(truncatingIfNeeded: hashOf(decode(entry & referenceMask))) & mask
            while entries[position] != 0 { position = (position + 1) & mask }
            entries[position] = entry
        }
    }

    /// Removes `reference`, indexed under `hash`; `hashOf` gives the home of the entries after it.
    mutating func remove(_ reference: Reference, hash: UInt64, hashOf: (Reference) -> UInt64) {
        let bits = encode(reference)
        var hole = Int(truncatingIfNeeded: hash) & mask
        while entries[hole] & referenceMask != bits {
            if entries[hole] == 0 { return }   // not indexed: nothing to remove
            hole = (hole + 1) & mask
        }
        entries[hole] = 0
        count -= 1
        var next = (hole + 1) & mask
        while entries[next] != 0 {
            let home = Int(truncatingIfNeeded: hashOf(decode(entries[next] & referenceMask))) & mask
            // Move the entry back into the hole if its home is not between the hole and itself.
            if (next - home) & mask >= (next - hole) & mask {
                entries[hole] = entries[next]
                entries[next] = 0
                hole = next
            }
            next = (next + 1) & mask
        }
    }

    /// Forgets every entry; `keepingNothing` lets the memory go (at end of input, before the
    /// sort that needs it), all but one entry: the entries are never fewer than one, so a masked
    /// position is always one of them.
    mutating func removeAll(keepingNothing: Bool = false) {
        let size = keepingNothing ? 1 : FlowIndex.initialEntries
        entries = Arena(repeating: 0, count: size)
        mask = size - 1
        count = 0
    }
}
