/// ASCII digit lookups for text written byte by byte (addresses, JSON): a pair of decimal digits from one division by 100 instead of
/// two by 10, and hex nibbles.
enum ASCIIDigits {
    /// The tens digit of 0–99.
    @inline(__always)
    static func tens(_ value: Int) -> UInt8 { UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value / 10) }

    /// The ones digit of 0–99.
    @inline(__always)
    static func ones(_ value: Int) -> UInt8 { UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10) }

    /// A lower-case hex digit for 0–15.
    @inline(__always)
    static func hex(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ nibble &- 10 }
}
