/// The table's side of the flow index: keys live in the records and residues, so the table
/// compares them and hashes them again when the index moves its entries.
extension ConnectionTable {
    /// The record or residue indexed for `key`.
    @inline(__always)
    func find(_ key: FlowKey, hash: UInt64) -> FlowIndex.Reference? {
        var probe = index.probe(hash)
        while let candidate = index.next(&probe) {
            if self.key(of: candidate) == key { return candidate }
        }
        return nil
    }

    /// The key of the record or residue a reference names.
    @inline(__always)
    func key(of reference: FlowIndex.Reference) -> FlowKey {
        switch reference {
        case .record(let slot): slots[slot].key
        case .residue(let r): residues[r].key
        }
    }

    /// Indexes `reference` under `hash`.
    mutating func indexInsert(_ reference: FlowIndex.Reference, hash: UInt64) {
        Self.insert(reference, hash: hash, into: &index, slots, residues, seed: seed)
    }

    /// Takes `reference`, indexed under `hash`, out of the index.
    mutating func indexRemove(_ reference: FlowIndex.Reference, hash: UInt64) {
        Self.remove(reference, hash: hash, from: &index, slots, residues, seed: seed)
    }

    // The index moves its entries by the hashes of the keys the records hold: these take the
    // index and the records apart (two of the table's fields, not the whole table, which a
    // closure reading the records while the index changes in place would hold twice).

    private static func insert(_ reference: FlowIndex.Reference, hash: UInt64, into index: inout FlowIndex,
                               _ slots: borrowing Arena<Connection>, _ residues: borrowing Arena<Residue>,
                               seed: UInt64) {
        index.insert(reference, hash: hash) { Self.hash(of: $0, slots, residues, seed: seed) }
    }

    private static func remove(_ reference: FlowIndex.Reference, hash: UInt64, from index: inout FlowIndex,
                               _ slots: borrowing Arena<Connection>, _ residues: borrowing Arena<Residue>,
                               seed: UInt64) {
        index.remove(reference, hash: hash) { Self.hash(of: $0, slots, residues, seed: seed) }
    }

    /// The hash of the key a reference names.
    @inline(__always)
    private static func hash(of reference: FlowIndex.Reference, _ slots: borrowing Arena<Connection>,
                             _ residues: borrowing Arena<Residue>, seed: UInt64) -> UInt64 {
        switch reference {
        case .record(let slot): slots[slot].key.hashValue(seed: seed)
        case .residue(let r): residues[r].key.hashValue(seed: seed)
        }
    }
}
