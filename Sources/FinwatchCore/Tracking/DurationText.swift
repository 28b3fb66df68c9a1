/// The contract's DURATION syntax: a number and a unit, `250ms`, `3s`, `2m`, `1h` (also `us`,
/// `d`, and decimals such as `1.5s`). Parsed to nanoseconds.
package enum DurationText {
    package static let microsecond: Int64 = 1_000
    package static let millisecond: Int64 = 1_000_000
    package static let second: Int64 = 1_000_000_000

    /// Nanoseconds, or nil when `text` is not a duration (no unit, unknown unit, negative, overflow).
    package static func parse(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [
            ("us", microsecond), ("ms", millisecond), ("s", second), ("m", 60 * second),
            ("h", 3600 * second), ("d", 86_400 * second),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            // "ms" also ends in "s": only accept a number before the suffix.
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                  number.filter({ $0 == "." }).count <= 1, number.first != ".", number.last != "."
            else { continue }
            guard let value = Double(number) else { return nil }
            let nanoseconds = value * Double(scale)
            guard nanoseconds.isFinite, nanoseconds < 9.0e18 else { return nil }
            return Int64(nanoseconds.rounded())
        }
        return nil
    }

    /// The shortest exact spelling of `nanoseconds` in the largest whole unit ("60s", "250ms").
    package static func format(_ nanoseconds: Int64) -> String {
        for (suffix, scale) in [("h", 3600 * second), ("m", 60 * second), ("s", second), ("ms", millisecond), ("us", microsecond)]
        where nanoseconds != 0 && nanoseconds % scale == 0 {
            return "\(nanoseconds / scale)\(suffix)"
        }
        return "\(nanoseconds)ns"
    }
}
