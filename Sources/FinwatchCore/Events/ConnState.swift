/// Zeek's `conn_state` for a connection, so Zeek users can join finwatch's close records to their
/// conn.log. Zeek's own rule (base/protocols/conn/main.zeek, `conn_state`) applied to the Zeek
/// endpoint state of each side, which finwatch derives from what it already keeps: the history
/// letters (which kinds of segment each side sent), `reset_by` (an RST finwatch believed; one
/// outside the window is not, as for finwatch's own `close`) and the packet counts.
package enum ConnState: String, Sendable, Hashable, CaseIterable {
    /// A SYN, never answered.
    case s0 = "S0"
    /// Established, not terminated.
    case s1 = "S1"
    /// Both sides sent FIN.
    case sf = "SF"
    /// The connection attempt was rejected.
    case rej = "REJ"
    /// Established; orig sent FIN, resp did not.
    case s2 = "S2"
    /// Established; resp sent FIN, orig did not.
    case s3 = "S3"
    /// Established; orig aborted with an RST.
    case rsto = "RSTO"
    /// Established; resp sent an RST.
    case rstr = "RSTR"
    /// orig sent a SYN then an RST; resp never answered.
    case rstos0 = "RSTOS0"
    /// resp sent a SYN+ACK then an RST; no SYN from orig was seen.
    case rstrh = "RSTRH"
    /// orig sent a SYN then a FIN; resp never answered.
    case sh = "SH"
    /// resp sent a SYN+ACK then a FIN; no SYN from orig was seen.
    case shr = "SHR"
    /// Anything else, such as mid-stream traffic never closed.
    case oth = "OTH"

    /// Zeek's TCP endpoint states (TCP_INACTIVE … TCP_RESET).
    enum Endpoint: Equatable {
        case inactive, synSent, synAckSent, partial, established, closed, reset

        /// Nothing seen from it, or only mid-stream traffic.
        var isInactive: Bool { self == .inactive || self == .partial }
    }

    /// `history` is the close record's (upper case orig, lower case resp; `^` when orig was
    /// inferred), `resetBy` its `reset_by`. Runs for every close record written: the letters go
    /// into one bit mask per side, no allocation.
    package init(history: String, resetBy: Side?, origPackets: Int, respPackets: Int) {
        var orig: UInt32 = 0
        var resp: UInt32 = 0
        for byte in history.utf8 {
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { orig |= 1 << UInt32(byte - UInt8(ascii: "A")) }
            if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") { resp |= 1 << UInt32(byte - UInt8(ascii: "a")) }
        }
        self.init(orig: orig, resp: resp, resetBy: resetBy, origPackets: origPackets, respPackets: respPackets) {
            Self.synThenReset(history.utf8)
        }
    }

    /// The same from the record's `History` value: the masks come from the letters it marks as
    /// seen, no text is made, and the letters are walked only for a history with orig's RST.
    package init(history: History, resetBy: Side?, origPackets: Int, respPackets: Int) {
        let masks = history.letterMasks
        self.init(orig: masks.orig, resp: masks.resp, resetBy: resetBy, origPackets: origPackets,
                  respPackets: respPackets) { Self.synThenReset(history) }
    }

    /// From one bit per letter (`1 << (letter - "A")`) per side.
    private init(orig: UInt32, resp: UInt32, resetBy: Side?, origPackets: Int, respPackets: Int,
                 synThenReset: () -> Bool) {
        func sent(_ mask: UInt32, _ letter: Unicode.Scalar) -> Bool { mask & (1 << (letter.value - 65)) != 0 }
        let origAcked = sent(orig, "A") || sent(orig, "D")
        let o: Endpoint =
            if resetBy == .orig { .reset }
            else if sent(orig, "F") { .closed }
            else if sent(orig, "S") { sent(resp, "H") && origAcked ? .established : .synSent }
            else if origPackets > 0 { .partial }
            else { .inactive }
        let r: Endpoint =
            if resetBy == .resp { .reset }
            else if sent(resp, "F") { .closed }
            else if sent(resp, "H") { origAcked ? .established : .synAckSent }
            else if respPackets > 0 { .partial }
            else { .inactive }
        self = Self.zeek(orig: o, resp: r, payload: sent(orig, "D") || sent(resp, "D"),
                         synThenReset: sent(orig, "R") && synThenReset())
    }

    /// Zeek's decision, in its order.
    static func zeek(orig o: Endpoint, resp r: Endpoint, payload: Bool, synThenReset: Bool) -> ConnState {
        if r == .reset {
            if o == .synSent || o == .synAckSent || (o == .reset && !payload) { return .rej }
            return o.isInactive ? .rstrh : .rstr
        }
        if o == .reset {
            if r.isInactive { return synThenReset ? .rstos0 : .oth }
            return .rsto
        }
        if o == .closed && r == .closed { return .sf }
        if o == .closed { return r.isInactive ? .sh : .s2 }
        if r == .closed { return o.isInactive ? .shr : .s3 }
        if o == .synSent && r == .inactive { return .s0 }
        if o == .established && r == .established { return .s1 }
        return .oth
    }

    /// Zeek's `/^\^?S[^HAFGIQ]*R.*/` on the history: orig's SYN, then its RST with no handshake
    /// answer, ACK, FIN or inconsistent flags from orig in between.
    static func synThenReset(_ history: some Sequence<UInt8>) -> Bool {
        var letters = history.makeIterator()
        var first = letters.next()
        if first == UInt8(ascii: "^") { first = letters.next() }
        guard first == UInt8(ascii: "S") else { return false }
        while let letter = letters.next() {
            if letter == UInt8(ascii: "R") { return true }
            switch letter {
            case UInt8(ascii: "H"), UInt8(ascii: "A"), UInt8(ascii: "F"), UInt8(ascii: "G"), UInt8(ascii: "I"),
                 UInt8(ascii: "Q"): return false
            default: continue
            }
        }
        return false
    }
}

extension CloseRecord {
    /// Zeek's `conn_state` for this record.
    package var connState: ConnState {
        ConnState(history: history, resetBy: resetBy, origPackets: origPackets, respPackets: respPackets)
    }
}
