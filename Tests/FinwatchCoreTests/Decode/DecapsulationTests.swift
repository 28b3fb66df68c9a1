import FinwatchCore
import FinwatchFixtures
import Testing

typealias FB = FrameBuilder

/// Encapsulated frames built byte by byte, decoded to the inner segment and its tunnel path.
@Suite("Decapsulation") struct DecapsulationTests {
    static let outerA = IPAddress("198.18.1.1")!
    static let outerB = IPAddress("198.18.1.2")!
    static let outerA6 = IPAddress("2001:db8:1::1")!
    static let outerB6 = IPAddress("2001:db8:1::2")!

    /// Decodes `frame`, returning the segment and its path.
    static func decode(_ frame: [UInt8], _ linkType: LinkType = .ethernet,
                       decapsulate: Bool = true) throws(DecodeError) -> (TCPSegment, TunnelPath)? {
        var path = TunnelPath()
        guard let segment = try Frame.decodeTCP(frame.span.bytes, linkType: linkType, timestamp: Net.time,
                                                interfaceIndex: nil, tunnel: &path, decapsulate: decapsulate) else { return nil }
        return (segment, path)
    }

    /// The inner FIN from Net.a to Net.b, as an Ethernet frame and as an IP packet.
    static let innerFrame = FB.tcp(source: Net.a, destination: Net.b, flags: [.fin, .ack])
    static let innerPacket = FB.tcpPacket(Net.a, Net.b, flags: [.fin, .ack])
    static let innerPacket6 = FB.tcpPacket(Net.a6, Net.b6, flags: [.fin, .ack])

    static func expectInner(_ decoded: (TCPSegment, TunnelPath)?, _ layers: [TunnelLayer], v6: Bool = false) {
        guard let (segment, path) = decoded else { Issue.record("no segment"); return }
        #expect(segment.source == (v6 ? Net.a6 : Net.a).ip)
        #expect(segment.destination == (v6 ? Net.b6 : Net.b).ip)
        #expect(segment.sourcePort == (v6 ? Net.a6 : Net.a).port)
        #expect(segment.flags == [.fin, .ack])
        #expect(path.layers == layers)
    }

    static func outer(_ kind: TunnelLayer.Kind, _ id: UInt32? = nil, v6: Bool = false) -> TunnelLayer {
        TunnelLayer(kind: kind, outerSource: v6 ? outerA6 : outerA, outerDestination: v6 ? outerB6 : outerB, identifier: id)
    }

    // MARK: - Each encapsulation

    @Test func vxlanOnPort4789_decodesTheInnerSegmentWithItsVNI() throws {
        let frame = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 17,
                                           FB.udp(destinationPort: 4789, FB.vxlan(vni: 42, Self.innerFrame))))
        Self.expectInner(try Self.decode(frame), [Self.outer(.vxlan, 42)])
    }

    @Test func vxlanOnLinuxPort8472OverIPv6_decodes() throws {
        let frame = FB.ether(0x86DD, FB.ip(Self.outerA6, Self.outerB6, protocol: 17,
                                           FB.udp(destinationPort: 8472, FB.vxlan(vni: 0xABCDEF, Self.innerFrame))))
        Self.expectInner(try Self.decode(frame), [Self.outer(.vxlan, 0xABCDEF, v6: true)])
    }

    @Test("Geneve with options, each protocol type", arguments: [(UInt16(0x6558), 0), (0x0800, 3), (0x86DD, 63)])
    func geneve(protocolType: UInt16, optionWords: Int) throws {
        let inner = protocolType == 0x6558 ? Self.innerFrame : protocolType == 0x0800 ? Self.innerPacket : Self.innerPacket6
        let frame = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 17,
            FB.udp(destinationPort: 6081, FB.geneve(vni: 7, protocolType: protocolType, optionWords: UInt8(optionWords), inner))))
        Self.expectInner(try Self.decode(frame), [Self.outer(.geneve, 7)], v6: protocolType == 0x86DD)
    }

    @Test("GRE with checksum, key and sequence in every combination", arguments: [false, true], [nil, UInt32(0xFEED)])
    func gre(checksum: Bool, key: UInt32?) throws {
        for sequence in [nil, UInt32(9)] {
            let frame = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 47,
                FB.gre(protocolType: 0x0800, checksum: checksum, key: key, sequence: sequence, Self.innerPacket)))
            Self.expectInner(try Self.decode(frame), [Self.outer(.gre, key)])
        }
    }

    @Test func greCarryingIPv6AndTransparentEthernet_decode() throws {
        let six = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 47, FB.gre(protocolType: 0x86DD, Self.innerPacket6)))
        Self.expectInner(try Self.decode(six), [Self.outer(.gre)], v6: true)
        let teb = FB.ether(0x86DD, FB.ip(Self.outerA6, Self.outerB6, protocol: 47, FB.gre(protocolType: 0x6558, key: 3, Self.innerFrame)))
        Self.expectInner(try Self.decode(teb), [Self.outer(.gre, 3, v6: true)])
    }

    @Test func pptpEnhancedGRE_decodesThePPPPacket() throws {
        let frame = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 47, FB.enhancedGRE(callID: 0x4242, Self.innerPacket)))
        Self.expectInner(try Self.decode(frame), [Self.outer(.gre, 0x4242)])
    }

    @Test func erspanTypeIWithoutHeader_typeII_typeIII_decode() throws {
        let typeI = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 47, FB.gre(protocolType: 0x88BE, Self.innerFrame)))
        Self.expectInner(try Self.decode(typeI), [Self.outer(.erspan)])
        let typeII = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 47,
                                            FB.gre(protocolType: 0x88BE, sequence: 1, FB.erspanII(session: 100, Self.innerFrame))))
        Self.expectInner(try Self.decode(typeII), [Self.outer(.erspan, 100)])
        for platform in [false, true] {
            let typeIII = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 47,
                FB.gre(protocolType: 0x22EB, sequence: 1, FB.erspanIII(session: 5, platform: platform, Self.innerFrame))))
            Self.expectInner(try Self.decode(typeIII), [Self.outer(.erspan, 5)])
        }
        let ipFrame = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 47,
            FB.gre(protocolType: 0x22EB, sequence: 1, FB.erspanIII(session: 6, frameType: 2, Self.innerPacket))))
        Self.expectInner(try Self.decode(ipFrame), [Self.outer(.erspan, 6)])
    }

    @Test("IP in IP: 4in4, 6in4, 4in6, 6in6", arguments: [(false, false), (false, true), (true, false), (true, true)])
    func ipInIP(outerV6: Bool, innerV6: Bool) throws {
        let (s, d) = outerV6 ? (Self.outerA6, Self.outerB6) : (Self.outerA, Self.outerB)
        let frame = FB.ether(outerV6 ? 0x86DD : 0x0800,
                             FB.ip(s, d, protocol: innerV6 ? 41 : 4, innerV6 ? Self.innerPacket6 : Self.innerPacket))
        Self.expectInner(try Self.decode(frame), [Self.outer(.ipip, v6: outerV6)], v6: innerV6)
    }

    @Test func mplsStack_thenIPv4_IPv6_andPseudowireEthernet() throws {
        let four = FB.ether(0x8847, FB.mpls(labels: [100, 200], Self.innerPacket))
        Self.expectInner(try Self.decode(four), [TunnelLayer(kind: .mpls, identifier: 200)])
        let six = FB.ether(0x8847, FB.mpls(labels: [17], Self.innerPacket6))
        Self.expectInner(try Self.decode(six), [TunnelLayer(kind: .mpls, identifier: 17)], v6: true)
        let pseudowire = FB.ether(0x8847, FB.mpls(labels: [16, 300], controlWord: true, Self.innerFrame))
        Self.expectInner(try Self.decode(pseudowire), [TunnelLayer(kind: .mpls, identifier: 300)])
    }

    @Test func pppoeSession_ipv4AndIPv6() throws {
        let four = FB.ether(0x8864, FB.pppoe(session: 0x1234, Self.innerPacket))
        Self.expectInner(try Self.decode(four), [TunnelLayer(kind: .pppoe, identifier: 0x1234)])
        let six = FB.ether(0x8864, FB.pppoe(session: 1, pppProtocol: 0x0057, Self.innerPacket6))
        Self.expectInner(try Self.decode(six), [TunnelLayer(kind: .pppoe, identifier: 1)], v6: true)
    }

    @Test func gtpuPlainAndWithExtensionHeaders_decode() throws {
        for extensions in [[], [UInt8(1)], [1, 2]] {
            let frame = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 17,
                FB.udp(sourcePort: 2152, destinationPort: 2152, FB.gtpu(teid: 0xDEAD_BEEF, extensions: extensions, Self.innerPacket))))
            Self.expectInner(try Self.decode(frame), [Self.outer(.gtpu, 0xDEAD_BEEF)])
        }
    }

    @Test func teredoWithAndWithoutOriginIndication_decodes() throws {
        for origin in [false, true] {
            let frame = FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 17,
                FB.udp(sourcePort: 3544, destinationPort: 50000, FB.teredo(origin: origin, Self.innerPacket6))))
            Self.expectInner(try Self.decode(frame), [Self.outer(.teredo)], v6: true)
        }
    }

    @Test func nestedVXLANInGREInMPLS_listsEveryLayerOuterFirst() throws {
        let vxlan = FB.ip(Self.outerA6, Self.outerB6, protocol: 17, FB.udp(destinationPort: 4789, FB.vxlan(vni: 9, Self.innerFrame)))
        let frame = FB.ether(0x8847, FB.mpls(labels: [1000], FB.ip(Self.outerA, Self.outerB, protocol: 47,
                                                                       FB.gre(protocolType: 0x86DD, key: 5, vxlan))))
        Self.expectInner(try Self.decode(frame), [TunnelLayer(kind: .mpls, identifier: 1000), Self.outer(.gre, 5), Self.outer(.vxlan, 9, v6: true)])
    }

    // MARK: - Link types

    @Test("older link types carry IP", arguments: [LinkType.fddi, .ppp, .pppSerial, .atmRFC1483, .nflog])
    func olderLinkTypes(linkType: LinkType) throws {
        for (source, destination) in [(Net.a, Net.b), (Net.a6, Net.b6)] {
            let frame = FB.tcp(linkType: linkType, source: source, destination: destination, flags: [.fin, .ack])
            let (segment, path) = try #require(try Self.decode(frame, linkType))
            #expect(segment.source == source.ip && segment.destinationPort == destination.port)
            #expect(path.isEmpty)
        }
    }

    @Test func eTagAndVNTag_areSteppedOver() throws {
        let eTag = FB.ethernetAddresses + [0x89, 0x3F, 0, 0, 0, 0, 0, 0, 0x08, 0x00]
        Self.expectInner(try Self.decode(eTag + Self.innerPacket), [])
        let vnTag = FB.ethernetAddresses + [0x89, 0x26, 0, 0, 0, 0, 0x08, 0x00]
        Self.expectInner(try Self.decode(vnTag + Self.innerPacket), [])
    }

    // MARK: - Off, not tunnels, and the common frame

    @Test func noDecapsulate_skipsEveryEncapsulatedSegment() throws {
        let frames = [
            FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 17, FB.udp(destinationPort: 4789, FB.vxlan(vni: 1, Self.innerFrame)))),
            FB.ether(0x8847, FB.mpls(labels: [1], Self.innerPacket)),
            FB.ether(0x8864, FB.pppoe(session: 1, Self.innerPacket)),
            FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 4, Self.innerPacket)),
        ]
        for frame in frames {
            #expect(try Self.decode(frame, decapsulate: false) == nil)
            #expect(try Self.decode(frame) != nil)
        }
    }

    @Test func udpOnATunnelPortWithoutItsHeader_isSkippedNotAnError() throws {
        // VXLAN without the I flag, GTP' (no PT bit), a GTP echo, Teredo not carrying IPv6.
        let payloads: [[UInt8]] = [
            FB.udp(destinationPort: 4789, FB.vxlan(vni: 1, flags: 0, Self.innerFrame)),
            FB.udp(destinationPort: 2152, [0x20, 0xFF, 0, 0, 0, 0, 0, 1] + Self.innerPacket),
            FB.udp(destinationPort: 2152, [0x30, 0x01, 0, 0, 0, 0, 0, 1]),
            FB.udp(destinationPort: 3544, Self.innerPacket),
            FB.udp(destinationPort: 53, Self.innerPacket),
        ]
        for payload in payloads {
            #expect(try Self.decode(FB.ether(0x0800, FB.ip(Self.outerA, Self.outerB, protocol: 17, payload))) == nil)
        }
    }

    @Test func plainTraffic_takesTheCommonFrameWithNoPath() throws {
        let frame = FB.tcp(source: Net.a, destination: Net.b, flags: [.ack])
        #expect(Frame.commonSegment(frame.span.bytes, linkType: .ethernet, timestamp: Net.time, interfaceIndex: nil) != nil)
        let (_, path) = try #require(try Self.decode(frame))
        #expect(path.isEmpty)
    }
}
