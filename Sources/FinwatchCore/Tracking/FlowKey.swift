/// A connection's 4-tuple in canonical order (the lower endpoint first), so both directions of a
/// connection find the same entry. 40 bytes: addresses as words, no heap.
package struct FlowKey: Hashable, Sendable, BitwiseCopyable {
    var aHigh: UInt64
    var aLow: UInt64
    var bHigh: UInt64
    var bLow: UInt64
    /// A's port above B's: a lookup compares a key as four words, this and the family.
    private var ports: UInt32
    var isIPv6: Bool

    var aPort: UInt16 { UInt16(truncatingIfNeeded: ports >> 16) }
    var bPort: UInt16 { UInt16(truncatingIfNeeded: ports) }

    /// The key of `segment`'s connection; `senderIsA` is `FlowKey.senderIsA(segment)`, which the
    /// caller needs too and so computes once.
    init(_ segment: TCPSegment, senderIsA sourceFirst: Bool) {
        let (source, destination) = (segment.sourceWords, segment.destinationWords)
        let (sourcePort, destinationPort) = (UInt32(segment.sourcePort), UInt32(segment.destinationPort))
        (aHigh, aLow, bHigh, bLow) = sourceFirst
            ? (source.high, source.low, destination.high, destination.low)
            : (destination.high, destination.low, source.high, source.low)
        ports = sourceFirst ? sourcePort << 16 | destinationPort : destinationPort << 16 | sourcePort
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

    /// A fast keyed mix (not SipHash: the table seeds it per run, and probes are short): one
    /// multiply per word of key, each word added after the seeded product of those before it, so
    /// no choice of addresses and ports collides for every seed. An IPv4 key's two addresses
    /// are one word, and its (constant) prefixes are left out.
    /// A multiply carries a bit only upwards, so each product is folded down before the next
    /// word: keys that differ only in high bits (many clients' ports to one server, the first
    /// address of a word) still differ in the low bits the index takes its position from.
    @inline(__always)
    func hashValue(seed: UInt64) -> UInt64 {
        var h: UInt64
        if isIPv6 {
            h = (aLow ^ seed) &* 0x9E37_79B9_7F4A_7C15
            h = (h ^ h >> 32 ^ bLow) &* 0xBF58_476D_1CE4_E5B9
            h = (h ^ h >> 32 ^ UInt64(ports)) &* 0xD6E8_FEB8_6659_FD93
            h = (h ^ h >> 32 ^ aHigh ^ (bHigh >> 29 | bHigh << 35)) &* 0x94D0_49BB_1331_11EB
            // The prefixes' high bits reach only the product's top: one more fold and multiply.
            h = (h ^ h >> 29) &* 0xBF58_476D_1CE4_E5B9
        } else {
            h = (aLow << 32 | bLow ^ seed) &* 0x9E37_79B9_7F4A_7C15   // 32-bit addresses, side by side
            h = (h ^ h >> 32 ^ UInt64(ports)) &* 0xD6E8_FEB8_6659_FD93
        }
        // The last product's high half, mixed from every bit below it, folded into the low bits.
        return h ^ h >> 32
    }
}
