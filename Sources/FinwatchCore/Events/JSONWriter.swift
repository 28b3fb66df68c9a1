/// JSON text written straight into an `OutputSpan`: the encoder behind every event line.
///
/// A line is laid out in one go (`JSONLine.append`): its expected worst-case length is reserved
/// once, then each piece is written into the reserved bytes with no growth and no intermediate
/// `String`s. Keys go out together with their punctuation as one literal (`,"close":"`), so the
/// structure of each event is visible in its encoder and costs a copy.
///
/// The reservation is an estimate, not a promise the process lives by: every piece checks its
/// room first (`room(for:)`, one comparison). A piece that does not fit marks the line outgrown
/// and every later piece is skipped; `JSONLine.append` then drops the partial line and writes it
/// again into twice the room. A field added without widening `maximumJSONLength` costs a second
/// pass, never a trap (tests hold the widest events to their estimates, so that stays rare).
package enum JSONLine {
    /// Appends the line `body` lays out to `buffer`, reserving `maximumLength` bytes first and
    /// more if the line turns out longer. The retry is a loop here, not a function `body` is
    /// passed to: handed to a call that is not inlined, the closure was made into a context
    /// holding a copy of the event it writes (a copy and a destroy of the whole event per line).
    @inline(__always)
    package static func append(to buffer: inout [UInt8], maximumLength: Int,
                               _ body: (inout OutputSpan<UInt8>) -> Void) {
        let start = buffer.count
        var room = maximumLength
        while true {
            var outgrown = false
            // One byte more than the line may use: room for the mark of a piece that did not fit.
            buffer.append(addingCapacity: room + 1) { out in
                body(&out)
                outgrown = out.isOutgrown
            }
            guard outgrown else { return }
            room = roomAgain(after: room, dropping: start, from: &buffer)
        }
    }

    /// Drops the outgrown line and gives the next room to try: twice the last.
    @inline(never)
    private static func roomAgain(after room: Int, dropping start: Int, from buffer: inout [UInt8]) -> Int {
        buffer.removeSubrange(start...)
        let next = 2 * max(room, 16)
        // No event comes near this: a line that does is a loop in an encoder, not a long field.
        precondition(next <= 1 << 26, "a JSON line outgrew 64 MiB")
        return next
    }

    /// Fills an outgrown line's free space (JSON text never holds a raw NUL).
    static let outgrownFiller: UInt8 = 0

    /// Bytes a string may take once escaped: `\u00XX` for a control character.
    package static func escapedLength(_ text: String) -> Int { text.utf8.count * 6 + 2 }
}

extension OutputSpan where Element == UInt8 {
    /// Whether `count` more bytes fit, keeping the span's last byte free. When they do not, the
    /// line is outgrown: its free space is filled, last byte included, so every later piece finds
    /// no room either and `JSONLine.append` (which reserves that byte) writes the line again with
    /// more room. A line that fits never touches its last reserved byte.
    @inline(__always)
    package mutating func room(for count: Int) -> Bool {
        if count < freeCapacity { return true }
        markOutgrown()
        return false
    }

    @inline(never)   // once per outgrown line
    private mutating func markOutgrown() {
        while freeCapacity > 0 { append(JSONLine.outgrownFiller) }
    }

    /// A piece did not fit: only `markOutgrown` writes the span's last byte.
    var isOutgrown: Bool { freeCapacity == 0 }

    /// One byte, if it fits.
    @inline(__always)
    package mutating func byte(_ value: UInt8) {
        if room(for: 1) { append(value) }
    }

    /// A literal's bytes as they are: keys with their quotes and punctuation.
    @inline(__always)
    package mutating func raw(_ text: StaticString) {
        // unsafe: the literal's static storage, lent for the call only.
        text.withUTF8Buffer { unsafe bytes(of: $0) }
    }

    /// Bytes the caller owns for the duration of the call, copied at once.
    @inline(__always)
    mutating func bytes(of source: UnsafeBufferPointer<UInt8>) {
        guard room(for: source.count) else { return }
        // unsafe: the source is valid for `source.count` bytes during this call (the caller's
        // promise); the destination is this span's uninitialised tail, checked above to hold as many.
        unsafe withUnsafeMutableBufferPointer { buffer, initialized in
            if let from = source.baseAddress, let to = buffer.baseAddress {
                unsafe (to + initialized).initialize(from: from, count: source.count)
                initialized += source.count
            }
        }
    }

    /// A string finwatch made itself (an enum's raw value, our own words): never needs
    /// escaping, so it is copied as it is, in quotes. One copy of its contiguous UTF-8 (the raw
    /// values are literals, already contiguous), not a walk of its UTF-8 view byte by byte.
    package mutating func trusted(_ text: String) {
        byte(UInt8(ascii: "\""))
        var text = text
        // unsafe: `withUTF8` lends the string's own contiguous storage for the call only.
        text.withUTF8 { unsafe bytes(of: $0) }
        byte(UInt8(ascii: "\""))
    }

    /// `trusted`, or `null`.
    package mutating func trusted(_ text: String?) {
        if let text { trusted(text) } else { raw("null") }
    }

    /// Any string, quoted and escaped (RFC 8259 §7). Takes at most `JSONLine.escapedLength`.
    package mutating func string(_ text: String) {
        guard room(for: JSONLine.escapedLength(text)) else { return }
        append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                append(ASCIIDigits.hex(byte >> 4))
                append(ASCIIDigits.hex(byte & 0xf))
            default: append(byte)
            }
        }
        append(UInt8(ascii: "\""))
    }

    /// `string`, or `null`.
    package mutating func string(_ text: String?) {
        if let text { string(text) } else { raw("null") }
    }

    /// `true` or `false`.
    package mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }

    /// Decimal digits (at most 20), written in place from the last one back: counted first, so
    /// no scratch buffer and no second copy.
    package mutating func decimal(_ value: UInt64) {
        guard room(for: 20) else { return }
        if value < 10 {
            append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        if value < 100 {   // counts and small durations: most numbers of an event
            append(ASCIIDigits.tens(Int(value)))
            append(ASCIIDigits.ones(Int(value)))
            return
        }
        var width = 2
        var limit: UInt64 = 100
        while width < 20 && value >= limit {
            width += 1
            limit &*= 10
        }
        // unsafe: writes `width` bytes into this span's uninitialised tail, checked above to hold them.
        unsafe withUnsafeMutableBufferPointer { buffer, initialized in
            guard let start = buffer.baseAddress else { return }
            var rest = value
            var position = initialized + width
            while rest >= 100 {
                let pair = Int(rest % 100)
                rest /= 100
                position -= 2
                unsafe (start + position).initialize(to: ASCIIDigits.tens(pair))
                unsafe (start + position + 1).initialize(to: ASCIIDigits.ones(pair))
            }
            if rest >= 10 {
                unsafe (start + position - 2).initialize(to: ASCIIDigits.tens(Int(rest)))
                unsafe (start + position - 1).initialize(to: ASCIIDigits.ones(Int(rest)))
            } else {
                unsafe (start + position - 1).initialize(to: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest))
            }
            initialized += width
        }
    }

    /// A signed integer (at most 20 bytes).
    package mutating func int<T: BinaryInteger>(_ value: T) {
        if value < 0 {
            byte(UInt8(ascii: "-"))
            decimal(UInt64(truncatingIfNeeded: value.magnitude))   // Int.min's magnitude fits, its negation does not
        } else {
            decimal(UInt64(value))
        }
    }

    /// Nanoseconds written as milliseconds with microsecond precision: 14_000 ns → `0.014`,
    /// 0 → `0.0`, 1_500_000 → `1.5`. Sub-microsecond parts are truncated, negatives clamp to 0.
    /// At most 18 bytes.
    package mutating func milliseconds(_ nanoseconds: Int64) {
        guard room(for: 18) else { return }
        let micros = UInt64(max(0, nanoseconds) / 1_000)
        decimal(micros / 1_000)
        append(UInt8(ascii: "."))
        let fraction = Int(micros % 1_000)
        if fraction == 0 {
            append(UInt8(ascii: "0"))
            return
        }
        // Three digits, trailing zeros dropped: 14 µs → "014", 500 µs → "5", 120 µs → "12".
        let hundreds = fraction / 100, rest = fraction % 100
        append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: hundreds))
        guard rest != 0 else { return }
        append(ASCIIDigits.tens(rest))
        if rest % 10 != 0 { append(ASCIIDigits.ones(rest)) }
    }

    /// `milliseconds`, or `null`.
    package mutating func milliseconds(_ nanoseconds: Int64?) {
        if let nanoseconds { milliseconds(nanoseconds) } else { raw("null") }
    }

    /// RFC 3339 UTC with microseconds in quotes: `"2026-11-25T02:04:11.706198Z"` (29 bytes).
    package mutating func timestamp(_ time: Timestamp) {
        guard room(for: 29) else { return }
        append(UInt8(ascii: "\""))
        rfc3339(time)
        append(UInt8(ascii: "\""))
    }

    /// `2026-11-25T02:04:11.706198Z`, 27 bytes: the civil date from days since the epoch by
    /// H. Hinnant's algorithm (exact for the proleptic Gregorian calendar, no tables), every
    /// field of fixed width written by constant divisions. `Int64` nanoseconds span the years
    /// 1677 to 2262, so the year always has four digits.
    package mutating func rfc3339(_ time: Timestamp) {
        guard room(for: 27) else { return }
        var seconds = time.nanoseconds / 1_000_000_000
        var nanos = time.nanoseconds % 1_000_000_000
        if nanos < 0 { nanos += 1_000_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)

        twoDigits(Int(year / 100))
        twoDigits(Int(year % 100))
        append(UInt8(ascii: "-"))
        twoDigits(Int(month))
        append(UInt8(ascii: "-"))
        twoDigits(Int(day))
        append(UInt8(ascii: "T"))
        twoDigits(Int(secondOfDay / 3600))
        append(UInt8(ascii: ":"))
        twoDigits(Int(secondOfDay / 60 % 60))
        append(UInt8(ascii: ":"))
        twoDigits(Int(secondOfDay % 60))
        append(UInt8(ascii: "."))
        let micros = Int(nanos / 1_000)
        twoDigits(micros / 10_000)
        twoDigits(micros / 100 % 100)
        twoDigits(micros % 100)
        append(UInt8(ascii: "Z"))
    }

    /// 0–99 as two digits.
    @inline(__always)
    private mutating func twoDigits(_ value: Int) {
        append(ASCIIDigits.tens(value))
        append(ASCIIDigits.ones(value))
    }

    /// An address in quotes, its text written straight into the line (at most 41 bytes).
    package mutating func address(_ ip: IPAddress) {
        guard room(for: IPAddress.maximumTextLength + 2) else { return }
        append(UInt8(ascii: "\""))
        ip.appendText(to: &self)
        append(UInt8(ascii: "\""))
    }
}

extension Timestamp {
    /// `2026-11-25T02:04:11.706198Z`.
    package var rfc3339: String {
        String(decoding: [UInt8](capacity: 28) { $0.rfc3339(self) }, as: UTF8.self)   // 27 and the spare byte
    }
}
