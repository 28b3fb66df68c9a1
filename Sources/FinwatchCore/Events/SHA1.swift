/// SHA-1 (FIPS 180-4 §6.1) and base64 (RFC 4648 §4), in pure Swift because the core imports only
/// the standard library. Used for Community ID, where SHA-1 is what the spec fixes, not for security.
package enum SHA1 {
    /// The five state words; the digest is their big-endian bytes.
    package typealias State = (UInt32, UInt32, UInt32, UInt32, UInt32)
    static let initialState: State = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)

    /// The 20-byte digest of `message`.
    package static func digest(_ message: [UInt8]) -> [UInt8] {
        // Padding: 0x80, zeros to 56 mod 64, then the bit length as a big-endian 64-bit integer.
        var padded = message
        padded.reserveCapacity((message.count + 72) & ~63)
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        let bitLength = UInt64(message.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }

        var h = initialState
        var block = InlineArray<16, UInt32>(repeating: 0)
        for start in stride(from: 0, to: padded.count, by: 64) {
            for t in 0..<16 {
                let i = start + 4 * t
                block[t] = UInt32(padded[i]) << 24 | UInt32(padded[i + 1]) << 16 | UInt32(padded[i + 2]) << 8 | UInt32(padded[i + 3])
            }
            compress(&h, block)
        }
        return bytes(of: h)
    }

    /// The digest of a message that fits one block (at most 55 bytes), given as that block's
    /// sixteen big-endian words with the padding already in place: no heap, one compression.
    package static func digest(singleBlock block: InlineArray<16, UInt32>) -> State {
        var h = initialState
        compress(&h, block)
        return h
    }

    /// One 64-byte block into the state (§6.1.2). The message schedule is kept in sixteen words
    /// (W(t) replaces W(t-16) as it is made), and each group of twenty rounds has its own loop
    /// rather than a switch in every round: one digest per event, so this is on the output's path.
    static func compress(_ h: inout State, _ block: InlineArray<16, UInt32>) {
        var w = block
        var (a, b, c, d, e) = h
        for t in 0..<20 {
            let temp = rotate(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ schedule(&w, t)
            (e, d, c, b, a) = (d, c, rotate(b, 30), a, temp)
        }
        for t in 20..<40 {
            let temp = rotate(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ schedule(&w, t)
            (e, d, c, b, a) = (d, c, rotate(b, 30), a, temp)
        }
        for t in 40..<60 {
            let temp = rotate(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ schedule(&w, t)
            (e, d, c, b, a) = (d, c, rotate(b, 30), a, temp)
        }
        for t in 60..<80 {
            let temp = rotate(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ schedule(&w, t)
            (e, d, c, b, a) = (d, c, rotate(b, 30), a, temp)
        }
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
    }

    /// W(t) of the schedule, made in place of W(t-16) from t = 16 on.
    @inline(__always)
    private static func schedule(_ w: inout InlineArray<16, UInt32>, _ t: Int) -> UInt32 {
        if t < 16 { return w[t] }
        let word = rotate(w[(t &- 3) & 15] ^ w[(t &- 8) & 15] ^ w[(t &- 14) & 15] ^ w[t & 15], 1)
        w[t & 15] = word
        return word
    }

    /// The state's 20 bytes, big-endian.
    static func bytes(of h: State) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(20)
        for word in [h.0, h.1, h.2, h.3, h.4] {
            out.append(UInt8(word >> 24))
            out.append(UInt8(word >> 16 & 0xff))
            out.append(UInt8(word >> 8 & 0xff))
            out.append(UInt8(word & 0xff))
        }
        return out
    }

    @inline(__always)
    private static func rotate(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 - n) }

    /// Standard base64 with `=` padding (RFC 4648 §4).
    package static func base64(_ bytes: [UInt8]) -> String {
        let length = (bytes.count + 2) / 3 * 4
        return String(decoding: [UInt8](capacity: length) { out in
            appendBase64(count: bytes.count, byte: { bytes[$0] }, to: &out)
        }, as: UTF8.self)
    }

    /// Writes the base64 text of a digest (28 bytes, no intermediate arrays).
    package static func appendBase64(of h: State, to out: inout OutputSpan<UInt8>) {
        let words: InlineArray<5, UInt32> = [h.0, h.1, h.2, h.3, h.4]
        appendBase64(count: 20, byte: { UInt8(truncatingIfNeeded: words[$0 >> 2] >> UInt32(24 - 8 * ($0 & 3))) }, to: &out)
    }

    @inline(__always)
    private static func appendBase64(count: Int, byte: (Int) -> UInt8, to out: inout OutputSpan<UInt8>) {
        var i = 0
        while i < count {
            let remaining = count - i
            let b0 = UInt32(byte(i))
            let b1 = remaining > 1 ? UInt32(byte(i + 1)) : 0
            let b2 = remaining > 2 ? UInt32(byte(i + 2)) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            out.append(letter(triple >> 18))
            out.append(letter(triple >> 12))
            out.append(remaining > 1 ? letter(triple >> 6) : UInt8(ascii: "="))
            out.append(remaining > 2 ? letter(triple) : UInt8(ascii: "="))
            i += 3
        }
    }

    /// The base64 letter for the low six bits of `bits`, computed rather than looked up in a
    /// global table (whose access costs a lazy-initialisation check and a retain).
    @inline(__always)
    private static func letter(_ bits: UInt32) -> UInt8 {
        let value = UInt8(truncatingIfNeeded: bits & 63)
        switch value {
        case 0..<26: return UInt8(ascii: "A") &+ value
        case 26..<52: return UInt8(ascii: "a") &+ (value &- 26)
        case 52..<62: return UInt8(ascii: "0") &+ (value &- 52)
        case 62: return UInt8(ascii: "+")
        default: return UInt8(ascii: "/")
        }
    }
}
