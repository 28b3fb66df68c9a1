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

    /// One 64-byte block into the state (§6.1.2). Five rounds per loop step, the five working
    /// variables trading roles instead of being shifted down a tuple every round (the shifting was
    /// half of the instructions), and the message schedule kept in sixteen words (W(t) replaces
    /// W(t-16) as it is made). One digest per event, so this is on the output's path.
    static func compress(_ h: inout State, _ block: InlineArray<16, UInt32>) {
        var w = block
        var (a, b, c, d, e) = h
        var t = 0
        while t < 20 {
            e = e &+ rotate(a, 5) &+ ((b & c) | (~b & d)) &+ 0x5A82_7999 &+ schedule(&w, t); b = rotate(b, 30)
            d = d &+ rotate(e, 5) &+ ((a & b) | (~a & c)) &+ 0x5A82_7999 &+ schedule(&w, t + 1); a = rotate(a, 30)
            c = c &+ rotate(d, 5) &+ ((e & a) | (~e & b)) &+ 0x5A82_7999 &+ schedule(&w, t + 2); e = rotate(e, 30)
            b = b &+ rotate(c, 5) &+ ((d & e) | (~d & a)) &+ 0x5A82_7999 &+ schedule(&w, t + 3); d = rotate(d, 30)
            a = a &+ rotate(b, 5) &+ ((c & d) | (~c & e)) &+ 0x5A82_7999 &+ schedule(&w, t + 4); c = rotate(c, 30)
            t += 5
        }
        while t < 40 {
            e = e &+ rotate(a, 5) &+ (b ^ c ^ d) &+ 0x6ED9_EBA1 &+ schedule(&w, t); b = rotate(b, 30)
            d = d &+ rotate(e, 5) &+ (a ^ b ^ c) &+ 0x6ED9_EBA1 &+ schedule(&w, t + 1); a = rotate(a, 30)
            c = c &+ rotate(d, 5) &+ (e ^ a ^ b) &+ 0x6ED9_EBA1 &+ schedule(&w, t + 2); e = rotate(e, 30)
            b = b &+ rotate(c, 5) &+ (d ^ e ^ a) &+ 0x6ED9_EBA1 &+ schedule(&w, t + 3); d = rotate(d, 30)
            a = a &+ rotate(b, 5) &+ (c ^ d ^ e) &+ 0x6ED9_EBA1 &+ schedule(&w, t + 4); c = rotate(c, 30)
            t += 5
        }
        while t < 60 {
            e = e &+ rotate(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ 0x8F1B_BCDC &+ schedule(&w, t); b = rotate(b, 30)
            d = d &+ rotate(e, 5) &+ ((a & b) | (a & c) | (b & c)) &+ 0x8F1B_BCDC &+ schedule(&w, t + 1); a = rotate(a, 30)
            c = c &+ rotate(d, 5) &+ ((e & a) | (e & b) | (a & b)) &+ 0x8F1B_BCDC &+ schedule(&w, t + 2); e = rotate(e, 30)
            b = b &+ rotate(c, 5) &+ ((d & e) | (d & a) | (e & a)) &+ 0x8F1B_BCDC &+ schedule(&w, t + 3); d = rotate(d, 30)
            a = a &+ rotate(b, 5) &+ ((c & d) | (c & e) | (d & e)) &+ 0x8F1B_BCDC &+ schedule(&w, t + 4); c = rotate(c, 30)
            t += 5
        }
        while t < 80 {
            e = e &+ rotate(a, 5) &+ (b ^ c ^ d) &+ 0xCA62_C1D6 &+ schedule(&w, t); b = rotate(b, 30)
            d = d &+ rotate(e, 5) &+ (a ^ b ^ c) &+ 0xCA62_C1D6 &+ schedule(&w, t + 1); a = rotate(a, 30)
            c = c &+ rotate(d, 5) &+ (e ^ a ^ b) &+ 0xCA62_C1D6 &+ schedule(&w, t + 2); e = rotate(e, 30)
            b = b &+ rotate(c, 5) &+ (d ^ e ^ a) &+ 0xCA62_C1D6 &+ schedule(&w, t + 3); d = rotate(d, 30)
            a = a &+ rotate(b, 5) &+ (c ^ d ^ e) &+ 0xCA62_C1D6 &+ schedule(&w, t + 4); c = rotate(c, 30)
            t += 5
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

    /// Writes the base64 text of a digest (28 bytes, no intermediate arrays): six whole groups of
    /// three bytes, then the last two with one `=`.
    package static func appendBase64(of h: State, to out: inout OutputSpan<UInt8>) {
        var bytes = InlineArray<21, UInt8>(repeating: 0)   // the digest and a zero byte of padding
        let words: InlineArray<5, UInt32> = [h.0, h.1, h.2, h.3, h.4]
        for index in 0..<5 {
            let word = words[index]
            bytes[4 * index] = UInt8(truncatingIfNeeded: word >> 24)
            bytes[4 * index + 1] = UInt8(truncatingIfNeeded: word >> 16)
            bytes[4 * index + 2] = UInt8(truncatingIfNeeded: word >> 8)
            bytes[4 * index + 3] = UInt8(truncatingIfNeeded: word)
        }
        for group in 0..<7 {
            let triple = UInt32(bytes[3 * group]) << 16 | UInt32(bytes[3 * group + 1]) << 8 | UInt32(bytes[3 * group + 2])
            out.append(letter(triple >> 18))
            out.append(letter(triple >> 12))
            out.append(letter(triple >> 6))
            out.append(group == 6 ? UInt8(ascii: "=") : letter(triple))
        }
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

    /// The base64 letter for the low six bits of `bits`, looked up in the alphabet's literal.
    @inline(__always)
    private static func letter(_ bits: UInt32) -> UInt8 {
        // unsafe: the literal's static storage is 64 bytes and the index is masked to 0–63.
        unsafe alphabet.utf8Start[Int(bits & 63)]
    }

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
}
