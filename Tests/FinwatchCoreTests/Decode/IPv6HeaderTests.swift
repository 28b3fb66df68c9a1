import FinwatchCore
import FinwatchFixtures
import Testing

@Suite("IPv6 extension headers") struct IPv6HeaderTests {
    typealias Ext = FrameBuilder.IPv6Extension
    static let ack = FrameBuilder.tcpSegment(source: Net.a6, destination: Net.b6, flags: .ack, payloadLength: 5)

    static func frame(_ extensions: [Ext], nextHeader: UInt8 = 6, payload: [UInt8] = ack, payloadLength: UInt16? = nil) -> [UInt8] {
        FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv6(source: Net.a6.ip, destination: Net.b6.ip, extensions: extensions,
                                                               nextHeader: nextHeader, payload: payload, payloadLength: payloadLength))
    }

    static let chains: [[Ext]] = [
        [.hopByHop()], [.hopByHop(options: [5, 2, 0, 0])], [.routing()], [.routing(addresses: 3)],
        [.destinationOptions()], [.destinationOptions(options: [0xC9, 16] + [UInt8](repeating: 0, count: 16))],
        [.fragment(offset: 0, moreFragments: false)], [.authentication()], [.authentication(icvLength: 0)],
        [.mobility()], [.mobility(length: 24)],
        [.hopByHop(), .destinationOptions(), .routing(), .fragment(offset: 0, moreFragments: false), .authentication(), .destinationOptions()],
    ]

    @Test("each extension header is stepped over to TCP", arguments: chains)
    func chain(extensions: [Ext]) throws {
        #expect(try Net.decode(Self.frame(extensions)) == Net.expected(Net.a6, Net.b6, flags: .ack, payloadLength: 5))
    }

    @Test func firstFragment_decodesWithItsOwnPayload() throws {
        let frame = Self.frame([.fragment(offset: 0, moreFragments: true)])
        #expect(try Net.decode(frame) == Net.expected(Net.a6, Net.b6, flags: .ack, payloadLength: 5))
    }

    @Test("non-first fragments are skipped", arguments: [1, 100, 8191] as [UInt16])
    func nonFirstFragment(offset: UInt16) throws {
        #expect(try Net.decode(Self.frame([.fragment(offset: offset, moreFragments: true)])) == nil)
        #expect(try Net.decode(Self.frame([.hopByHop(), .fragment(offset: offset, moreFragments: false)])) == nil)
    }

    @Test func tinyFirstFragment_isSkipped() throws {
        let frame = Self.frame([.fragment(offset: 0, moreFragments: true)], payload: Array(Self.ack.prefix(12)))
        #expect(try Net.decode(frame) == nil)
    }

    @Test("ESP, no next header, UDP, ICMPv6 and unknown end the chain without TCP", arguments: [50, 59, 17, 58, 253] as [UInt8])
    func nonTCP(next: UInt8) throws {
        #expect(try Net.decode(Self.frame([.hopByHop()], nextHeader: next, payload: [UInt8](repeating: 0, count: 32))) == nil)
        #expect(try Net.decode(Self.frame([], nextHeader: next, payload: [UInt8](repeating: 0, count: 32))) == nil)
    }

    @Test func jumboPayload_setsTheLength() throws {
        // BIG TCP (tcpdump's bigtcp-ipv6-hbh.pcap): payload length 0, hop-by-hop jumbo option.
        let segment = FrameBuilder.tcpSegment(source: Net.a6, destination: Net.b6, flags: .ack, payloadLength: 70_000)
        let frame = Self.frame([.jumboPayload(UInt32(8 + segment.count))], payload: segment, payloadLength: 0)
        #expect(try Net.decode(frame) == Net.expected(Net.a6, Net.b6, flags: .ack, payloadLength: 70_000))
        // The capture cut short of the jumbo length: truncated payload, not an error.
        #expect(try Net.decode(Array(frame.prefix(200))) == Net.expected(Net.a6, Net.b6, flags: .ack, payloadLength: 70_000, isTruncated: true))
    }

    @Test func payloadLengthZeroWithoutJumbo_isDerivedFromTheCapture() throws {
        #expect(try Net.decode(Self.frame([], payloadLength: 0)) == Net.expected(Net.a6, Net.b6, flags: .ack, payloadLength: 5))
    }

    @Test func extensionHeadersOverrunningThePayloadLength_isBadPayloadLength() {
        #expect(throws: DecodeError.badPayloadLength(4)) { try Net.decode(Self.frame([.routing()], payloadLength: 4)) }
    }

    @Test func tcpOverrunningThePayloadLength_isDataOffsetBeyondPayload() {
        #expect(throws: DecodeError.dataOffsetBeyondPayload(5)) { try Net.decode(Self.frame([.hopByHop()], payloadLength: 8 + 12)) }
    }

    @Test func chainBeyondTheBound_isTooManyHeaders() {
        let chain = [Ext](repeating: .destinationOptions(), count: 17)
        #expect(throws: DecodeError.tooManyHeaders(layer: .ipv6Extension, count: 17)) { try Net.decode(Self.frame(chain)) }
        let bounded = [Ext](repeating: .destinationOptions(), count: 16)
        #expect(throws: Never.self) { try Net.decode(Self.frame(bounded)) }
    }

    @Test("an extension header cut anywhere is truncated", arguments: [Ext.hopByHop(), .routing(addresses: 2), .fragment(offset: 0, moreFragments: false), .authentication(), .mobility(length: 16)])
    func truncatedExtension(header: Ext) throws {
        let full = Self.frame([header])
        let length = header.bytes(next: 6).count
        for cut in 0..<length {
            let frame = Array(full.prefix(14 + 40 + cut))
            let needed = header.type == 44 ? 8 : (cut < 2 ? 2 : length)
            #expect(throws: DecodeError.truncated(layer: .ipv6Extension, needed: needed, available: cut)) { try Net.decode(frame) }
        }
    }
}
