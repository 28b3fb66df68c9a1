/// A connection's history in Zeek's style: one letter per kind of segment, upper case when orig
/// sent it, lower case for resp, each recorded the first time it happens in that direction.
/// Packed 5 bits a letter into two words: 16 bytes per connection, no heap.
///
/// Letters: S a SYN without ACK · H a SYN+ACK · A a pure ACK · D payload · F FIN · R RST ·
/// T a retransmitted FIN or payload · W a zero window · I inconsistent flags (SYN+FIN, SYN+RST,
/// FIN+RST) · ^ the direction was inferred, not seen (no SYN).
package struct History: Sendable, Equatable, BitwiseCopyable {
    package enum Letter: UInt8, CaseIterable, Sendable {
        case syn = 1, synAck, ack, data, fin, rst, retransmit, zeroWindow, inconsistent

        package var character: Character { Character(Unicode.Scalar(ascii)) }

        package var ascii: UInt8 {
            switch self {
            case .syn: UInt8(ascii: "S")
            case .synAck: UInt8(ascii: "H")
            case .ack: UInt8(ascii: "A")
            case .data: UInt8(ascii: "D")
            case .fin: UInt8(ascii: "F")
            case .rst: UInt8(ascii: "R")
            case .retransmit: UInt8(ascii: "T")
            case .zeroWindow: UInt8(ascii: "W")
            case .inconsistent: UInt8(ascii: "I")
            }
        }
    }

    private static let flippedCode: UInt64 = 31
    private var low: UInt64 = 0
    private var high: UInt64 = 0
    /// Bits 0–25: which (letter, side) pairs are recorded (`letter + 16 * side`); bits 27–31:
    /// how many letters. 20 bytes in all, so the record around it packs tightly.
    private var seen: UInt32 = 0

    private var count: UInt8 {
        get { UInt8(seen >> 27) }
        set { seen = seen & 0x07FF_FFFF | UInt32(newValue) << 27 }
    }

    package init() {}

    /// Records `letter` for `side` unless that direction already has it.
    @inline(__always)
    package mutating func record(_ letter: Letter, from side: Side) {
        let bit = UInt32(1) << (UInt32(letter.rawValue) + (side == .orig ? 0 : 16))
        guard seen & bit == 0 else { return }
        seen |= bit
        append(UInt64(letter.rawValue) + (side == .orig ? 0 : 10))
    }

    /// Marks that orig was inferred rather than seen sending the SYN.
    package mutating func recordFlipped() { append(History.flippedCode) }

    @inline(__always)
    private mutating func append(_ code: UInt64) {
        guard count < 24 else { return }
        if count < 12 {
            low |= code << (UInt64(count) * 5)
        } else {
            high |= code << (UInt64(count - 12) * 5)
        }
        count += 1
    }

    /// The letters as text (at most 24 ASCII bytes: built on the stack, one String at the end).
    package var text: String {
        var letters = InlineArray<24, UInt8>(repeating: 0)
        var length = 0
        for index in 0..<Int(count) {
            let code = index < 12 ? (low >> (UInt64(index) * 5)) & 31 : (high >> (UInt64(index - 12) * 5)) & 31
            if code == History.flippedCode {
                letters[length] = UInt8(ascii: "^")
                length += 1
                continue
            }
            let isResp = code > 10
            guard let letter = Letter(rawValue: UInt8(isResp ? code - 10 : code)) else { continue }
            // Every letter is an ASCII capital: | 0x20 is its lower case.
            letters[length] = letter.ascii | (isResp ? 0x20 : 0)
            length += 1
        }
        // unsafe: `buffer` has room for `length` bytes, and exactly those are written.
        return unsafe String(unsafeUninitializedCapacity: length) { buffer in
            for index in 0..<length { unsafe buffer[index] = letters[index] }
            return length
        }
    }
}

extension History: Sequence {
    /// The letters as ASCII bytes, in the order they were recorded (`^` included): what `text`
    /// holds, without making a `String`.
    package struct Iterator: IteratorProtocol {
        fileprivate var history: History
        fileprivate var index = 0

        package mutating func next() -> UInt8? {
            while index < Int(history.count) {
                let code = history.code(at: index)
                index += 1
                if let ascii = History.ascii(code) { return ascii }
            }
            return nil
        }
    }

    package func makeIterator() -> Iterator { Iterator(history: self) }

    /// Each side's letters as one bit per letter, `1 << (letter - "A")` (the upper case for
    /// both sides), from the marks of what was recorded: no walk of the letters.
    package var letterMasks: (orig: UInt32, resp: UInt32) {
        var orig: UInt32 = 0
        var resp: UInt32 = 0
        for letter in Letter.allCases {
            let shift = UInt32(letter.ascii - UInt8(ascii: "A"))
            if seen & UInt32(1) << UInt32(letter.rawValue) != 0 { orig |= 1 << shift }
            if seen & UInt32(1) << (UInt32(letter.rawValue) + 16) != 0 { resp |= 1 << shift }
        }
        return (orig, resp)
    }

    /// Calls `body` with each letter's ASCII byte in order (`^` included): the encoder writes
    /// them straight into a line.
    @inline(__always)
    package func forEachASCII(_ body: (UInt8) -> Void) {
        for index in 0..<Int(count) {
            if let ascii = History.ascii(code(at: index)) { body(ascii) }
        }
    }

    /// A code's character: orig's letters 1–9, resp's 11–19 (lower case), 31 the inferred mark.
    @inline(__always)
    fileprivate static func ascii(_ code: UInt64) -> UInt8? {
        switch code {
        case 1, 11: code == 1 ? UInt8(ascii: "S") : UInt8(ascii: "s")
        case 2, 12: code == 2 ? UInt8(ascii: "H") : UInt8(ascii: "h")
        case 3, 13: code == 3 ? UInt8(ascii: "A") : UInt8(ascii: "a")
        case 4, 14: code == 4 ? UInt8(ascii: "D") : UInt8(ascii: "d")
        case 5, 15: code == 5 ? UInt8(ascii: "F") : UInt8(ascii: "f")
        case 6, 16: code == 6 ? UInt8(ascii: "R") : UInt8(ascii: "r")
        case 7, 17: code == 7 ? UInt8(ascii: "T") : UInt8(ascii: "t")
        case 8, 18: code == 8 ? UInt8(ascii: "W") : UInt8(ascii: "w")
        case 9, 19: code == 9 ? UInt8(ascii: "I") : UInt8(ascii: "i")
        case History.flippedCode: UInt8(ascii: "^")
        default: nil
        }
    }

    @inline(__always)
    fileprivate func code(at index: Int) -> UInt64 {
        index < 12 ? (low >> (UInt64(index) * 5)) & 31 : (high >> (UInt64(index - 12) * 5)) & 31
    }
}

extension History: ExpressibleByStringLiteral, CustomStringConvertible {
    /// From the letters as the record prints them (tests, fixtures): upper case orig, lower case
    /// resp, `^` for an inferred direction; anything else is ignored.
    package init(_ text: String) {
        self.init()
        for byte in text.utf8 {
            if byte == UInt8(ascii: "^") { recordFlipped(); continue }
            let isResp = byte >= UInt8(ascii: "a")
            guard let letter = Letter.allCases.first(where: { $0.ascii == (isResp ? byte - 0x20 : byte) }) else { continue }
            record(letter, from: isResp ? .resp : .orig)
        }
    }

    package init(stringLiteral text: String) { self.init(text) }

    package var description: String { text }
}
