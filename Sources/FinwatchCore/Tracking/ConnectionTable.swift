/// Every tracked connection, keyed by its 4-tuple, with the timers that end them. The only
/// entry point of the tracker: segments and clock ticks in, events out.
package struct ConnectionTable: ~Copyable {
    package let configuration: TrackerConfiguration
    package private(set) var evictions: UInt64 = 0
    package private(set) var duplicates: UInt64 = 0

    package init(configuration: TrackerConfiguration) {
        self.configuration = configuration
    }

    /// Tracked connections now, TIME_WAIT residues included.
    package var count: Int { 0 }

    /// Feeds one segment; appends what it caused to `events` (which the caller reuses, so the
    /// hot path allocates nothing).
    package mutating func observe(_ segment: TCPSegment, into events: inout [Event]) {}

    /// Moves the clock to `time`: fires alerts whose threshold passed, ends TIME_WAIT and idle
    /// connections. Offline the packet clock, live the host clock.
    package mutating func advance(to time: Timestamp, into events: inout [Event]) {}

    /// End of input or shutdown: every tracked connection gets its close record (`reason` goes to
    /// its `ended_by`); firing alerts stay firing.
    package mutating func finish(at time: Timestamp, reason: String, into events: inout [Event]) {}

    /// libpcap dropped packets: every connection tracked now may be missing segments.
    package mutating func noteCaptureDrops() {}

    /// Endpoints in each RFC state now.
    package func endpointCounts() -> [EndpointState: Int] { [:] }

    /// The sides half-closed now (CLOSE_WAIT, FIN_WAIT_2, LAST_ACK), oldest problem first.
    package func halfClosedSnapshot() -> [ConnectionSnapshot] { [] }
}
