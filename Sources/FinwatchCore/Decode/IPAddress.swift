/// An IPv4 or IPv6 address held in two integers, so hashing and comparing cost two words.
/// IPv4 lives in the low 32 bits of `low` with `high == 0` and `isIPv6 == false`.
package struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The first 8 bytes of the address in network order, read as a big-endian integer.
    package var high: UInt64
    /// The last 8 bytes (IPv4: the 4 bytes, in the low half).
    package var low: UInt64
    package var isIPv6: Bool

    package init(ipv4 address: UInt32) {
        high = 0
        low = UInt64(address)
        isIPv6 = false
    }

    package init(ipv6High high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
        isIPv6 = true
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text ("::1", "2001:db8::2"); nil if malformed.
    package init?(_ text: String) {
        if text.contains(":") {
            guard let (h, l) = IPAddress.parseIPv6(text) else { return nil }
            self.init(ipv6High: h, low: l)
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var value: UInt32 = 0
            for part in parts {
                guard !part.isEmpty, part.count <= 3, let octet = UInt8(part) else { return nil }
                value = value << 8 | UInt32(octet)
            }
            self.init(ipv4: value)
        }
    }

    package static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        (lhs.isIPv6 ? 1 : 0, lhs.high, lhs.low) < (rhs.isIPv6 ? 1 : 0, rhs.high, rhs.low)
    }

    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    package var bytes: [UInt8] {
        if !isIPv6 {
            let v = UInt32(truncatingIfNeeded: low)
            return [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
        }
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for word in [high, low] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return out
    }

    /// Dotted quad for IPv4; RFC 5952 canonical text for IPv6 (lower case, longest zero run as "::").
    package var description: String {
        String(decoding: [UInt8](capacity: IPAddress.maximumTextLength) { appendText(to: &$0) }, as: UTF8.self)
    }

    /// The longest text an address has: eight groups of four hex digits and seven colons.
    package static let maximumTextLength = 39

    /// Appends `description`'s text to `bytes`.
    package func appendText(to bytes: inout [UInt8]) {
        bytes.append(addingCapacity: IPAddress.maximumTextLength) { appendText(to: &$0) }
    }

    /// Writes `description`'s text (at most 39 bytes) without building a String: every event
    /// carries two addresses, and the output thread writes hundreds of thousands of events a second.
    package func appendText(to out: inout OutputSpan<UInt8>) {
        if !isIPv6 {
            let value = UInt32(truncatingIfNeeded: low)
            IPAddress.appendOctet(Int(value >> 24), to: &out)
            out.append(UInt8(ascii: "."))
            IPAddress.appendOctet(Int(value >> 16 & 0xff), to: &out)
            out.append(UInt8(ascii: "."))
            IPAddress.appendOctet(Int(value >> 8 & 0xff), to: &out)
            out.append(UInt8(ascii: "."))
            IPAddress.appendOctet(Int(value & 0xff), to: &out)
            return
        }
        var groups = InlineArray<8, UInt16>(repeating: 0)
        for i in 0..<4 {
            groups[i] = UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i))
            groups[i + 4] = UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * i))
        }
        // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first if tied.
        var bestStart = -1, bestLength = 0, index = 0
        while index < 8 {
            if groups[index] == 0 {
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > bestLength && end - index >= 2 { bestStart = index; bestLength = end - index }
                index = end
            } else {
                index += 1
            }
        }
        var needsColon = false
        index = 0
        while index < 8 {
            if index == bestStart {
                out.append(UInt8(ascii: ":"))
                out.append(UInt8(ascii: ":"))
                index += bestLength
                needsColon = false
                continue
            }
            if needsColon { out.append(UInt8(ascii: ":")) }
            // Lower-case hex without leading zeros (§4.1, §4.3).
            let group = groups[index]
            var shift = 12
            while shift > 0 && (group >> UInt16(shift)) & 0xf == 0 { shift -= 4 }
            while shift >= 0 {
                out.append(ASCIIDigits.hex(UInt8(truncatingIfNeeded: group >> UInt16(shift)) & 0xf))
                shift -= 4
            }
            needsColon = true
            index += 1
        }
    }

    /// 0–255 without leading zeros.
    @inline(__always)
    private static func appendOctet(_ octet: Int, to out: inout OutputSpan<UInt8>) {
        if octet >= 100 {
            let hundreds = octet / 100, rest = octet - hundreds * 100
            out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: hundreds))
            out.append(ASCIIDigits.tens(rest))
            out.append(ASCIIDigits.ones(rest))
        } else if octet >= 10 {
            out.append(ASCIIDigits.tens(octet))
            out.append(ASCIIDigits.ones(octet))
        } else {
            out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: octet))
        }
    }

    private static func parseIPv6(_ text: String) -> (UInt64, UInt64)? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !piece.isEmpty, piece.count <= 4, let value = UInt16(piece, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all: [UInt16]
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<4 { high = high << 16 | UInt64(all[i]) }
        for i in 4..<8 { low = low << 16 | UInt64(all[i]) }
        return (high, low)
    }
}

private extension String {
    /// Splits on a multi-character separator (the standard library has no such split without Foundation).
    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
