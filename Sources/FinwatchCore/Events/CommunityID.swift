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
        var text: [UInt8] = []
        text.reserveCapacity(30)
        append(a, b, protocol: `protocol`, seed: seed, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends `1:` and the base64 digest to `out`: what the JSON writer uses, one per event, so
    /// the message is laid out straight into SHA-1's single padded block (at most 40 bytes of
    /// input) and nothing touches the heap.
    package static func append<Sink: ByteSink>(_ a: Endpoint, _ b: Endpoint, protocol: UInt8 = 6, seed: UInt16,
                                               to out: inout Sink) {
        // Addresses compare bytewise; `high`/`low` are the big-endian halves, so integer order is byte order.
        let aFirst = (a.ip.high, a.ip.low, a.port) <= (b.ip.high, b.ip.low, b.port)
        let (first, second) = aFirst ? (a, b) : (b, a)
        var block = BlockWriter()
        block.append16(seed)
        block.append(first.ip)
        block.append(second.ip)
        block.append8(`protocol`)
        block.append8(0)
        block.append16(first.port)
        block.append16(second.port)
        out.put(UInt8(ascii: "1"))
        out.put(UInt8(ascii: ":"))
        SHA1.appendBase64(of: SHA1.digest(singleBlock: block.finish()), to: &out)
    }
}

/// The message as big-endian words of one SHA-1 block, padded at the end (FIPS 180-4 §5.1.1).
private struct BlockWriter {
    private var words = InlineArray<16, UInt32>(repeating: 0)
    private var count = 0   // bytes written

    mutating func append8(_ byte: UInt8) {
        words[count >> 2] |= UInt32(byte) << UInt32(24 - 8 * (count & 3))
        count += 1
    }

    mutating func append16(_ value: UInt16) {
        append8(UInt8(value >> 8))
        append8(UInt8(value & 0xff))
    }

    mutating func append(_ ip: IPAddress) {
        if ip.isIPv6 {
            for shift in stride(from: 56, through: 0, by: -8) { append8(UInt8(truncatingIfNeeded: ip.high >> UInt64(shift))) }
            for shift in stride(from: 56, through: 0, by: -8) { append8(UInt8(truncatingIfNeeded: ip.low >> UInt64(shift))) }
        } else {
            for shift in stride(from: 24, through: 0, by: -8) { append8(UInt8(truncatingIfNeeded: ip.low >> UInt64(shift))) }
        }
    }

    /// 0x80 after the message, its length in bits in the last two words.
    consuming func finish() -> InlineArray<16, UInt32> {
        let length = count
        append8(0x80)
        words[15] = UInt32(length * 8)
        return words
    }
}
