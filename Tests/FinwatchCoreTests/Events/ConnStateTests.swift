import FinwatchCore
import Testing

/// Zeek's conn_state from finwatch's history letters and reset_by: one case per row of the
/// README's mapping table, plus the cases where finwatch's view decides.
@Suite("conn_state (Zeek)") struct ConnStateTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var history: String
        var resetBy: Side?
        var packets: (orig: Int, resp: Int)
        var expected: ConnState
        var testDescription: String { "\(history) reset_by \(resetBy?.rawValue ?? "null") → \(expected.rawValue)" }
    }

    static let rows: [Row] = [
        Row(history: "S", resetBy: nil, packets: (1, 0), expected: .s0),             // SYN, no answer
        Row(history: "ShAD", resetBy: nil, packets: (3, 2), expected: .s1),          // established, still open
        Row(history: "ShAFf", resetBy: nil, packets: (4, 2), expected: .sf),         // both FINs
        Row(history: "Sr", resetBy: .resp, packets: (1, 1), expected: .rej),         // SYN answered by RST
        Row(history: "ShAFa", resetBy: nil, packets: (3, 2), expected: .s2),         // orig's FIN only
        Row(history: "ShAf", resetBy: nil, packets: (2, 2), expected: .s3),          // resp's FIN only
        Row(history: "ShADR", resetBy: .orig, packets: (4, 1), expected: .rsto),     // orig aborts
        Row(history: "ShADar", resetBy: .resp, packets: (3, 3), expected: .rstr),    // resp aborts
        Row(history: "SR", resetBy: .orig, packets: (2, 0), expected: .rstos0),      // SYN, then orig's RST
        Row(history: "^hr", resetBy: .resp, packets: (0, 2), expected: .rstrh),      // SYN+ACK, then resp's RST
        Row(history: "SF", resetBy: nil, packets: (2, 0), expected: .sh),            // SYN, then orig's FIN
        Row(history: "^hf", resetBy: nil, packets: (0, 2), expected: .shr),          // SYN+ACK, then resp's FIN
        Row(history: "^dA", resetBy: nil, packets: (1, 1), expected: .oth),          // mid-stream, never closed
    ]

    @Test("each conn_state of the README's table", arguments: rows)
    func mapping(row: Row) {
        #expect(ConnState(history: row.history, resetBy: row.resetBy, origPackets: row.packets.orig,
                          respPackets: row.packets.resp) == row.expected)
    }

    @Test func everyZeekStateHasARow() {
        #expect(Set(Self.rows.map(\.expected)) == Set(ConnState.allCases))
    }

    @Test func midStreamClosedByBothFINs_isSF() {
        #expect(ConnState(history: "^dAFf", resetBy: nil, origPackets: 3, respPackets: 2) == .sf)
    }

    @Test func resetInCloseWait_isRSTR_notSF() {
        #expect(ConnState(history: "ShAFar", resetBy: .resp, origPackets: 3, respPackets: 3) == .rstr)
    }

    /// An RST outside the window is not believed by finwatch (reset_by stays null): neither by conn_state.
    @Test func outOfWindowReset_notBelieved_staysSF() {
        #expect(ConnState(history: "ShADrFf", resetBy: nil, origPackets: 4, respPackets: 4) == .sf)
    }

    @Test func synAnsweredThenOrigResets_isRSTO_notRSTOS0() {
        #expect(ConnState(history: "ShR", resetBy: .orig, origPackets: 2, respPackets: 1) == .rsto)
    }

    @Test func origResetWithAnswerlessMidStreamPeer_isOTH() {
        #expect(ConnState(history: "DR", resetBy: .orig, origPackets: 2, respPackets: 0) == .oth)
    }
}
