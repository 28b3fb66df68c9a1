import Testing
@testable import FinwatchCore

@Suite("Timer queue")
struct TimerQueueTests {
    @Test("first in, first out across blocks, interleaved pushes and pops", arguments: [1, 4095, 4096, 4097, 20_000])
    func fifoAcrossBlocks(count: Int) {
        var queue = TimerQueue()
        var popped: [Int64] = []
        var next: Int64 = 0
        for _ in 0..<3 {
            for _ in 0..<count {
                queue.push(TimerQueue.Entry(deadline: next, slot: UInt32(next % 1000), generation: 7,
                                            side: next % 2 == 0 ? .orig : .resp))
                next += 1
            }
            // Pop two thirds of what was pushed this round: the queue is never empty between rounds.
            for _ in 0..<(count * 2 / 3) {
                guard let entry = queue.popFirst() else { break }
                #expect(entry.side == (entry.deadline % 2 == 0 ? .orig : .resp))
                #expect(entry.matches(7) && !entry.matches(8))
                popped.append(entry.deadline)
            }
        }
        while let entry = queue.popFirst() { popped.append(entry.deadline) }
        #expect(popped == Array(0..<next))
        #expect(queue.isEmpty && queue.first == nil)
        queue.push(TimerQueue.Entry(deadline: 99, slot: 1, generation: 1, side: .orig))
        #expect(queue.first?.deadline == 99)
    }
}
