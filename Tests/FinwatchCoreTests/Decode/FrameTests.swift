import FinwatchCore
import FinwatchFixtures
import Testing

@Suite("Frame: link layers") struct FrameLinkLayerTests {
    static let ipv4LinkTypes: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .null, .loop, .raw, .ipv4]
    static let ipv6LinkTypes: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .null, .loop, .raw, .ipv6]

    @Test("an IPv4 FIN+ACK with payload decodes on every link type", arguments: ipv4LinkTypes)
    func ipv4(linkType: LinkType) throws {
        let frame = FrameBuilder.tcp(linkType: linkType, source: Net.a, destination: Net.b, flags: [.fin, .ack],
                                     payloadLength: 100, ipIdentification: 7, interfaceIndex: 3)
        let segment = try Net.decode(frame, linkType, interfaceIndex: 9)
        let interface: UInt32 = linkType == .linuxSLL2 ? 3 : 9        // SLL2 carries its own index
        #expect(segment == Net.expected(Net.a, Net.b, flags: [.fin, .ack], payloadLength: 100, ipIdentification: 7,
                                        interfaceIndex: interface))
    }

    @Test("an IPv6 RST decodes on every link type", arguments: ipv6LinkTypes)
    func ipv6(linkType: LinkType) throws {
        let frame = FrameBuilder.tcp(linkType: linkType, source: Net.a6, destination: Net.b6, flags: [.rst],
                                     payloadLength: 3, interfaceIndex: 4)
        let segment = try Net.decode(frame, linkType)
        #expect(segment == Net.expected(Net.a6, Net.b6, flags: [.rst], payloadLength: 3,
                                        interfaceIndex: linkType == .linuxSLL2 ? 4 : nil))
    }

    @Test("VLAN stacks of any depth up to the bound decode", arguments: 0...LinkLayerBound.maximumTags)
    func vlanDepth(depth: Int) throws {
        let tags = (0..<depth).map { UInt16(100 + $0) }
        let frame = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .ack, vlanTags: tags)
        #expect(try Net.decode(frame) == Net.expected(Net.a, Net.b, flags: .ack))
        let frame6 = FrameBuilder.tcp(source: Net.a6, destination: Net.b6, flags: .ack, vlanTags: tags)
        #expect(try Net.decode(frame6) == Net.expected(Net.a6, Net.b6, flags: .ack))
    }

    @Test func vlanStackBeyondTheBound_isTooManyHeaders() {
        let tags = [UInt16](repeating: 5, count: LinkLayerBound.maximumTags + 1)
        let frame = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .ack, vlanTags: tags)
        #expect(throws: DecodeError.tooManyHeaders(layer: .vlan, count: LinkLayerBound.maximumTags + 1)) {
            try Net.decode(frame)
        }
    }

    @Test("802.1Q, 802.1ad and 0x9100 TPIDs in any order", arguments: [[0x8100], [0x88A8], [0x88A8, 0x8100], [0x9100, 0x8100], [0x8100, 0x8100]] as [[UInt16]])
    func vlanTPIDs(tpids: [UInt16]) throws {
        let packet = FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip,
                                       payload: FrameBuilder.tcpSegment(source: Net.a, destination: Net.b, flags: .syn))
        let frame = FrameBuilder.link(.ethernet, packet: packet, vlanTags: tpids.map { _ in 0 }, vlanTPIDs: tpids)
        #expect(try Net.decode(frame) == Net.expected(Net.a, Net.b, flags: .syn))
    }

    @Test("802.2 LLC/SNAP carries IPv4 and IPv6")
    func snap() throws {
        let v4 = FrameBuilder.snap(packet: FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip,
            payload: FrameBuilder.tcpSegment(source: Net.a, destination: Net.b, flags: [.fin, .ack])))
        #expect(try Net.decode(v4) == Net.expected(Net.a, Net.b, flags: [.fin, .ack]))
        let v6 = FrameBuilder.snap(packet: FrameBuilder.ipv6(source: Net.a6.ip, destination: Net.b6.ip,
            payload: FrameBuilder.tcpSegment(source: Net.a6, destination: Net.b6, flags: .ack)))
        #expect(try Net.decode(v6) == Net.expected(Net.a6, Net.b6, flags: .ack))
    }

    @Test func llcWithoutSNAP_isSkipped() throws {
        // Spanning tree: DSAP/SSAP 0x42, not IP.
        var frame = FrameBuilder.ethernet(etherType: 38, payload: [0x42, 0x42, 0x03])
        frame += [UInt8](repeating: 0, count: 35)
        #expect(try Net.decode(frame) == nil)
    }

    @Test func snapWithVendorOUI_isSkipped() throws {
        var frame = FrameBuilder.snap(packet: FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip,
            payload: FrameBuilder.tcpSegment(source: Net.a, destination: Net.b, flags: .ack)))
        frame[19] = 0x0C                                             // OUI 00-00-0C (Cisco)
        #expect(try Net.decode(frame) == nil)
    }

    @Test("ARP, unknown EtherTypes and non-TCP are skipped, not errors", arguments: [0x0806, 0x88CC, 0x88E5, 0x1234] as [UInt16])
    func nonIPEtherType(etherType: UInt16) throws {
        #expect(try Net.decode(FrameBuilder.ethernet(etherType: etherType, payload: [UInt8](repeating: 0, count: 46))) == nil)
    }

    @Test("UDP, ICMP, ICMPv6 are skipped", arguments: [17, 1, 58, 132] as [UInt8])
    func nonTCP(proto: UInt8) throws {
        let payload = [UInt8](repeating: 0, count: 28)
        let v4 = FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip, protocol: proto, payload: payload))
        #expect(try Net.decode(v4) == nil)
        let v6 = FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv6(source: Net.a6.ip, destination: Net.b6.ip, nextHeader: proto, payload: payload))
        #expect(try Net.decode(v6) == nil)
    }

    @Test("NULL accepts AF values in either byte order", arguments: [(2, false), (10, true), (24, true), (28, true), (30, true)] as [(UInt32, Bool)])
    func nullAddressFamilies(family: UInt32, isIPv6: Bool) throws {
        let (source, destination) = isIPv6 ? (Net.a6, Net.b6) : (Net.a, Net.b)
        let segment = FrameBuilder.tcpSegment(source: source, destination: destination, flags: .ack)
        let packet = isIPv6 ? FrameBuilder.ipv6(source: source.ip, destination: destination.ip, payload: segment)
                            : FrameBuilder.ipv4(source: source.ip, destination: destination.ip, payload: segment)
        let little = FrameBuilder.link(.null, packet: packet, nullAddressFamily: family)
        var big = little
        big.replaceSubrange(0..<4, with: [0, 0, 0, UInt8(family)])
        #expect(try Net.decode(little, .null) == Net.expected(source, destination, flags: .ack))
        #expect(try Net.decode(big, .null) == Net.expected(source, destination, flags: .ack))
    }

    @Test func nullUnknownFamily_isSkipped() throws {
        var frame = FrameBuilder.tcp(linkType: .null, source: Net.a, destination: Net.b, flags: .ack)
        frame[0] = 7                                                 // AF_7: not IP
        #expect(try Net.decode(frame, .null) == nil)
    }

    @Test func loopIsNetworkOrder() throws {
        let frame = FrameBuilder.tcp(linkType: .loop, source: Net.a6, destination: Net.b6, flags: .ack)
        #expect(Array(frame.prefix(4)) == [0, 0, 0, 24])
        #expect(try Net.decode(frame, .loop) == Net.expected(Net.a6, Net.b6, flags: .ack))
    }

    @Test func linkTypeIPv4CarryingIPv6_isBadIPVersion() {
        let frame = FrameBuilder.tcp(linkType: .ipv6, source: Net.a6, destination: Net.b6, flags: .ack)
        #expect(throws: DecodeError.badIPVersion(6)) { try Net.decode(frame, .ipv4) }
    }

    @Test func linkTypeIPv6CarryingIPv4_isBadIPVersion() {
        let frame = FrameBuilder.tcp(linkType: .ipv4, source: Net.a, destination: Net.b, flags: .ack)
        #expect(throws: DecodeError.badIPVersion(4)) { try Net.decode(frame, .ipv6) }
    }

    @Test("raw IP with a version other than 4 or 6 is badIPVersion", arguments: [0, 5, 7, 15] as [UInt8])
    func rawBadVersion(version: UInt8) {
        var frame = FrameBuilder.tcp(linkType: .raw, source: Net.a, destination: Net.b, flags: .ack)
        frame[0] = version << 4 | 5
        #expect(throws: DecodeError.badIPVersion(version)) { try Net.decode(frame, .raw) }
    }

    @Test func etherTypeIPv4WithVersion6_isBadIPVersion() {
        var frame = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .ack)
        frame[14] = 0x65
        #expect(throws: DecodeError.badIPVersion(6)) { try Net.decode(frame) }
    }

    @Test func ethernetPaddingIsNotPayload() throws {
        var frame = FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .ack)   // 54 bytes
        frame += [UInt8](repeating: 0, count: 6)                                        // padded to 60
        #expect(try Net.decode(frame) == Net.expected(Net.a, Net.b, flags: .ack))
    }

    @Test func fieldsAreReadFromTheRightPlaces() throws {
        let frame = FrameBuilder.tcp(source: Net.b, destination: Net.a, sequence: 0xDEAD_BEEF, acknowledgment: 0x0102_0304,
                                     flags: [.psh, .ack, .urg, .ece, .cwr], window: 0x1234, payloadLength: 1,
                                     ipIdentification: 0xABCD, hopLimit: 3)
        let segment = try #require(try Net.decode(frame))
        #expect(segment.sequence == SequenceNumber(0xDEAD_BEEF))
        #expect(segment.acknowledgment == SequenceNumber(0x0102_0304))
        #expect(segment.flags == [.psh, .ack, .urg, .ece, .cwr])
        #expect(segment.window == 0x1234)
        #expect(segment.ipIdentification == 0xABCD)
        #expect(segment.hopLimit == 3)
        #expect(segment.payloadLength == 1)
        #expect((segment.source, segment.sourcePort, segment.destination, segment.destinationPort) == (Net.b.ip, 80, Net.a.ip, 40022))
        #expect(segment.timestamp == Net.time)
    }
}

/// The VLAN bound the decoder documents (LinkLayer is internal to FinwatchCore).
enum LinkLayerBound { static let maximumTags = 8 }
