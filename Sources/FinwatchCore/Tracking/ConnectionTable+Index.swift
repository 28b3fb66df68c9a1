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
        let (slots, residues, seed) = (self.slots, self.residues, self.seed)
        index.insert(reference, hash: hash) { Self.hash(of: $0, slots, residues, seed: seed) }
    }

    /// Takes `reference`, indexed under `hash`, out of the index.
    mutating func indexRemove(_ reference: FlowIndex.Reference, hash: UInt64) {
        let (slots, residues, seed) = (self.slots, self.residues, self.seed)
        index.remove(reference, hash: hash) { Self.hash(of: $0, slots, residues, seed: seed) }
    }

    /// The hash of the key a reference names, for the index moving its entries: the arrays are
    /// passed in (their buffers, not copies; released when the index is done), so the index may
    /// change while it reads them.
    static func hash(of reference: FlowIndex.Reference, _ slots: [Connection], _ residues: [Residue],
                     seed: UInt64) -> UInt64 {
        switch reference {
        case .record(let slot): slots[slot].key.hashValue(seed: seed)
        case .residue(let r): residues[r].key.hashValue(seed: seed)
        }
    }
}
