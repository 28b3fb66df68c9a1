/// A minimal JSON writer appending UTF-8 to a byte buffer: objects, arrays and scalars, with
/// commas handled for the caller. Enough for the contract's flat events, and no Foundation.
package struct JSONWriter {
    package var bytes: [UInt8]
    /// One entry per open object/array: whether the next member needs a leading comma.
    private var needsComma: [Bool] = []

    package init(reserving capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    package mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    package mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma.removeLast() }
    package mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    package mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma.removeLast() }

    /// Starts a member: `"name":`. The next value call writes its value.
    package mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        // Names are our own ASCII literals: no escaping needed.
        bytes.append(contentsOf: name.description.utf8)
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        suppressNextComma = true
    }

    /// A member name not known at compile time (escaped like any string).
    package mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        suppressNextComma = true
    }

    package mutating func string(_ value: String) { separate(); appendQuoted(value) }
    package mutating func string(_ value: String?) { value.map { string($0) } ?? null() }
    package mutating func int<T: BinaryInteger>(_ value: T) { separate(); bytes.append(contentsOf: "\(value)".utf8) }
    package mutating func bool(_ value: Bool) { separate(); bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    package mutating func null() { separate(); bytes.append(contentsOf: "null".utf8) }

    /// Nanoseconds written as milliseconds with microsecond precision: 14_000 ns → `0.014`,
    /// 0 → `0.0`, 1_500_000 → `1.5`. Sub-microsecond parts are truncated, negatives clamp to 0.
    package mutating func milliseconds(_ nanoseconds: Int64) {
        separate()
        let micros = max(0, nanoseconds) / 1_000
        var fraction = Int(micros % 1_000)
        bytes.append(contentsOf: "\(micros / 1_000).".utf8)
        if fraction == 0 { bytes.append(UInt8(ascii: "0")); return }
        var digits = 3
        while fraction % 10 == 0 { fraction /= 10; digits -= 1 }
        let text = "\(fraction)"
        for _ in 0..<(digits - text.utf8.count) { bytes.append(UInt8(ascii: "0")) }
        bytes.append(contentsOf: text.utf8)
    }

    package mutating func milliseconds(_ nanoseconds: Int64?) { nanoseconds.map { milliseconds($0) } ?? null() }

    /// RFC 3339 UTC with microseconds: `2026-11-25T02:04:11.706198Z`.
    package mutating func timestamp(_ time: Timestamp) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        time.appendRFC3339(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    // MARK: - Internals

    private var suppressNextComma = false

    private mutating func separate() {
        if suppressNextComma { suppressNextComma = false; return }
        guard let last = needsComma.indices.last else { return }
        if needsComma[last] { bytes.append(UInt8(ascii: ",")) } else { needsComma[last] = true }
    }

    private mutating func appendQuoted(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(byte >> 4)], hex[Int(byte & 0xf)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension Timestamp {
    /// Civil date from days since the epoch (H. Hinnant's algorithm): exact for the proleptic
    /// Gregorian calendar, no tables, no Foundation.
    package func appendRFC3339(to bytes: inout [UInt8]) {
        var seconds = nanoseconds / 1_000_000_000
        var nanos = nanoseconds % 1_000_000_000
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

        func pad(_ value: Int64, _ width: Int) {
            let text = "\(value)"
            for _ in 0..<max(0, width - text.utf8.count) { bytes.append(UInt8(ascii: "0")) }
            bytes.append(contentsOf: text.utf8)
        }
        pad(year, 4); bytes.append(UInt8(ascii: "-")); pad(month, 2); bytes.append(UInt8(ascii: "-")); pad(day, 2)
        bytes.append(UInt8(ascii: "T"))
        pad(secondOfDay / 3600, 2); bytes.append(UInt8(ascii: ":"))
        pad(secondOfDay / 60 % 60, 2); bytes.append(UInt8(ascii: ":"))
        pad(secondOfDay % 60, 2); bytes.append(UInt8(ascii: "."))
        pad(nanos / 1_000, 6)
        bytes.append(UInt8(ascii: "Z"))
    }

    /// `2026-11-25T02:04:11.706198Z`.
    package var rfc3339: String {
        var bytes: [UInt8] = []
        appendRFC3339(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
