import FinwatchCore
import FinwatchFixtures
import Testing

/// Every prefix of a frame is either a precise truncation error or a decode: never a trap.
@Suite("Truncated frames") struct TruncationTests {
    static let options: [UInt8] = [2, 4, 5, 0xB4, 1, 3, 3, 7]

    @Test("an Ethernet header cut anywhere is truncated", arguments: 0..<14)
    func ethernet(length: Int) {
        let frame = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .ack)
        #expect(throws: DecodeError.truncated(layer: .link, needed: 14, available: length)) { try Net.decode(Array(frame.prefix(length))) }
    }

    @Test("a VLAN tag cut anywhere is truncated", arguments: 14..<18)
    func vlan(length: Int) {
        let frame = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .ack, vlanTags: [10])
        #expect(throws: DecodeError.truncated(layer: .vlan, needed: 6, available: length - 12)) { try Net.decode(Array(frame.prefix(length))) }
    }

    @Test("an LLC/SNAP header cut anywhere is truncated", arguments: 14..<22)
    func snap(length: Int) {
        let frame = FrameBuilder.snap(packet: FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip,
            payload: FrameBuilder.tcpSegment(source: Net.a, destination: Net.b, flags: .ack)))
        #expect(throws: DecodeError.truncated(layer: .link, needed: length < 17 ? 17 : 22, available: length)) {
            try Net.decode(Array(frame.prefix(length)))
        }
    }

    @Test("cooked and loopback headers cut anywhere are truncated",
          arguments: [(LinkType.linuxSLL, 16), (.linuxSLL2, 20), (.null, 4), (.loop, 4)])
    func cooked(linkType: LinkType, header: Int) {
        let frame = FrameBuilder.tcp(linkType: linkType, source: Net.a, destination: Net.b, flags: .ack)
        for length in 0..<header {
            #expect(throws: DecodeError.truncated(layer: .link, needed: header, available: length)) {
                try Net.decode(Array(frame.prefix(length)), linkType)
            }
        }
    }

    @Test("an IPv4 header cut anywhere is truncated", arguments: 0..<24)
    func ipv4(length: Int) {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip,
                                       payload: FrameBuilder.tcpSegment(source: Net.a, destination: Net.b, flags: .ack),
                                       options: [1, 1, 1, 0])
        let needed = length < 20 ? 20 : 24
        #expect(throws: DecodeError.truncated(layer: .ipv4, needed: needed, available: length)) {
            try Net.decode(Array(packet.prefix(length)), .ipv4)
        }
    }

    @Test("an IPv6 header cut anywhere is truncated", arguments: 0..<40)
    func ipv6(length: Int) {
        let frame = FrameBuilder.tcp(linkType: .ipv6, source: Net.a6, destination: Net.b6, flags: .ack)
        #expect(throws: DecodeError.truncated(layer: .ipv6, needed: 40, available: length)) {
            try Net.decode(Array(frame.prefix(length)), .ipv6)
        }
    }

    @Test("a raw frame with no byte at all is truncated")
    func rawEmpty() {
        #expect(throws: DecodeError.truncated(layer: .link, needed: 1, available: 0)) { try Net.decode([], .raw) }
    }

    @Test("a TCP header cut in its fixed part is truncated", arguments: 0..<20)
    func tcpFixed(length: Int) {
        for (source, destination) in [(Net.a, Net.b), (Net.a6, Net.b6)] {
            let frame = FrameBuilder.tcp(linkType: .raw, source: source, destination: destination, flags: .syn, options: Self.options)
            let ipHeader = source.ip.isIPv6 ? 40 : 20
            #expect(throws: DecodeError.truncated(layer: .tcp, needed: 20, available: length)) {
                try Net.decode(Array(frame.prefix(ipHeader + length)), .raw)
            }
        }
    }

    @Test("a TCP header cut in its options decodes, marked truncated", arguments: 20..<28)
    func tcpOptions(length: Int) throws {
        let frame = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .syn, options: Self.options)
        let segment = try #require(try Net.decode(Array(frame.prefix(34 + length))))
        #expect(segment.isTruncated)
        #expect(segment.windowScale == nil)                       // the option was cut: unknown, not guessed
    }

    @Test("every prefix of every kind of frame decodes or throws", arguments: LinkType.allCases)
    func everyPrefix(linkType: LinkType) {
        var frames: [[UInt8]] = []
        if linkType != .ipv6 {
            frames.append(FrameBuilder.tcp(linkType: linkType, source: Net.a, destination: Net.b, flags: .syn, payloadLength: 4, options: Self.options, vlanTags: [1, 2]))
        }
        if linkType != .ipv4 {
            let packet = FrameBuilder.ipv6(source: Net.a6.ip, destination: Net.b6.ip,
                                           extensions: [.hopByHop(), .routing(), .fragment(offset: 0, moreFragments: false), .authentication()],
                                           payload: FrameBuilder.tcpSegment(source: Net.a6, destination: Net.b6, flags: .syn, options: Self.options))
            frames.append(FrameBuilder.link(linkType, packet: packet, vlanTags: [1]))
        }
        for frame in frames {
            var decoded = 0
            for length in 0...frame.count {
                if (try? Net.decode(Array(frame.prefix(length)), linkType)) != nil { decoded += 1 }
            }
            #expect(decoded >= 1)                                 // at least the whole frame
        }
    }
}
