/// A point in time: nanoseconds since the Unix epoch. Offline it is the packet's own capture
/// time (pcap files may carry nanoseconds), live the host clock; the core never reads a clock.
package struct Timestamp: Comparable, Hashable, Sendable, BitwiseCopyable {
    package var nanoseconds: Int64

    package init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    package init(seconds: Int64, nanoseconds: Int64 = 0) {
        self.nanoseconds = seconds &* 1_000_000_000 &+ nanoseconds
    }

    package static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// Test and fixture shorthand: `milliseconds` after the epoch.
    package static func ms(_ milliseconds: Double) -> Timestamp {
        Timestamp(nanoseconds: Int64((milliseconds * 1_000_000).rounded()))
    }

    /// Saturating: a huge configured duration must not trap.
    package func adding(nanoseconds delta: Int64) -> Timestamp {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(delta)
        return Timestamp(nanoseconds: overflow ? (delta > 0 ? .max : .min) : sum)
    }

    /// Nanoseconds from `earlier` to `self`; negative if `earlier` is later.
    package func nanoseconds(since earlier: Timestamp) -> Int64 { nanoseconds &- earlier.nanoseconds }
}
