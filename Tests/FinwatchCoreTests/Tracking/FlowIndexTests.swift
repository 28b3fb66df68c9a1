import Testing
@testable import FinwatchCore

/// The index reads its entries unchecked at masked positions: every position a probe can reach
/// must be an entry, through growth, removal and the end-of-input release alike.
@Suite("Tracking: the flow index")
struct FlowIndexTests {
    /// A spread of hashes with many equal low bits, so probes run past their home position.
    static func hash(_ number: Int) -> UInt64 { UInt64(number) &* 0x9E37_79B9_7F4A_7C15 & ~0xF0 }

    static func candidates(_ index: borrowing FlowIndex, _ hash: UInt64) -> [FlowIndex.Reference] {
        var probe = index.probe(hash)
        var found: [FlowIndex.Reference] = []
        while let candidate = index.next(&probe) { found.append(candidate) }
        return found
    }

    @Test func everyReferenceIsFound_throughGrowthAndRemoval() {
        var index = FlowIndex(maxConnections: 100_000)
        let hashOf: (FlowIndex.Reference) -> UInt64 = {
            switch $0 {
            case .record(let slot): Self.hash(slot)
            case .residue(let number): Self.hash(number + 50_000)
            }
        }
        for slot in 0..<5_000 { index.insert(.record(slot), hash: Self.hash(slot), hashOf: hashOf) }
        for number in 0..<1_000 { index.insert(.residue(number), hash: Self.hash(number + 50_000), hashOf: hashOf) }
        for slot in stride(from: 0, to: 5_000, by: 2) { index.remove(.record(slot), hash: Self.hash(slot), hashOf: hashOf) }
        let records = (0..<5_000).map { Self.candidates(index, Self.hash($0)).contains(.record($0)) }
        let residues = (0..<1_000).allSatisfy { Self.candidates(index, Self.hash($0 + 50_000)).contains(.residue($0)) }
        let count = index.count
        #expect(records.enumerated().allSatisfy { $0.element == ($0.offset % 2 == 1) })
        #expect(residues)
        #expect(count == 3_500)
    }

    @Test func afterLettingTheMemoryGo_aProbeFindsNothing_andInsertStillWorks() {
        var index = FlowIndex(maxConnections: 1_000)
        let hashOf: (FlowIndex.Reference) -> UInt64 = { if case .record(let slot) = $0 { Self.hash(slot) } else { 0 } }
        for slot in 0..<600 { index.insert(.record(slot), hash: Self.hash(slot), hashOf: hashOf) }
        index.removeAll(keepingNothing: true)
        let none = (0..<600).allSatisfy { Self.candidates(index, Self.hash($0)).isEmpty }
        for slot in 0..<10 { index.insert(.record(slot), hash: Self.hash(slot), hashOf: hashOf) }
        let found = (0..<10).allSatisfy { Self.candidates(index, Self.hash($0)).contains(.record($0)) }
        #expect(none)
        #expect(found)
    }
}
