/// The local ephemeral port range (`net.ipv4.ip_local_port_range`), both ends included.
package struct EphemeralPortRange: Sendable, Equatable {
    package var low: UInt16
    package var high: UInt16

    package init?(low: Int, high: Int) {
        guard (1...65535).contains(low), (low...65535).contains(high) else { return nil }
        self.low = UInt16(low)
        self.high = UInt16(high)
    }

    /// How many local ports connect() may pick from for one destination.
    package var size: Int { Int(high) - Int(low) + 1 }
}

/// `--port-exhaustion-threshold`: when the local ports held toward one destination reach this
/// many, warn. A fraction of the range follows the range when it changes; a count does not.
package enum PortExhaustionThreshold: Sendable, Equatable {
    case fraction(Double)
    case count(Int)

    /// The default: four fifths of the range (22,586 of Linux's default 28,232 ports).
    package static let `default` = PortExhaustionThreshold.fraction(0.8)

    /// The number of held ports that warns, for a range of `rangeSize` ports, on one of `shards`
    /// trackers: `--workers` spreads one destination's connections evenly over them (the fanout
    /// hashes each 4-tuple), so each checks its share.
    package func limit(rangeSize: Int, shards: Int = 1) -> Int {
        let total: Double = switch self {
        case .fraction(let fraction): fraction * Double(rangeSize)
        case .count(let count): Double(count)
        }
        return max(1, Int((total / Double(max(1, shards))).rounded(.up)))
    }
}

/// What a `port_exhaustion` anomaly says beyond its connection: the figures at the moment the
/// threshold was reached.
package struct PortExhaustion: Sendable, Equatable {
    /// Connections toward the destination holding a local port: open, closing, or in TIME_WAIT.
    package var held: Int
    /// Of those, the ones in TIME_WAIT.
    package var timeWait: Int
    /// The count that warns (the flag applied to the range).
    package var threshold: Int
    package var range: EphemeralPortRange

    package init(held: Int, timeWait: Int, threshold: Int, range: EphemeralPortRange) {
        self.held = held
        self.timeWait = timeWait
        self.threshold = threshold
        self.range = range
    }
}

/// The local ports this host's connections hold toward each remote service. Linux gives each
/// connect() a local port unique per (local address, remote address, remote port) from
/// `ip_local_port_range`; a port stays held while the opener's socket exists — open, closing,
/// and for TIME_WAIT's 60 s after an active close. When the held ports reach the range's size,
/// connect() fails with EADDRNOTAVAIL ("cannot assign requested address"). The opener is the
/// connection's orig; its state decides: held unless CLOSED.
///
/// Pure counting: the range comes from the caller (the executable reads it live), and a warning
/// is returned, once when a destination reaches the threshold, and again only after its count
/// has fallen below nine tenths of it.
package struct EphemeralPortUse: Sendable {
    /// (local address, remote address, remote port): the words of `FlowKey`, orig's then resp's.
    struct Destination: Hashable, Sendable {
        var localHigh: UInt64
        var localLow: UInt64
        var remoteHigh: UInt64
        var remoteLow: UInt64
        var remotePort: UInt16
        var isIPv6: Bool

        /// Where the connection keyed `key` goes: from orig's address to resp's address and port.
        init(_ key: FlowKey, origIsA: Bool) {
            (localHigh, localLow, remoteHigh, remoteLow, remotePort) = origIsA
                ? (key.aHigh, key.aLow, key.bHigh, key.bLow, key.bPort)
                : (key.bHigh, key.bLow, key.aHigh, key.aLow, key.aPort)
            isIPv6 = key.isIPv6
        }

        /// One word into the hasher, not six: the table does this on every connection's start,
        /// TIME_WAIT and end, and SipHash's cost grows with the bytes given to it.
        func hash(into hasher: inout Hasher) {
            let local = (localLow &* 0x9E37_79B9_7F4A_7C15) ^ localHigh
            let remote = (remoteLow &* 0xBF58_476D_1CE4_E5B9) ^ (remoteHigh >> 7 | remoteHigh << 57)
            hasher.combine(local ^ (remote >> 32 | remote << 32) ^ UInt64(remotePort) << 1 ^ (isIPv6 ? 1 : 0))
        }
    }

    struct Tally: Sendable {
        var held: Int32 = 0
        var timeWait: Int32 = 0
        var warned = false
    }

    package let threshold: PortExhaustionThreshold
    let shards: Int
    /// Only destinations holding at least one port: an entry goes when its count reaches zero.
    private(set) var destinations: [Destination: Tally] = [:]
    package private(set) var range: EphemeralPortRange?
    /// The threshold applied to `range`; nil until a range is known (no warning without one).
    package private(set) var limit: Int?

    package init(threshold: PortExhaustionThreshold, shards: Int = 1, range: EphemeralPortRange? = nil) {
        self.threshold = threshold
        self.shards = shards
        setRange(range)
    }

    /// The range read live; a narrower range warns sooner from the next connection on.
    package mutating func setRange(_ range: EphemeralPortRange?) {
        self.range = range
        limit = range.map { threshold.limit(rangeSize: $0.size, shards: shards) }
    }

    /// Destinations holding ports now.
    package var destinationCount: Int { destinations.count }

    /// The most ports held toward one destination now (0 when none): the gauge.
    package var busiest: Int {
        var most: Int32 = 0
        for tally in destinations.values where tally.held > most { most = tally.held }
        return Int(most)
    }

    /// Ports held, and of them in TIME_WAIT, per destination now (the tests' view).
    var heldByDestination: [Destination: (held: Int, timeWait: Int)] {
        destinations.mapValues { (Int($0.held), Int($0.timeWait)) }
    }

    /// The opener moved from `old` to `new` (nil: the connection was not tracked before, or is not
    /// any more). Returns the warning when this move made the destination reach the threshold.
    mutating func openerMoved(_ destination: Destination, from old: EndpointState?,
                              to new: EndpointState?) -> PortExhaustion? {
        let heldDelta = Int32(Self.holds(new)) - Int32(Self.holds(old))
        let timeWaitDelta = Int32(new == .timeWait ? 1 : 0) - Int32(old == .timeWait ? 1 : 0)
        guard heldDelta != 0 || timeWaitDelta != 0 else { return nil }
        // Changed in place: one hash of the key, a second only when the entry goes.
        let (warning, emptied) = Self.apply(heldDelta, timeWaitDelta, to: &destinations[destination, default: Tally()],
                                            limit: limit, range: range)
        if emptied { destinations.removeValue(forKey: destination) }
        return warning
    }

    private static func apply(_ heldDelta: Int32, _ timeWaitDelta: Int32, to tally: inout Tally, limit: Int?,
                              range: EphemeralPortRange?) -> (PortExhaustion?, emptied: Bool) {
        tally.held += heldDelta
        tally.timeWait += timeWaitDelta
        var warning: PortExhaustion?
        if let limit, let range {
            if heldDelta > 0 && !tally.warned && Int(tally.held) >= limit {
                tally.warned = true
                warning = PortExhaustion(held: Int(tally.held), timeWait: Int(tally.timeWait), threshold: limit, range: range)
            } else if tally.warned && Int(tally.held) < rearmLevel(limit) {
                tally.warned = false
            }
        }
        return (warning, tally.held <= 0)
    }

    /// Below this many held ports a destination that warned may warn again: a count hovering at
    /// the threshold warns once, not on every connection.
    static func rearmLevel(_ limit: Int) -> Int { limit - max(1, limit / 10) }

    /// Whether a socket in `state` holds its local port: every state but CLOSED (and untracked).
    static func holds(_ state: EndpointState?) -> Int {
        guard let state, state != .closed else { return 0 }
        return 1
    }

    /// Forgets every destination (the table forgot every connection).
    mutating func removeAll() { destinations.removeAll() }
}
