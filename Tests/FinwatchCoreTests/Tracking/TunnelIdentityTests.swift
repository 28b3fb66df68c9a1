@testable import FinwatchCore
import FinwatchFixtures
import Testing

/// Tunnel identity in the tracker: frames built byte by byte, decoded into a batch as the capture
/// stage does, tracked; the close records compared.
@Suite("Tunnel identity") struct TunnelIdentityTests {
    static let vtepA = IPAddress("198.18.9.1")!
    static let vtepB = IPAddress("198.18.9.2")!

    /// One side's frame of a four-segment connection (SYN, SYN+ACK, ACK, RST from orig) through a
    /// VXLAN tunnel with `vni` (nil: plain Ethernet); the reply comes from the other VTEP, from
    /// another UDP source port, as a real VTEP sends it.
    static func frame(_ step: Int, orig: Endpoint, resp: Endpoint, vni: UInt32?) -> [UInt8] {
        let steps: [(Bool, TCPFlags, UInt32, UInt32)] = [
            (true, [.syn], 1000, 0), (false, [.syn, .ack], 5000, 1001), (true, [.ack], 1001, 5001), (true, [.rst, .ack], 1001, 5001),
        ]
        let (fromOrig, flags, sequence, acknowledgment) = steps[step]
        let (source, destination) = fromOrig ? (orig, resp) : (resp, orig)
        let inner = FB.tcp(source: source, destination: destination, sequence: sequence, acknowledgment: acknowledgment, flags: flags)
        guard let vni else { return inner }
        let (outerSource, outerDestination) = fromOrig ? (vtepA, vtepB) : (vtepB, vtepA)
        return FB.ether(0x0800, FB.ip(outerSource, outerDestination, protocol: 17,
                                      FB.udp(sourcePort: fromOrig ? 50001 : 61002, destinationPort: 4789, FB.vxlan(vni: vni, inner))))
    }

    /// Decodes `frames` into one batch and tracks it to the end; the close records.
    static func track(_ frames: [[UInt8]]) throws -> [CloseRecord] {
        var batch = SegmentBatch()
        var path = TunnelPath()
        for (index, frame) in frames.enumerated() {
            let segment = try #require(try Frame.decodeTCP(frame.span.bytes, linkType: .ethernet, timestamp: .ms(Double(index)),
                                                           interfaceIndex: nil, tunnel: &path))
            batch.append(segment, tunnel: path)
        }
        var table = ConnectionTable(configuration: TrackerConfiguration())
        var events: [Event] = []
        table.observe(batch, packetClock: true, into: &events)
        table.finish(at: .ms(10_000), reason: .endOfInput, into: &events)
        return events.compactMap { if case .close(let r) = $0 { r } else { nil } }
    }

    static func connection(_ orig: Endpoint, _ resp: Endpoint, vni: UInt32?) -> [[UInt8]] {
        (0..<4).map { frame($0, orig: orig, resp: resp, vni: vni) }
    }

    @Test func sameInnerTupleInTwoVNIs_isTwoConnectionsEachWithItsTunnel() throws {
        let closes = try Self.track(Self.connection(Net.a, Net.b, vni: 1) + Self.connection(Net.a, Net.b, vni: 2))
        #expect(closes.count == 2)
        #expect(closes.allSatisfy { $0.close == .reset && $0.identity.orig == Net.a && $0.identity.resp == Net.b })
        #expect(closes.map { $0.identity.tunnel?.first?.identifier } == [1, 2])
        #expect(closes.map { $0.identity.tunnel?.first?.outerSource } == [Self.vtepA, Self.vtepA])
    }

    @Test func bothDirectionsThroughOneTunnel_areOneConnection() throws {
        let closes = try Self.track(Self.connection(Net.a, Net.b, vni: 7))
        #expect(closes.count == 1)
        #expect(closes.first?.close == .reset)
        #expect(closes.first?.identity.handshakeSeen == true)
    }

    @Test func tunnelledLine_hasTheTunnelField_plainLineHasNone_bothTheInnerCommunityID() throws {
        let tunnelled = try Self.track(Self.connection(Net.a, Net.b, vni: 3))
        let plain = try Self.track(Self.connection(Net.a, Net.b, vni: nil))
        #expect(tunnelled.count == 1 && plain.count == 1)
        let plainLine = Event.close(plain[0]).jsonLine
        let tunnelLine = Event.close(tunnelled[0]).jsonLine
        #expect(!plainLine.contains("tunnel"))
        #expect(tunnelLine.contains(#","tunnel":[{"kind":"vxlan","outer":{"src":"198.18.9.1","dst":"198.18.9.2"},"vni":3}]"#))
        // The community id is the inner flow's: the same on both.
        #expect(plainLine.split(separator: ",")[3] == tunnelLine.split(separator: ",")[3])
    }

    @Test func ipv6InnerThroughATunnel_keepsItsAddressesInEvents() throws {
        let closes = try Self.track(Self.connection(Net.a6, Net.b6, vni: 4) + Self.connection(Net.a6, Net.b6, vni: 5))
        #expect(closes.count == 2)
        #expect(closes.allSatisfy { $0.identity.orig == Net.a6 && $0.identity.resp == Net.b6 })
    }

    @Test func onAny_theEncapsulatedAndTheDecapsulatedCopy_areOneConnection_eachSegmentCountedOnce() throws {
        // Each segment seen twice, as a tunnel endpoint's `any` capture sees it: the SYN leaves
        // plain on the overlay (2) then encapsulated on the underlay (1); the replies arrive
        // encapsulated first, then plain.
        var batch = SegmentBatch()
        var path = TunnelPath()
        for step in 0..<4 {
            let fromOrig = step != 1
            let order: [(UInt32, UInt32?)] = fromOrig ? [(2, nil), (1, 8)] : [(1, 8), (2, nil)]
            for (interface, vni) in order {
                let frame = Self.frame(step, orig: Net.a, resp: Net.b, vni: vni)
                let segment = try #require(try Frame.decodeTCP(frame.span.bytes, linkType: .ethernet, timestamp: .ms(Double(step)),
                                                               interfaceIndex: interface, tunnel: &path))
                batch.append(segment, tunnel: path)
            }
        }
        var table = ConnectionTable(configuration: TrackerConfiguration())
        var events: [Event] = []
        table.observe(batch, packetClock: true, into: &events)
        table.finish(at: .ms(10_000), reason: .endOfInput, into: &events)
        let closes = events.compactMap { if case .close(let r) = $0 { r } else { nil } }
        #expect(closes.count == 1)
        #expect(closes.first?.close == .reset)
        #expect(table.duplicates == 4)
    }

    @Test func plainConnectionsLayout_isUnchanged() {
        #expect(MemoryLayout<TCPSegment>.stride == 72)
        #expect(MemoryLayout<FlowKey>.size == 37)
    }
}
