import FinwatchCore
import FinwatchFixtures
import Testing

@Suite("IPv4 header") struct IPv4HeaderTests {
    static let syn = FrameBuilder.tcpSegment(source: Net.a, destination: Net.b, flags: .syn, payloadLength: 10)

    static func frame(_ packet: [UInt8]) -> [UInt8] { FrameBuilder.link(.ethernet, packet: packet) }

    @Test("options of every length are skipped", arguments: Array(stride(from: 4, through: 40, by: 4)))
    func options(length: Int) throws {
        let options = [0x94, 0x04, 0, 0] + [UInt8](repeating: 1, count: length - 4)   // router alert + NOPs
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Self.syn, options: options)
        #expect(try Net.decode(Self.frame(packet)) == Net.expected(Net.a, Net.b, flags: .syn, payloadLength: 10))
    }

    @Test("IHL below 5 is badIHL", arguments: 0..<5)
    func badIHL(words: Int) {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Self.syn, ihl: UInt8(words))
        #expect(throws: DecodeError.badIHL(UInt8(words))) { try Net.decode(Self.frame(packet)) }
    }

    @Test("total length below the header is badTotalLength", arguments: [1, 19] as [UInt16])
    func badTotalLength(length: UInt16) {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Self.syn, totalLength: length)
        #expect(throws: DecodeError.badTotalLength(length)) { try Net.decode(Self.frame(packet)) }
    }

    @Test func totalLengthBelowOptions_isBadTotalLength() {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Self.syn,
                                       options: [1, 1, 1, 1], totalLength: 20)
        #expect(throws: DecodeError.badTotalLength(20)) { try Net.decode(Self.frame(packet)) }
    }

    @Test func totalLengthZero_isDerivedFromTheCapture() throws {
        // TSO / BIG TCP captures (tcpdump's bigtcp-ipv4.pcap) show total length 0.
        let segment = FrameBuilder.tcpSegment(source: Net.a, destination: Net.b, flags: .ack, payloadLength: 70_000)
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: segment, totalLength: 0)
        #expect(try Net.decode(Self.frame(packet)) == Net.expected(Net.a, Net.b, flags: .ack, payloadLength: 70_000))
    }

    @Test func totalLengthBeyondTheCapture_isTruncatedPayload() throws {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Self.syn)
        let cut = Array(Self.frame(packet).dropLast(4))
        #expect(try Net.decode(cut) == Net.expected(Net.a, Net.b, flags: .syn, payloadLength: 10, isTruncated: true))
    }

    @Test("non-first fragments are skipped", arguments: [(1, false), (1, true), (185, true), (8191, false)] as [(UInt16, Bool)])
    func nonFirstFragment(offset: UInt16, more: Bool) throws {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Self.syn,
                                       fragmentOffset: offset, moreFragments: more)
        #expect(try Net.decode(Self.frame(packet)) == nil)
    }

    @Test func firstFragmentWithWholeTCPHeader_decodesWithItsOwnPayload() throws {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Self.syn, moreFragments: true)
        #expect(try Net.decode(Self.frame(packet)) == Net.expected(Net.a, Net.b, flags: .syn, payloadLength: 10))
    }

    @Test("a first fragment too short for the TCP header is skipped", arguments: [0, 8, 16, 19])
    func tinyFirstFragment(length: Int) throws {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Array(Self.syn.prefix(length)),
                                       moreFragments: true)
        #expect(try Net.decode(Self.frame(packet)) == nil)
    }

    @Test func firstFragmentCuttingTheOptions_isSkipped() throws {
        let options: [UInt8] = [2, 4, 5, 0xB4, 1, 3, 3, 7]
        let syn = FrameBuilder.tcpSegment(source: Net.a, destination: Net.b, flags: .syn, options: options)
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Array(syn.prefix(24)), moreFragments: true)
        #expect(try Net.decode(Self.frame(packet)) == nil)
    }

    @Test func dontFragmentAloneIsNotAFragment() throws {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: Self.syn, dontFragment: true)
        #expect(try Net.decode(Self.frame(packet)) == Net.expected(Net.a, Net.b, flags: .syn, payloadLength: 10))
    }
}
