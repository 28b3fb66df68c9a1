/// A connection's 4-tuple in canonical order (the lower endpoint first), so both directions of a
/// connection find the same entry. 40 bytes: addresses as words, no heap.
package struct FlowKey: Hashable, Sendable, BitwiseCopyable {
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
        let (source, destination) = (segment.sourceWords, segment.destinationWords)
        (aHigh, aLow, aPort, bHigh, bLow, bPort) = sourceFirst
            ? (source.high, source.low, segment.sourcePort, destination.high, destination.low, segment.destinationPort)
            : (destination.high, destination.low, segment.destinationPort, source.high, source.low, segment.sourcePort)
        isIPv6 = segment.isIPv6
    }

    static func senderIsA(_ segment: TCPSegment) -> Bool {
        let (source, destination) = (segment.sourceWords, segment.destinationWords)
        return (source.high, source.low, segment.sourcePort) <= (destination.high, destination.low, segment.destinationPort)
    }

    var a: Endpoint { Endpoint(ip: address(aHigh, aLow), port: aPort) }
    var b: Endpoint { Endpoint(ip: address(bHigh, bLow), port: bPort) }

    /// The connection's identity in events, orig and resp from this canonical pair.
    func identity(uidNumber: UInt64, origIsA: Bool, handshakeSeen: Bool) -> ConnectionIdentity {
        let (orig, resp) = origIsA ? (a, b) : (b, a)
        return ConnectionIdentity(uidNumber: uidNumber, orig: orig, resp: resp, handshakeSeen: handshakeSeen)
    }

    private func address(_ high: UInt64, _ low: UInt64) -> IPAddress {
        isIPv6 ? IPAddress(ipv6High: high, low: low) : IPAddress(ipv4: UInt32(truncatingIfNeeded: low))
    }

    /// A fast keyed mix (not SipHash: the table seeds it per run, and probes are short). The four
    /// address words are multiplied independently, so the CPU overlaps them; one final multiply
    /// and shift spread every input bit over the result (the index uses both ends of it).
    @inline(__always)
    func hashValue(seed: UInt64) -> UInt64 {
        let a = (aLow ^ seed) &* 0x9E37_79B9_7F4A_7C15
        let b = (bLow ^ (seed >> 29 | seed << 35)) &* 0xBF58_476D_1CE4_E5B9
        let c = (aHigh ^ 0x2545_F491_4F6C_DD1D) &* 0xD6E8_FEB8_6659_FD93
        let d = (bHigh ^ 0x6A09_E667_F3BC_C909) &* 0x94D0_49BB_1331_11EB
        let ports = UInt64(aPort) << 16 | UInt64(bPort) | (isIPv6 ? 1 << 32 : 0)
        var h = (a ^ (b >> 32 | b << 32) ^ c ^ (d >> 17 | d << 47) ^ ports ^ seed) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 31
        return h
    }
}
