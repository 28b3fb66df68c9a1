import Testing
@testable import FinwatchCore

/// The table's storage: values survive growing past the reservation, `removeAll` keeps the room,
/// and an index out of range stops the process as an array's would, never reads past the block.
@Suite("Tracking: the arena the table keeps its records in")
struct ArenaTests {
    @Test func valuesSurviveGrowingPastTheReservation() {
        var arena = Arena<UInt64>(reserving: 16)
        for value in 0..<1000 { arena.append(UInt64(value) &* 0x9E37_79B9) }
        let (count, capacity) = (arena.count, arena.capacity)
        let intact = arena.indices.allSatisfy { arena[$0] == UInt64($0) &* 0x9E37_79B9 }
        #expect(count == 1000)
        #expect(capacity >= 1000)
        #expect(intact)
    }

    @Test func writesLandInPlace() {
        var arena = Arena<Pair>(reserving: 4)
        arena.append(Pair(0, 0))
        arena.append(Pair(0, 0))
        arena[1].second = 7
        arena[0].first = 3
        let (zero, one) = (arena[0], arena[1])
        #expect(zero.first == 3 && zero.second == 0)
        #expect(one.first == 0 && one.second == 7)
    }

    @Test func removeAllKeepsTheRoom() {
        var arena = Arena<Int32>(reserving: 64)
        for value in 0..<100 { arena.append(Int32(value)) }
        let room = arena.capacity
        arena.removeAll()
        let (empty, roomAfter) = (arena.isEmpty, arena.capacity)
        arena.append(5)
        let first = arena[0]
        #expect(empty)
        #expect(roomAfter == room)
        #expect(first == 5)
    }

    @Test func repeatingValue_fillsEveryPlace_andStillGrows() {
        var arena = Arena<UInt32>(repeating: 7, count: 1000)
        let filled = arena.indices.allSatisfy { arena[$0] == 7 }
        arena.append(8)
        let (count, last) = (arena.count, arena[1000])
        #expect(filled)
        #expect(count == 1001)
        #expect(last == 8)
    }

    @Test func popLast_takesValuesBackToFront_thenNil() {
        var arena = Arena<UInt32>()
        for value in 1...40 { arena.append(UInt32(value)) }
        var taken: [UInt32] = []
        while let value = arena.popLast() { taken.append(value) }
        let (empty, again) = (arena.isEmpty, arena.popLast())
        #expect(taken == Array((1...40).reversed()))
        #expect(empty)
        #expect(again == nil)
    }

    @Test func readPastTheEnd_stopsTheProcess() async {
        await #expect(processExitsWith: .failure) {
            var arena = Arena<Int>(reserving: 16)
            arena.append(1)
            _ = arena[1]   // within the block, past the values: refused all the same
        }
    }

    @Test func readAfterRemoveAll_stopsTheProcess() async {
        await #expect(processExitsWith: .failure) {
            var arena = Arena<Int>(reserving: 16)
            arena.append(1)
            arena.removeAll()
            _ = arena[0]   // the room is kept, the value is gone
        }
    }

    @Test func negativeIndex_stopsTheProcess() async {
        await #expect(processExitsWith: .failure) {
            var arena = Arena<Int>(reserving: 16)
            arena.append(1)
            arena[-1] = 2
        }
    }
}

/// Two fields, to see a write through the subscript change one field of one value only.
private struct Pair: BitwiseCopyable {
    var first: Int32
    var second: Int32
    init(_ first: Int32, _ second: Int32) { (self.first, self.second) = (first, second) }
}
