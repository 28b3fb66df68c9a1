@testable import FinwatchCore
import Testing

/// A segment for a connection finwatch never saw (after a restart, or the peer's view of a
/// connection it reset): a record, `handshake_seen: false`, the close class the wire supports.
@Suite("Connections never seen") struct UnseenConnectionTests {
    @Test func loneRSTFromTheServer_isARecord_resetByResp_handshakeNotSeen() {
        var wire = Wire()
        wire.send(.resp, [.rst], seq: Wire.respISN, at: 5)
        let close = wire.closes.first
        #expect(wire.closes.count == 1)
        #expect(close?.close == .reset)
        #expect(close?.resetBy == .resp)
        #expect(close?.identity.handshakeSeen == false)
        #expect(close?.identity.orig == wire.orig)          // port 80 answers: the other side opened
        #expect(Event.close(close!).jsonLine.contains(#""handshake_seen":false"#))
    }

    @Test func loneRSTThenItsRetransmission_isOneRecord() {
        var wire = Wire()
        wire.send(.orig, [.rst, .ack], seq: Wire.origISN, ack: Wire.respISN, at: 5)
        wire.send(.orig, [.rst, .ack], seq: Wire.origISN, ack: Wire.respISN, at: 6)
        #expect(wire.closes.count == 1)
        #expect(wire.closes.first?.resetBy == .orig)
    }

    @Test func strayFIN_isAHalfClosedRecordAtTheEnd() {
        var wire = Wire()
        wire.send(.resp, [.fin, .ack], seq: Wire.respISN, ack: Wire.origISN, at: 5)
        wire.finish(100)
        #expect(wire.closes.count == 1)
        #expect(wire.closes.first?.close == .halfClosed)
        #expect(wire.closes.first?.activeCloser == .resp)
        #expect(wire.closes.first?.identity.handshakeSeen == false)
    }

    @Test func rstFlood_isBoundedByTheTable() {
        var wire = Wire { $0.maxConnections = 64 }
        for port in 0..<1_000 {
            wire.orig.port = UInt16(20_000 + port)
            wire.send(.resp, [.rst], seq: 1, at: Double(port))
        }
        #expect(wire.table.count <= 64)
        #expect(wire.closes.count == 1_000)                  // each written at once, then only a short residue
    }
}
