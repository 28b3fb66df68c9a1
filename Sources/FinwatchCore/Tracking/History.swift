/// A connection's history in Zeek's style: one letter per kind of segment, upper case when orig
/// sent it, lower case for resp, each recorded the first time it happens in that direction.
/// Packed 5 bits a letter into two words: 16 bytes per connection, no heap.
///
/// Letters: S a SYN without ACK · H a SYN+ACK · A a pure ACK · D payload · F FIN · R RST ·
/// T a retransmitted FIN or payload · W a zero window · I inconsistent flags (SYN+FIN, SYN+RST,
/// FIN+RST) · ^ the direction was inferred, not seen (no SYN).
struct History: Equatable {
    enum Letter: UInt8, CaseIterable {
        case syn = 1, synAck, ack, data, fin, rst, retransmit, zeroWindow, inconsistent

        var character: Character {
            switch self {
            case .syn: "S"
            case .synAck: "H"
            case .ack: "A"
            case .data: "D"
            case .fin: "F"
            case .rst: "R"
            case .retransmit: "T"
            case .zeroWindow: "W"
            case .inconsistent: "I"
            }
        }
    }

    private static let flippedCode: UInt64 = 31
    private var low: UInt64 = 0
    private var high: UInt64 = 0
    /// Bits 0–25: which (letter, side) pairs are recorded (`letter + 16 * side`); bits 27–31:
    /// how many letters. 20 bytes in all, so the record around it packs tightly.
    private var seen: UInt32 = 0

    private var count: UInt8 {
        get { UInt8(seen >> 27) }
        set { seen = seen & 0x07FF_FFFF | UInt32(newValue) << 27 }
    }

    init() {}

    /// Records `letter` for `side` unless that direction already has it.
    mutating func record(_ letter: Letter, from side: Side) {
        let bit = UInt32(1) << (UInt32(letter.rawValue) + (side == .orig ? 0 : 16))
        guard seen & bit == 0 else { return }
        seen |= bit
        append(UInt64(letter.rawValue) + (side == .orig ? 0 : 10))
    }

    /// Marks that orig was inferred rather than seen sending the SYN.
    mutating func recordFlipped() { append(History.flippedCode) }

    private mutating func append(_ code: UInt64) {
        guard count < 24 else { return }
        if count < 12 {
            low |= code << (UInt64(count) * 5)
        } else {
            high |= code << (UInt64(count - 12) * 5)
        }
        count += 1
    }

    var text: String {
        var out = ""
        for index in 0..<Int(count) {
            let code = index < 12 ? (low >> (UInt64(index) * 5)) & 31 : (high >> (UInt64(index - 12) * 5)) & 31
            if code == History.flippedCode { out.append("^"); continue }
            let isResp = code > 10
            guard let letter = Letter(rawValue: UInt8(isResp ? code - 10 : code)) else { continue }
            out.append(isResp ? Character(letter.character.lowercased()) : letter.character)
        }
        return out
    }
}
