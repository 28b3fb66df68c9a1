/// Where text is written a byte at a time: a byte array, or the JSON writer (which gathers the
/// bytes before they reach its array). The address, timestamp and Community ID writers take any.
package protocol ByteSink {
    mutating func put(_ byte: UInt8)
}

extension Array: ByteSink where Element == UInt8 {
    package mutating func put(_ byte: UInt8) { append(byte) }
}

/// A minimal JSON writer appending UTF-8 to a byte buffer: objects, arrays and scalars, with
/// commas handled for the caller. Enough for the contract's flat events, and no Foundation.
///
/// Bytes gather in a small inline buffer and reach the array 256 at a time: appended one by one,
/// every byte paid the array's uniqueness and capacity checks (a runtime call each), which was
/// the largest part of encoding an event.
package struct JSONWriter: ByteSink {
    private var storage: [UInt8]
    private var pending = InlineArray<256, UInt8>(repeating: 0)
    private var pendingCount = 0
    /// Bit `d` set: the object or array open at depth `d` already has a member, so the next one
    /// needs a comma. A bit stack instead of an array: no allocation per event (64 levels deep).
    private var needsComma: UInt64 = 0
    private var depth = 0

    package init(reserving capacity: Int = 512) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    /// Everything written so far.
    package var bytes: [UInt8] {
        mutating get {
            flush()
            return storage
        }
    }

    /// Writes into `buffer`'s storage (moved in, not copied) and puts it back when `body` ends.
    package static func appending(to buffer: inout [UInt8], _ body: (inout JSONWriter) -> Void) {
        var writer = JSONWriter(reserving: 0)
        swap(&writer.storage, &buffer)
        body(&writer)
        writer.flush()
        swap(&writer.storage, &buffer)
    }

    /// One byte.
    @inline(__always)
    package mutating func put(_ byte: UInt8) {
        if pendingCount == 256 { flush() }
        pending[pendingCount] = byte
        pendingCount &+= 1
    }

    /// Bytes from a buffer the caller owns for the duration of the call.
    private mutating func put(_ buffer: UnsafeBufferPointer<UInt8>) {
        if pendingCount + buffer.count <= 256 {
            for index in buffer.indices { unsafe pending[pendingCount &+ index] = buffer[index] }
            pendingCount &+= buffer.count
        } else {
            flush()
            unsafe storage.append(contentsOf: buffer)
        }
    }

    /// Moves the gathered bytes to the array.
    private mutating func flush() {
        guard pendingCount > 0 else { return }
        let count = pendingCount
        // unsafe: the inline buffer's own storage, read within the call, `count` <= its size.
        unsafe pending.span.withUnsafeBufferPointer { unsafe storage.append(contentsOf: UnsafeBufferPointer(rebasing: $0[..<count])) }
        pendingCount = 0
    }

    package mutating func beginObject() { separate(); put(UInt8(ascii: "{")); open() }
    package mutating func endObject() { put(UInt8(ascii: "}")); close() }
    package mutating func beginArray() { separate(); put(UInt8(ascii: "[")); open() }
    package mutating func endArray() { put(UInt8(ascii: "]")); close() }

    private mutating func open() {
        depth += 1
        needsComma &= ~(1 << UInt64(depth & 63))
    }

    private mutating func close() { depth -= 1 }

    /// Starts a member: `"name":`. The next value call writes its value.
    package mutating func key(_ name: StaticString) {
        separate()
        put(UInt8(ascii: "\""))
        // unsafe: the literal's own static storage, read within the call. Names are our ASCII literals.
        name.withUTF8Buffer { unsafe put($0) }
        put(UInt8(ascii: "\""))
        put(UInt8(ascii: ":"))
        suppressNextComma = true
    }

    /// A member name not known at compile time (escaped like any string). Labelled, because an
    /// unlabelled `key(_: String)` would win overload resolution over `key(_: StaticString)` for
    /// every literal and scan each name for characters to escape.
    package mutating func key(dynamic name: String) {
        separate()
        appendQuoted(name)
        put(UInt8(ascii: ":"))
        suppressNextComma = true
    }

    package mutating func string(_ value: String) { separate(); appendQuoted(value) }

    /// A string finwatch made itself (an enum's raw value, a uid, a Community ID, a number's
    /// text): never needs escaping, so it is copied without being scanned.
    package mutating func trusted(_ value: String) {
        separate()
        put(UInt8(ascii: "\""))
        appendUTF8(value)
        put(UInt8(ascii: "\""))
    }

    /// Appends a string's bytes in one copy. Appending a `String.UTF8View` element by element
    /// was 8% of the benchmark; `withUTF8` hands over contiguous storage (a stack copy for small
    /// strings) for a single bulk append.
    package mutating func appendUTF8(_ value: String) {
        var text = value
        // unsafe: the buffer is `text`'s own storage, valid for the duration of the closure only.
        text.withUTF8 { unsafe put($0) }
    }

    package mutating func trusted(_ value: String?) { value.map { trusted($0) } ?? null() }
    package mutating func string(_ value: String?) { value.map { string($0) } ?? null() }
    package mutating func int<T: BinaryInteger>(_ value: T) {
        separate()
        if value < 0 {
            put(UInt8(ascii: "-"))
            appendDecimal(UInt64(truncatingIfNeeded: 0 - Int64(value)))
        } else {
            appendDecimal(UInt64(value))
        }
    }

    /// Decimal digits without going through String (this runs for every number of every event).
    package mutating func appendDecimal(_ value: UInt64) {
        if value < 10 {
            put(UInt8(ascii: "0") &+ UInt8(value))
            return
        }
        var digits = InlineArray<20, UInt8>(repeating: 0)
        var rest = value
        var start = 20
        while rest > 0 {
            start -= 1
            digits[start] = UInt8(ascii: "0") &+ UInt8(rest % 10)
            rest /= 10
        }
        for index in start..<20 { put(digits[index]) }
    }
    package mutating func bool(_ value: Bool) { separate(); raw(value ? "true" : "false") }
    package mutating func null() { separate(); raw("null") }

    /// A literal's bytes as they are (no quotes).
    private mutating func raw(_ text: StaticString) {
        // unsafe: the literal's own static storage, read within the call.
        text.withUTF8Buffer { unsafe put($0) }
    }

    /// Nanoseconds written as milliseconds with microsecond precision: 14_000 ns → `0.014`,
    /// 0 → `0.0`, 1_500_000 → `1.5`. Sub-microsecond parts are truncated, negatives clamp to 0.
    package mutating func milliseconds(_ nanoseconds: Int64) {
        separate()
        let micros = UInt64(max(0, nanoseconds) / 1_000)
        appendDecimal(micros / 1_000)
        put(UInt8(ascii: "."))
        var fraction = micros % 1_000
        if fraction == 0 { put(UInt8(ascii: "0")); return }
        // Three digits, then drop trailing zeros: 14 µs → "014" → "014", 500 µs → "5".
        var width = 3
        while fraction % 10 == 0 { fraction /= 10; width -= 1 }
        var scale: UInt64 = 1
        for _ in 1..<width { scale *= 10 }
        while scale > 0 {
            put(UInt8(ascii: "0") &+ UInt8(fraction / scale % 10))
            scale /= 10
        }
    }

    package mutating func milliseconds(_ nanoseconds: Int64?) { nanoseconds.map { milliseconds($0) } ?? null() }

    /// RFC 3339 UTC with microseconds: `2026-11-25T02:04:11.706198Z`.
    package mutating func timestamp(_ time: Timestamp) {
        separate()
        put(UInt8(ascii: "\""))
        time.appendRFC3339(to: &self)
        put(UInt8(ascii: "\""))
    }

    // MARK: - Internals

    private var suppressNextComma = false

    mutating func separate() {
        if suppressNextComma { suppressNextComma = false; return }
        guard depth > 0 else { return }
        let bit: UInt64 = 1 << UInt64(depth & 63)
        if needsComma & bit != 0 { put(UInt8(ascii: ",")) } else { needsComma |= bit }
    }

    private mutating func appendQuoted(_ value: String) {
        put(UInt8(ascii: "\""))
        // Almost every string (addresses, uids, names) needs no escaping: copy it whole.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            appendUTF8(value)
            put(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                put(hex[Int(byte >> 4)])
                put(hex[Int(byte & 0xf)])
            default: put(byte)
            }
        }
        put(UInt8(ascii: "\""))
    }
}

extension Timestamp {
    /// Civil date from days since the epoch (H. Hinnant's algorithm): exact for the proleptic
    /// Gregorian calendar, no tables, no Foundation.
    package func appendRFC3339<Sink: ByteSink>(to bytes: inout Sink) {
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
            var scale: Int64 = 1
            for _ in 1..<width { scale *= 10 }
            var rest = value
            if rest >= scale * 10 {   // wider than the field (a year past 9999): all digits
                while scale * 10 <= rest { scale *= 10 }
            }
            while scale > 0 {
                bytes.put(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / scale % 10))
                rest %= scale
                scale /= 10
            }
        }
        pad(year, 4); bytes.put(UInt8(ascii: "-")); pad(month, 2); bytes.put(UInt8(ascii: "-")); pad(day, 2)
        bytes.put(UInt8(ascii: "T"))
        pad(secondOfDay / 3600, 2); bytes.put(UInt8(ascii: ":"))
        pad(secondOfDay / 60 % 60, 2); bytes.put(UInt8(ascii: ":"))
        pad(secondOfDay % 60, 2); bytes.put(UInt8(ascii: "."))
        pad(nanos / 1_000, 6)
        bytes.put(UInt8(ascii: "Z"))
    }

    /// `2026-11-25T02:04:11.706198Z`.
    package var rfc3339: String {
        var bytes: [UInt8] = []
        appendRFC3339(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension JSONWriter {
    /// A string value known at compile time to need no escaping.
    package mutating func literal(_ value: StaticString) {
        separate()
        put(UInt8(ascii: "\""))
        // unsafe: the literal's own static storage, read within the call.
        value.withUTF8Buffer { unsafe put($0) }
        put(UInt8(ascii: "\""))
    }

    /// An address as a JSON string, its text written straight into the buffer.
    package mutating func address(_ ip: IPAddress) {
        separate()
        put(UInt8(ascii: "\""))
        ip.appendText(to: &self)
        put(UInt8(ascii: "\""))
    }
}
