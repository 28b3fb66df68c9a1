import FinwatchCore

/// Appending and patching fixed-width integers in either byte order: the fixtures write network
/// headers (always big-endian) and capture-file headers (the writer's choice).
extension Array where Element == UInt8 {
    mutating func append(_ value: UInt16, bigEndian: Bool = true) {
        if bigEndian {
            append(UInt8(truncatingIfNeeded: value >> 8)); append(UInt8(truncatingIfNeeded: value))
        } else {
            append(UInt8(truncatingIfNeeded: value)); append(UInt8(truncatingIfNeeded: value >> 8))
        }
    }

    mutating func append(_ value: UInt32, bigEndian: Bool = true) {
        if bigEndian {
            append(UInt16(truncatingIfNeeded: value >> 16)); append(UInt16(truncatingIfNeeded: value))
        } else {
            append(UInt16(truncatingIfNeeded: value), bigEndian: false)
            append(UInt16(truncatingIfNeeded: value >> 16), bigEndian: false)
        }
    }

    mutating func append(_ value: UInt64, bigEndian: Bool = true) {
        if bigEndian {
            append(UInt32(truncatingIfNeeded: value >> 32)); append(UInt32(truncatingIfNeeded: value))
        } else {
            append(UInt32(truncatingIfNeeded: value), bigEndian: false)
            append(UInt32(truncatingIfNeeded: value >> 32), bigEndian: false)
        }
    }

    /// The address in network order: 4 bytes for IPv4, 16 for IPv6 (no temporary array).
    mutating func append(_ address: IPAddress) {
        if address.isIPv6 {
            append(address.high); append(address.low)
        } else {
            append(UInt32(truncatingIfNeeded: address.low))
        }
    }

    mutating func appendZeros(_ count: Int) {
        if count > 0 { append(contentsOf: repeatElement(0, count: count)) }
    }

    mutating func patch(_ value: UInt16, at offset: Int) {
        self[offset] = UInt8(truncatingIfNeeded: value >> 8)
        self[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    mutating func patch(_ value: UInt32, at offset: Int, bigEndian: Bool) {
        let b0 = UInt8(truncatingIfNeeded: value >> 24), b1 = UInt8(truncatingIfNeeded: value >> 16)
        let b2 = UInt8(truncatingIfNeeded: value >> 8), b3 = UInt8(truncatingIfNeeded: value)
        if bigEndian {
            self[offset] = b0; self[offset + 1] = b1; self[offset + 2] = b2; self[offset + 3] = b3
        } else {
            self[offset] = b3; self[offset + 1] = b2; self[offset + 2] = b1; self[offset + 3] = b0
        }
    }

    /// RFC 1071 one's-complement sum of `range`, added to `initial` (not yet folded or inverted).
    func onesComplementSum(_ range: Range<Int>, initial: UInt32 = 0) -> UInt32 {
        var sum = UInt64(initial)
        var index = range.lowerBound
        while index + 1 < range.upperBound {
            sum &+= UInt64(self[index]) << 8 | UInt64(self[index + 1])
            index += 2
        }
        if index < range.upperBound { sum &+= UInt64(self[index]) << 8 }   // odd length: pad with zero
        while sum >> 32 != 0 { sum = (sum & 0xffff_ffff) + (sum >> 32) }
        return UInt32(sum)
    }
}

/// Folds a one's-complement sum to 16 bits and inverts it: the value written into a header.
func finishChecksum(_ sum: UInt32) -> UInt16 {
    var folded = sum
    while folded >> 16 != 0 { folded = (folded & 0xffff) + (folded >> 16) }
    return ~UInt16(truncatingIfNeeded: folded)
}
