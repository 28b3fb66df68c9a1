import FinwatchCore
import FinwatchFixtures
import Testing

@Suite("TCP header") struct TCPHeaderTests {
    static func frame(_ segment: [UInt8], ipv6: Bool = false) -> [UInt8] {
        let packet = ipv6 ? FrameBuilder.ipv6(source: Net.a6.ip, destination: Net.b6.ip, payload: segment)
                          : FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, payload: segment)
        return FrameBuilder.link(.ethernet, packet: packet)
    }

    @Test("data offset below 5 is badDataOffset", arguments: 0..<5)
    func badDataOffset(words: Int) {
        let segment = FrameBuilder.tcpHeader(flags: .ack, dataOffsetWords: UInt8(words), payloadLength: 20)
        #expect(throws: DecodeError.badDataOffset(UInt8(words))) { try Net.decode(Self.frame(segment)) }
    }

    @Test("data offset beyond the IP payload is dataOffsetBeyondPayload", arguments: 6...15)
    func dataOffsetBeyondPayload(words: Int) {
        let segment = FrameBuilder.tcpHeader(flags: .ack, dataOffsetWords: UInt8(words), payloadLength: words * 4 - 24)
        #expect(throws: DecodeError.dataOffsetBeyondPayload(UInt8(words))) { try Net.decode(Self.frame(segment)) }
        #expect(throws: DecodeError.dataOffsetBeyondPayload(UInt8(words))) { try Net.decode(Self.frame(segment, ipv6: true)) }
    }

    @Test func windowScaleIsReadOnSYN() throws {
        let options: [UInt8] = [2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]
        let syn = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .syn, options: options)
        #expect(try Net.decode(syn) == Net.expected(Net.a, Net.b, flags: .syn, windowScale: 7))
        let synAck = FrameBuilder.tcp(source: Net.b6, destination: Net.a6, flags: [.syn, .ack], options: [3, 3, 14])
        #expect(try Net.decode(synAck) == Net.expected(Net.b6, Net.a6, flags: [.syn, .ack], windowScale: 14))
    }

    @Test func windowScaleIsIgnoredWithoutSYN() throws {
        let ack = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .ack, options: [1, 3, 3, 7])
        #expect(try Net.decode(ack)?.windowScale == nil)
    }

    @Test func windowScaleAbove14_means14() throws {
        let syn = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .syn, options: [3, 3, 200])
        #expect(try Net.decode(syn)?.windowScale == 14)
    }

    @Test("malformed option lengths stop option parsing, not the segment",
          arguments: [[2, 0, 3, 3, 7], [2, 1, 3, 3, 7], [2, 40], [8, 200, 3, 3, 7], [1, 1, 1, 2]] as [[UInt8]])
    func malformedOptions(options: [UInt8]) throws {
        // The urgent11 capture (CVE-2019-12260) has a SYN with such an option.
        let syn = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .syn, options: options)
        #expect(try Net.decode(syn) == Net.expected(Net.a, Net.b, flags: .syn))
    }

    @Test func endOfOptionListStopsTheWalk() throws {
        let syn = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .syn, options: [0, 3, 3, 7])
        #expect(try Net.decode(syn)?.windowScale == nil)
    }

    @Test func optionsCutBySnaplen_decodeAsTruncated() throws {
        let syn = FrameBuilder.tcp(source: Net.a6, destination: Net.b6, flags: .syn, options: [1, 1, 1, 1, 1, 3, 3, 7])
        let cut = Array(syn.prefix(14 + 40 + 24))
        #expect(try Net.decode(cut) == Net.expected(Net.a6, Net.b6, flags: .syn, isTruncated: true))
    }

    @Test func payloadLengthComesFromIPNotTheCapture() throws {
        let frame = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: [.psh, .ack], payloadLength: 1400,
                                     options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2])
        #expect(try Net.decode(Array(frame.prefix(96)))
                == Net.expected(Net.a, Net.b, flags: [.psh, .ack], payloadLength: 1400, isTruncated: true))
    }
}
