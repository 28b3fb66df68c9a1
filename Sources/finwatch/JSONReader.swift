#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A cursor over one JSON text (RFC 8259), read in place: the caller walks objects key by key
/// and takes each value as the type it expects, so nothing is built that the caller does not
/// keep. `finwatch status` reads `/connections` with it: Foundation's JSONDecoder built a
/// dictionary per object and took over a second for 6,000 rows, where the answer must come
/// within 100 ms; and full Foundation would bring ICU back into the static binary.
///
/// Every method throws `Malformed` on bytes that are not what it expects; nothing traps. One
/// leniency: control characters inside a string are taken as they are, not refused (finding
/// the closing quote with memchr is most of what makes reading fast).
struct JSONReader {
    struct Malformed: Error {}

    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Past the value: only whitespace may follow.
    func expectEnd() throws(Malformed) {
        var copy = self
        copy.skipWhitespace()
        guard copy.index == bytes.count else { throw Malformed() }
    }

    /// `{ … }`: `body` runs once per key and must take that key's value (or `skipValue()`).
    mutating func object(_ body: (inout JSONReader, String) throws(Malformed) -> Void) throws(Malformed) {
        try take(UInt8(ascii: "{"))
        if try peek() == UInt8(ascii: "}") { index += 1; return }
        while true {
            let key = try string()
            try take(UInt8(ascii: ":"))
            try body(&self, key)
            let next = try peek()
            index += 1
            if next == UInt8(ascii: "}") { return }
            guard next == UInt8(ascii: ",") else { throw Malformed() }
        }
    }

    /// `[ … ]`: `body` runs once per element and must take it.
    mutating func array(_ body: (inout JSONReader) throws(Malformed) -> Void) throws(Malformed) {
        try take(UInt8(ascii: "["))
        if try peek() == UInt8(ascii: "]") { index += 1; return }
        while true {
            try body(&self)
            let next = try peek()
            index += 1
            if next == UInt8(ascii: "]") { return }
            guard next == UInt8(ascii: ",") else { throw Malformed() }
        }
    }

    /// Whether the next value is `null`, which is then taken.
    mutating func null() throws(Malformed) -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    mutating func bool() throws(Malformed) -> Bool {
        if try peek() == UInt8(ascii: "t") {
            try literal("true")
            return true
        }
        try literal("false")
        return false
    }

    /// A number as written (RFC 8259 §6 grammar checked), converted by the standard library.
    mutating func number() throws(Malformed) -> Double {
        guard let value = Double(try numberText()) else { throw Malformed() }
        return value
    }

    /// A number that must be a whole one within `Int`.
    mutating func integer() throws(Malformed) -> Int {
        guard let value = Int(try numberText()) else { throw Malformed() }
        return value
    }

    mutating func string() throws(Malformed) -> String {
        try take(UInt8(ascii: "\""))
        let start = index
        // The common case, no escapes: the closing quote found by memchr, one String from the bytes.
        guard let end = Self.find(UInt8(ascii: "\""), in: bytes, from: start) else { throw Malformed() }
        if Self.find(UInt8(ascii: "\\"), in: bytes, from: start, to: end) == nil {
            index = end + 1
            return String(decoding: bytes[start..<end], as: UTF8.self)
        }
        var out: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try escape(into: &out)
            default:
                out.append(byte)
            }
        }
        throw Malformed()
    }

    /// The index of the first `byte` in `bytes[from..<to]` (to the end by default), by memchr.
    private static func find(_ byte: UInt8, in bytes: [UInt8], from: Int, to: Int? = nil) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            let end = min(to ?? buffer.count, buffer.count)
            guard let base = buffer.baseAddress, from < end,
                  let found = memchr(base + from, Int32(byte), end - from) else { return nil }
            return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Any value, taken and dropped: keys a newer finwatch may add are not an error.
    mutating func skipValue() throws(Malformed) {
        switch try peek() {
        case UInt8(ascii: "{"): try object { reader, _ throws(Malformed) in try reader.skipValue() }
        case UInt8(ascii: "["): try array { reader throws(Malformed) in try reader.skipValue() }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool()
        case UInt8(ascii: "n"): _ = try null()
        default: _ = try numberText()
        }
    }

    // MARK: - Bytes

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
            default: return
            }
        }
    }

    /// The next significant byte, not taken.
    private mutating func peek() throws(Malformed) -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw Malformed() }
        return bytes[index]
    }

    private mutating func take(_ byte: UInt8) throws(Malformed) {
        guard try peek() == byte else { throw Malformed() }
        index += 1
    }

    private mutating func literal(_ word: StaticString) throws(Malformed) {
        skipWhitespace()
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw Malformed() }
        let matches = word.withUTF8Buffer { expected in bytes[index..<(index + count)].elementsEqual(expected) }
        guard matches else { throw Malformed() }
        index += count
    }

    /// `-? int frac? exp?` as RFC 8259 §6 has it.
    private mutating func numberText() throws(Malformed) -> String {
        skipWhitespace()
        let start = index
        func digits(_ reader: inout JSONReader) -> Int {
            let from = reader.index
            while reader.index < reader.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(reader.bytes[reader.index]) {
                reader.index += 1
            }
            return reader.index - from
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard digits(&self) > 0 else { throw Malformed() }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw Malformed() }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw Malformed() }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// After a backslash: one escape, appended as UTF-8 (a surrogate pair joined into one
    /// scalar; a lone surrogate, which no UTF-8 can hold, becomes U+FFFD).
    private mutating func escape(into out: inout [UInt8]) throws(Malformed) {
        guard index < bytes.count else { throw Malformed() }
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar), index + 1 < bytes.count,
               bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                index += 2
                let low = try hex4()
                scalar = (0xDC00..<0xE000).contains(low) ? 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
            }
            out += Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
        default:
            throw Malformed()
        }
    }

    private mutating func hex4() throws(Malformed) -> UInt32 {
        guard index + 4 <= bytes.count else { throw Malformed() }
        var value: UInt32 = 0
        for byte in bytes[index..<(index + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw Malformed()
            }
            value = value << 4 | UInt32(digit)
        }
        index += 4
        return value
    }
}
