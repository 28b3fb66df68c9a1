#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import FinwatchCore

// Text that events carry, written straight into the JSON buffer since 95f81d0: addresses
// (`IPAddress.appendText`), uids (kept as a number, written as `C` and digits) and the history
// letters (built on the stack).

@Suite("text: addresses")
struct AddressTextTests {
    /// (input, RFC 5952 canonical text).
    static let ipv6: [(String, String)] = [
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),        // §4.2.3: the first of two equal runs
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),              // §4.2.3: the longest run
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),     // §4.2.2: one zero group is not "::"
        ("fe80::abcd:ef01:0:0", "fe80::abcd:ef01:0:0"),
        ("2001:DB8::A", "2001:db8::a"),                       // §4.3: lower case
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),   // §4.1: no leading zeros
        ("0:0:0:0:0:0:0:0", "::"),
        ("1:0:0:0:0:0:0:0", "1::"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("0:1:0:1:0:1:0:1", "0:1:0:1:0:1:0:1"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("1:0:0:0:2:0:0:3", "1::2:0:0:3"),
        ("0:0:1:0:0:0:0:0", "0:0:1::"),                       // the run at the end is the longer
        ("1000:100:10:1::", "1000:100:10:1::"),
    ]

    static let ipv4: [String] = ["0.0.0.0", "198.18.0.1", "255.255.255.255", "10.100.1.9", "1.10.100.200", "9.99.109.0"]

    static func appended(_ address: IPAddress) -> String {
        var bytes: [UInt8] = [0x7B]                 // something before: appendText only appends
        address.appendText(to: &bytes)
        #expect(bytes.first == 0x7B)
        return String(decoding: bytes.dropFirst(), as: UTF8.self)
    }

    @Test("IPv6 text is RFC 5952's, the same from description and appendText", arguments: ipv6)
    func ipv6Text(input: String, canonical: String) throws {
        let address = try #require(IPAddress(input))
        #expect(address.isIPv6)
        #expect(address.description == canonical)
        #expect(Self.appended(address) == canonical)
        #expect(IPAddress(canonical) == address)     // the text reads back as the same address
    }

    @Test("IPv4 text is the dotted quad without leading zeros", arguments: ipv4)
    func ipv4Text(text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(!address.isIPv6)
        #expect(address.description == text)
        #expect(Self.appended(address) == text)
    }

    @Test func ipv6FromIntegers_groupsInNetworkOrder() {
        let address = IPAddress(ipv6High: 0x2001_0db8_0000_0000, low: 0x0000_0000_0000_0001)
        #expect(address.description == "2001:db8::1")
        #expect(Self.appended(IPAddress(ipv6High: 0, low: 0)) == "::")
        #expect(Self.appended(IPAddress(ipv4: 0xC612_0001)) == "198.18.0.1")
    }

    @Test func jsonAddress_isTheTextQuoted() {
        let text = JSONText.written { out in
            out.address(IPAddress("2001:DB8:0:0:1:0:0:1")!)
            out.append(UInt8(ascii: ","))
            out.address(IPAddress("10.100.1.9")!)
        }
        #expect(text == #""2001:db8::1:0:0:1","10.100.1.9""#)
    }
}

@Suite("text: uids")
struct UIDTextTests {
    static let orig = Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022)
    static let resp = Endpoint(ip: IPAddress("2001:db8::2")!, port: 80)

    @Test func uidText_keepsItsNumber() {
        let identity = ConnectionIdentity(uid: "C42", orig: Self.orig, resp: Self.resp, handshakeSeen: true)
        #expect(identity.uidNumber == 42)
        #expect(identity.uid == "C42")
        #expect(ConnectionIdentity(uidNumber: 42, orig: Self.orig, resp: Self.resp, handshakeSeen: true) == identity)
    }

    @Test("every event writes the uid as C and its digits", arguments: [UInt64(0), 1, 9, 10, 42, 1_000_000, .max])
    func uidInJSON(number: UInt64) {
        let identity = ConnectionIdentity(uidNumber: number, orig: Self.orig, resp: Self.resp, handshakeSeen: false)
        #expect(identity.uid == "C\(number)")
        let close = Event.close(CloseRecord(time: .ms(5), identity: identity, close: .unterminated)).jsonLine
        #expect(close.contains(#","uid":"C\#(number)","community_id":"#), "\(close)")
        let anomaly = Event.anomaly(AnomalyEvent(time: .ms(5), identity: identity, anomaly: .finRetransmit,
                                                 side: .orig, count: 1)).jsonLine
        #expect(anomaly.contains(#","uid":"C\#(number)","#), "\(anomaly)")
    }

    @Test func closeRecordLine_carriesUIDAndBothAddresses() {
        let identity = ConnectionIdentity(uid: "C42", orig: Self.orig, resp: Self.resp, handshakeSeen: true)
        let line = Event.close(CloseRecord(time: .ms(5), identity: identity, close: .normal)).jsonLine
        #expect(line.contains(#""uid":"C42""#))
        #expect(line.contains(#""orig":{"ip":"198.18.0.1","port":40022},"resp":{"ip":"2001:db8::2","port":80}"#), "\(line)")
    }

    @Test func uidWithoutC_isAProgrammerError() async {
        await #expect(processExitsWith: .failure) {
            _ = ConnectionIdentity(uid: "T0-0", orig: Endpoint(ip: IPAddress(ipv4: 1), port: 1),
                                   resp: Endpoint(ip: IPAddress(ipv4: 2), port: 2), handshakeSeen: true)
        }
    }

    @Test func tableUIDs_countFromC1InOrderOfFirstPacket() throws {
        var wire = Wire()
        wire.handshake()
        wire.orig.port = 40023
        wire.handshake()
        wire.finish(10)
        #expect(wire.closes.map(\.identity.uid) == ["C1", "C2"])
        #expect(wire.closes.map(\.identity.uidNumber) == [1, 2])
        let line = Event.close(try #require(wire.closes.last)).jsonLine
        #expect(line.contains(#""uid":"C2""#))
    }
}

@Suite("text: history")
struct HistoryTextTests {
    @Test func fullConnection_dataBothWays_isShADadFf() throws {
        var wire = Wire()
        wire.handshake()                                                               // S h A
        wire.send(.orig, [.psh, .ack], seq: 1001, ack: 5001, payload: 100, at: 3)      // D
        wire.send(.resp, [.ack], seq: 5001, ack: 1101, at: 4)                          // a
        wire.send(.resp, [.psh, .ack], seq: 5001, ack: 1101, payload: 50, at: 5)       // d
        wire.send(.orig, [.fin, .ack], seq: 1101, ack: 5051, at: 10)                   // F
        wire.send(.resp, [.fin, .ack], seq: 5051, ack: 1102, at: 11)                   // f
        wire.send(.orig, [.ack], seq: 1102, ack: 5052, at: 12)
        let record = try #require(wire.closes.first)
        #expect(record.close == .normal)
        #expect(record.history == "ShADadFf")
        #expect(Event.close(record).jsonLine.contains(#""history":"ShADadFf""#))
    }

    @Test func midStreamConnection_startsWithCaret() throws {
        var wire = Wire()
        wire.send(.resp, [.psh, .ack], seq: 5001, ack: 1001, payload: 10, at: 0)     // resp (port 80) speaks first
        wire.send(.orig, [.ack], seq: 1001, ack: 5011, at: 1)
        wire.finish(2)
        let record = try #require(wire.closes.first)
        #expect(!record.identity.handshakeSeen)
        #expect(record.history == "^dA")
        #expect(Event.close(record).jsonLine.contains(#""history":"^dA""#))
    }

    @Test func everyLetterBothWays_isNineteenLetters() {
        var history = History()
        history.recordFlipped()
        for side in [Side.orig, .resp] {
            for letter in History.Letter.allCases { history.record(letter, from: side) }
        }
        #expect(history.text == "^SHADFRTWIshadfrtwi")
        // Recorded once per direction: a second time changes nothing.
        history.record(.fin, from: .orig)
        #expect(history.text == "^SHADFRTWIshadfrtwi")
    }

    @Test func moreThan24Letters_keepsTheFirst24_noTrap() {
        var history = History()
        for _ in 0..<6 { history.recordFlipped() }
        for side in [Side.orig, .resp] {
            for letter in History.Letter.allCases { history.record(letter, from: side) }
        }
        #expect(history.text == "^^^^^^SHADFRTWIshadfrtwi")
        #expect(history.text.utf8.count == 24)
        for _ in 0..<40 { history.recordFlipped() }
        #expect(history.text == "^^^^^^SHADFRTWIshadfrtwi")
    }

    @Test func onlyCarets_cappedAt24() {
        var history = History()
        for _ in 0..<100 { history.recordFlipped() }
        #expect(history.text == String(repeating: "^", count: 24))
    }

    @Test func empty_isEmptyText() {
        #expect(History().text.isEmpty)
    }
}
