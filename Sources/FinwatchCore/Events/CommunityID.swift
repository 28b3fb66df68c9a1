/// Community ID v1 flow hashing (github.com/corelight/community-id-spec), so finwatch's events
/// join with Zeek's, Suricata's and anyone else's records of the same TCP flow.
package enum CommunityID {
    /// "1:" + base64(SHA-1(seed, addresses, protocol 6, pad, ports)) with the two endpoints in
    /// the spec's order: the smaller (address, port) first, so both directions hash alike.
    package static func v1(_ a: Endpoint, _ b: Endpoint, seed: UInt16) -> String {
        v1(a, b, protocol: 6, seed: seed)
    }

    /// The same for any port-carrying IP protocol (UDP 17, SCTP 132): what the spec's vectors cover.
    package static func v1(_ a: Endpoint, _ b: Endpoint, protocol: UInt8, seed: UInt16) -> String {
        String(decoding: [UInt8](capacity: length) { append(a, b, protocol: `protocol`, seed: seed, to: &$0) },
               as: UTF8.self)
    }

    /// The text's length: `1:` and 28 base64 letters.
    package static let length = 30

    /// Writes `1:` and the base64 digest to `out`: what the JSON encoder uses, one per event, so
    /// the message is laid out straight into SHA-1's single padded block (at most 40 bytes of
    /// input) and nothing touches the heap.
    package static func append(_ a: Endpoint, _ b: Endpoint, protocol: UInt8 = 6, seed: UInt16,
                               to out: inout OutputSpan<UInt8>) {
        // Addresses compare bytewise; `high`/`low` are the big-endian halves, so integer order is byte order.
        let aFirst = (a.ip.high, a.ip.low, a.port) <= (b.ip.high, b.ip.low, b.port)
        let (first, second) = aFirst ? (a, b) : (b, a)
        var block = BlockWriter()
        block.append(seed)
        block.append(first.ip)
        block.append(second.ip)
        block.append(UInt16(`protocol`) << 8)   // the protocol, then a zero byte of padding
        block.append(first.port)
        block.append(second.port)
        out.append(UInt8(ascii: "1"))
        out.append(UInt8(ascii: ":"))
        SHA1.appendBase64(of: SHA1.digest(singleBlock: block.finish()), to: &out)
    }
}

/// The message as big-endian words of one SHA-1 block, padded at the end (FIPS 180-4 §5.1.1).
/// Every field of a Community ID message is a whole number of 16-bit units (seed, addresses,
/// protocol and pad, ports), so the block is filled a unit at a time, never a byte.
private struct BlockWriter {
    private var words = InlineArray<16, UInt32>(repeating: 0)
    private var units = 0   // 16-bit units written

    mutating func append(_ unit: UInt16) {
        words[units >> 1] |= UInt32(unit) << (units & 1 == 0 ? 16 : 0)
        units += 1
    }

    mutating func append(_ ip: IPAddress) {
        if ip.isIPv6 {
            for shift in stride(from: 48, through: 0, by: -16) { append(UInt16(truncatingIfNeeded: ip.high >> UInt64(shift))) }
            for shift in stride(from: 48, through: 0, by: -16) { append(UInt16(truncatingIfNeeded: ip.low >> UInt64(shift))) }
        } else {
            append(UInt16(truncatingIfNeeded: ip.low >> 16))
            append(UInt16(truncatingIfNeeded: ip.low))
        }
    }

    /// 0x80 after the message, its length in bits in the last two words.
    consuming func finish() -> InlineArray<16, UInt32> {
        let length = units * 2
        append(0x8000)
        words[15] = UInt32(length * 8)
        return words
    }
}
