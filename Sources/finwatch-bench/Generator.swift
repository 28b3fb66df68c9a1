import FinwatchCore

/// Interleaves many connection scripts into one capture file in time order.
///
/// Mixed mode keeps `concurrency` connections busy: each runs one `Scenario`; when it finishes
/// (or goes idle, see `ConnectionScript.releaseCount`) a new one starts a moment later, until
/// the file holds exactly `packetLimit` packets. Idle connections (lingering CLOSE_WAIT, TIME_WAIT
/// before reuse, SYN back-off) come on top of the busy ones. Open mode starts `openCount`
/// connections (10,000 a second) that shake hands, exchange a request and a short response and
/// stay ESTABLISHED to the end of the file; with `closeHeld` each then closes (orig first), so
/// all of them are in TIME_WAIT at the end of a file shorter than 60 s.
struct Generator {
    struct Configuration {
        var packetLimit = 5_000_000
        var concurrency = 3_000
        var seed: UInt64 = 1
        var openCount: Int?
        /// Open mode: every connection closes after its response (`--closed N`).
        var closeHeld = false
        var snaplen = 96
        var ipv6Percent: UInt64 = 15
        /// 2026-11-25T00:00:00Z, the contract's example day, in microseconds.
        var startTime: UInt64 = 1_795_564_800_000_000
    }

    /// What a run wrote.
    struct Summary {
        var packets = 0
        var connections = 0
        var bytes = 0
        var firstTime: UInt64 = 0
        var lastTime: UInt64 = 0
        var largestBacklog = 0
    }

    let configuration: Configuration

    /// A connection waiting in the merge: its script and how far it got.
    private struct Slot {
        var script: ConnectionScript
        var cursor = 0
    }

    func run(to path: String) throws(BenchError) -> Summary {
        let file = try OutputFile(path: path)
        var random = SeededGenerator(seed: configuration.seed)
        var encoder = FrameEncoder(snaplen: configuration.snaplen)
        var buffer = encoder.fileHeader()
        buffer.reserveCapacity(1 << 22)
        var summary = Summary()
        var slots: [Slot?] = []
        var freeSlots: [Int] = []
        var queue = EventQueue()

        func launch(at start: UInt64, open: Bool, random: inout SeededGenerator) {
            let number = UInt64(summary.connections)
            summary.connections += 1
            let ipv6 = random.chance(configuration.ipv6Percent)
            let server = random.below(16)
            let ports: [UInt16] = [443, 443, 443, 443, 443, 80, 80, 5432, 6379, 8080]
            let flow = Flow(number: number, isIPv6: ipv6, server: server, port: ports[Int(random.below(10))])
            var script = ConnectionScript(flow: flow, start: start, random: &random)
            if open {
                script.handshake()
                script.transfer(from: .orig, byteCount: Int(random.between(80...600)), random: &random)
                script.transfer(from: .resp, byteCount: Int(random.between(150...4_000)), random: &random)
                if configuration.closeHeld { script.normalTeardown(active: .orig, random: &random) }
            } else {
                Scenario.pick(&random).build(&script, random: &random)
            }
            let index: Int
            if let free = freeSlots.popLast() { index = free; slots[index] = Slot(script: script) }
            else { index = slots.count; slots.append(Slot(script: script)) }
            queue.push(time: script.segments[0].time, slot: index)
        }

        let start = configuration.startTime
        if let open = configuration.openCount {
            for index in 0..<open { launch(at: start + UInt64(index) * 100, open: true, random: &random) }
        } else {
            let spacing = UInt64(1_000_000 / max(configuration.concurrency, 1))
            for index in 0..<configuration.concurrency {
                launch(at: start + UInt64(index) * spacing, open: false, random: &random)
            }
        }
        let limit = configuration.openCount == nil ? configuration.packetLimit : Int.max

        while summary.packets < limit, let next = queue.pop() {
            guard var slot = slots[next.slot] else { preconditionFailure("Generator: queued slot \(next.slot) is empty") }
            let segment = slot.script.segments[slot.cursor]
            encoder.write(segment, of: slot.script.flow, into: &buffer)
            if summary.packets == 0 { summary.firstTime = segment.time }
            summary.lastTime = segment.time
            summary.packets += 1
            slot.cursor += 1
            if buffer.count >= 1 << 22 {
                summary.bytes += buffer.count
                try file.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
            let count = slot.script.segments.count
            if configuration.openCount == nil && slot.cursor == (slot.script.releaseCount ?? count) {
                launch(at: segment.time + random.between(0...2_000), open: false, random: &random)
            }
            if slot.cursor < count {
                queue.push(time: slot.script.segments[slot.cursor].time, slot: next.slot)
                slots[next.slot] = slot
            } else {
                slots[next.slot] = nil
                freeSlots.append(next.slot)
            }
            summary.largestBacklog = max(summary.largestBacklog, queue.count)
        }
        summary.bytes += buffer.count
        try file.write(buffer)
        try file.close()
        return summary
    }
}

/// A binary min-heap of (time, arrival order, slot): equal times leave in the order they were
/// queued, so the merge, and with it the file, is the same on every run.
struct EventQueue {
    struct Entry {
        var time: UInt64
        var order: UInt64
        var slot: Int
        func precedes(_ other: Entry) -> Bool { (time, order) < (other.time, other.order) }
    }

    private var heap: [Entry] = []
    private var arrivals: UInt64 = 0

    var count: Int { heap.count }

    mutating func push(time: UInt64, slot: Int) {
        arrivals += 1
        heap.append(Entry(time: time, order: arrivals, slot: slot))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return first }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].precedes(heap[smallest]) { smallest = left }
            if right < heap.count && heap[right].precedes(heap[smallest]) { smallest = right }
            if smallest == parent { return first }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
