/// A 32-bit TCP sequence number. Comparison is modulo 2^32 (RFC 9293 §3.4): `a < b` when the
/// signed wrapping difference is negative, so ordering survives wrap-around and never traps.
package struct SequenceNumber: Hashable, Sendable, Comparable, BitwiseCopyable {
    package var raw: UInt32

    package init(_ raw: UInt32) { self.raw = raw }

    package static func < (lhs: SequenceNumber, rhs: SequenceNumber) -> Bool {
        Int32(bitPattern: lhs.raw &- rhs.raw) < 0
    }

    package static func + (lhs: SequenceNumber, rhs: UInt32) -> SequenceNumber {
        SequenceNumber(lhs.raw &+ rhs)
    }

    /// Signed distance from `other` to `self`, modulo 2^32.
    package func distance(from other: SequenceNumber) -> Int32 { Int32(bitPattern: raw &- other.raw) }
}
