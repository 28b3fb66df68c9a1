/// One segment of the close sequence: who sent it, its flags, and when (ns after the first FIN or RST).
package struct SequenceStep: Sendable, Equatable {
    package var from: Side
    package var flags: TCPFlags
    package var offset: Int64

    package init(from: Side, flags: TCPFlags, offset: Int64) {
        self.from = from
        self.flags = flags
        self.offset = offset
    }

    /// The offset's range in a packed step: ±2^54 ns, about 208 days either way.
    private static let offsetBits: UInt64 = 55
    private static let offsetLimit = Int64(1) << (offsetBits - 1) - 1

    /// The step in one word: the side in bit 63, the flags in bits 55–62, the offset (signed) below.
    @inline(__always)
    var packed: UInt64 {
        let offset = UInt64(bitPattern: min(max(offset, -Self.offsetLimit), Self.offsetLimit))
        return (from == .resp ? 1 << 63 : 0) | UInt64(flags.rawValue) << Self.offsetBits
            | offset & (1 << Self.offsetBits - 1)
    }

    @inline(__always)
    init(packed: UInt64) {
        from = packed >> 63 == 0 ? .orig : .resp
        flags = TCPFlags(rawValue: UInt8(truncatingIfNeeded: packed >> Self.offsetBits))
        offset = Int64(bitPattern: packed << (64 - Self.offsetBits)) >> (64 - Self.offsetBits)
    }
}

/// A close `sequence`: the teardown's segments in wire order, at most `capacity` (the
/// contract's 32). The first four are packed inline, so the usual close (three or four steps)
/// is carried from the tracker to the output without an allocation or a reference count; a
/// longer one (a half-close with data, FINs sent again) keeps the rest in an array.
package struct CloseSequence: RandomAccessCollection, ExpressibleByArrayLiteral, Sendable, Equatable {
    package static let capacity = 32
    static let inlineCapacity = 4

    /// The inline steps and the count: plain data, what a running teardown holds.
    struct Head: BitwiseCopyable {
        var words = InlineArray<4, UInt64>(repeating: 0)
        /// All the steps, the tail's included.
        var count: UInt8 = 0

        /// Appends `step` inline; false once the inline room is used (the caller keeps the rest).
        @inline(__always)
        mutating func append(_ step: SequenceStep) -> Bool {
            guard count < CloseSequence.inlineCapacity else { return false }
            words[Int(count)] = step.packed
            count &+= 1
            return true
        }
    }

    var head: Head
    /// Steps past the inline ones; empty for most closes.
    var tail: [SequenceStep]

    init(head: Head, tail: [SequenceStep]) {
        self.head = head
        self.tail = tail
    }

    package init() { self.init(head: Head(), tail: []) }

    /// The first `capacity` of `steps`.
    package init(_ steps: some Sequence<SequenceStep>) {
        self.init()
        for step in steps where !append(step) { break }
    }

    package init(arrayLiteral steps: SequenceStep...) { self.init(steps) }

    package var startIndex: Int { 0 }
    package var endIndex: Int { Int(head.count) }

    package subscript(position: Int) -> SequenceStep {
        precondition(position >= 0 && position < endIndex, "CloseSequence: index \(position) out of 0..<\(endIndex)")
        return position < Self.inlineCapacity ? SequenceStep(packed: head.words[position]) : tail[position - Self.inlineCapacity]
    }

    /// Appends `step` while there is room; false once `capacity` steps are held.
    @discardableResult
    package mutating func append(_ step: SequenceStep) -> Bool {
        if head.append(step) { return true }
        guard head.count < Self.capacity else { return false }
        tail.append(step)
        head.count &+= 1
        return true
    }

    package static func == (lhs: CloseSequence, rhs: CloseSequence) -> Bool { lhs.elementsEqual(rhs) }

    /// Walks the inline words, then the tail, without an index check per step.
    package struct Iterator: IteratorProtocol {
        private let sequence: CloseSequence
        private var position = 0

        init(_ sequence: CloseSequence) { self.sequence = sequence }

        package mutating func next() -> SequenceStep? {
            let count = Int(sequence.head.count)
            guard position < count else { return nil }
            defer { position &+= 1 }
            if position < CloseSequence.inlineCapacity { return SequenceStep(packed: sequence.head.words[position]) }
            return sequence.tail[position &- CloseSequence.inlineCapacity]
        }
    }

    package func makeIterator() -> Iterator { Iterator(self) }
}
