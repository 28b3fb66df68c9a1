/// A connection's 4-tuple in canonical order (the lower endpoint first), so both directions of a
/// connection find the same entry. 40 bytes: addresses as words, no heap.
package struct FlowKey: Hashable, Sendable {
    var aHigh: UInt64
    var aLow: UInt64
    var bHigh: UInt64
    var bLow: UInt64
    var aPort: UInt16
    var bPort: UInt16
    var isIPv6: Bool

    /// The key of `segment`'s connection; `senderIsA` is `FlowKey.senderIsA(segment)`, which the
    /// caller needs too and so computes once.
    init(_ segment: TCPSegment, senderIsA sourceFirst: Bool) {
        let (a, ap, b, bp) = sourceFirst
            ? (segment.source, segment.sourcePort, segment.destination, segment.destinationPort)
            : (segment.destination, segment.destinationPort, segment.source, segment.sourcePort)
        aHigh = a.high
        aLow = a.low
        bHigh = b.high
        bLow = b.low
        aPort = ap
        bPort = bp
        isIPv6 = segment.source.isIPv6
    }

    static func senderIsA(_ segment: TCPSegment) -> Bool {
        (segment.source.high, segment.source.low, segment.sourcePort)
            <= (segment.destination.high, segment.destination.low, segment.destinationPort)
    }

    var a: Endpoint { Endpoint(ip: address(aHigh, aLow), port: aPort) }
    var b: Endpoint { Endpoint(ip: address(bHigh, bLow), port: bPort) }

    private func address(_ high: UInt64, _ low: UInt64) -> IPAddress {
        isIPv6 ? IPAddress(ipv6High: high, low: low) : IPAddress(ipv4: UInt32(truncatingIfNeeded: low))
    }

    /// A fast keyed mix (not SipHash: the table seeds it per run, and probes are short).
    func hashValue(seed: UInt64) -> UInt64 {
        // Unrolled: an array literal here would allocate on every packet.
        @inline(__always) func mix(_ h: UInt64, _ word: UInt64) -> UInt64 {
            let m = (h ^ word) &* 0xBF58_476D_1CE4_E5B9
            return m ^ (m >> 31)
        }
        var h = seed ^ 0x9E37_79B9_7F4A_7C15
        h = mix(h, aHigh)
        h = mix(h, aLow)
        h = mix(h, bHigh)
        h = mix(h, bLow)
        h = mix(h, UInt64(aPort) << 16 | UInt64(bPort) | (isIPv6 ? 1 << 32 : 0))
        return h
    }
}
