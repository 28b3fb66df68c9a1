import FinwatchCore
import FinwatchFixtures
import Testing

/// Lying and cut encapsulation headers: each gets its own error (counted as malformed by the
/// capture stage), never a trap, never a segment read from outside its packet.
@Suite("Decapsulation, hostile") struct DecapsulationHostileTests {
    typealias T = DecapsulationTests
    static func udp4(_ payload: [UInt8]) -> [UInt8] { FB.ether(0x0800, FB.ip(T.outerA, T.outerB, protocol: 17, payload)) }
    static func gre4(_ payload: [UInt8]) -> [UInt8] { FB.ether(0x0800, FB.ip(T.outerA, T.outerB, protocol: 47, payload)) }

    @Test("each lying header has its own error", arguments: [
        (udp4(FB.udp(destinationPort: 4789, FB.vxlan(vni: 1, T.innerFrame), length: 5)), DecodeError.badLength(layer: .udp, value: 5)),
        (udp4(FB.udp(destinationPort: 4789, [0x08, 0, 0])), .truncated(layer: .vxlan, needed: 8, available: 3)),
        (udp4(FB.udp(destinationPort: 6081, FB.geneve(vni: 1, version: 1, T.innerFrame))), .unknownVersion(layer: .geneve, version: 1)),
        (udp4(FB.udp(destinationPort: 6081, [0x3F, 0, 0x65, 0x58, 0, 0, 1, 0])), .truncated(layer: .geneve, needed: 8 + 63 * 4, available: 8)),
        (gre4(FB.gre(protocolType: 0x0800, version: 2, T.innerPacket)), .unknownVersion(layer: .gre, version: 2)),
        (gre4(FB.gre(protocolType: 0x0800, version: 7, T.innerPacket)), .unknownVersion(layer: .gre, version: 7)),
        (gre4([0x20, 0x00, 0x08, 0x00, 0xFF]), .truncated(layer: .gre, needed: 8, available: 5)),
        (gre4(FB.gre(protocolType: 0x88BE, sequence: 1, FB.erspanII(session: 1, version: 2, T.innerFrame))), .unknownVersion(layer: .erspan, version: 2)),
        (gre4(FB.gre(protocolType: 0x22EB, sequence: 1, [0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])), .truncated(layer: .erspan, needed: 20, available: 12)),
        (FB.ether(0x8847, FB.mpls(labels: Array(repeating: 16, count: 17), bottom: false, T.innerPacket)), .tooManyHeaders(layer: .mpls, count: 17)),
        (FB.ether(0x8847, [0, 1, 0x01]), .truncated(layer: .mpls, needed: 5, available: 3)),
        (FB.ether(0x8864, FB.pppoe(session: 1, versionType: 0x21, T.innerPacket)), .unknownVersion(layer: .pppoe, version: 0x21)),
        (FB.ether(0x8864, FB.pppoe(session: 1, length: 1, T.innerPacket)), .badLength(layer: .pppoe, value: 1)),
        (udp4(FB.udp(destinationPort: 2152, FB.gtpu(teid: 1, extensions: [0], T.innerPacket))), .badLength(layer: .gtpu, value: 0)),
        (udp4(FB.udp(destinationPort: 2152, FB.gtpu(teid: 1, version: 2, T.innerPacket))), .unknownVersion(layer: .gtpu, version: 2)),
        (udp4(FB.udp(destinationPort: 2152, FB.gtpu(teid: 1, extensions: Array(repeating: 1, count: 9), T.innerPacket))), .tooManyHeaders(layer: .gtpu, count: 9)),
    ])
    func lyingHeader(frame: [UInt8], error: DecodeError) {
        #expect(throws: error) { try T.decode(frame) }
    }

    @Test func nestingPastTheDepthLimit_isTooManyHeaders() throws {
        var packet = T.innerPacket
        for _ in 0..<TunnelPath.capacity { packet = FB.ip(T.outerA, T.outerB, protocol: 4, packet) }
        #expect(try T.decode(FB.ether(0x0800, packet)) != nil)                  // at the limit: decoded
        packet = FB.ip(T.outerA, T.outerB, protocol: 4, packet)
        #expect(throws: DecodeError.tooManyHeaders(layer: .tunnel, count: TunnelPath.capacity + 1)) {
            try T.decode(FB.ether(0x0800, packet))
        }
    }

    @Test func innerPacketLongerThanItsOuterPacket_isReadOnlyToTheOuterEnd() throws {
        // The outer IPv4 header says its payload ends inside the inner TCP header; the bytes after
        // it are captured (padding) but not the outer packet's.
        var frame = FB.ether(0x0800, FB.ip(T.outerA, T.outerB, protocol: 4, T.innerPacket))
        let outerTotal = 20 + 20 + 10
        frame[14 + 2] = UInt8(outerTotal >> 8); frame[14 + 3] = UInt8(outerTotal & 0xFF)
        #expect(throws: DecodeError.truncated(layer: .tcp, needed: 20, available: 10)) { try T.decode(frame) }
    }

    @Test func everyPrefixOfANestedFrame_neverYieldsASegmentBeforeTheWhole() {
        let vxlan = FB.ip(T.outerA6, T.outerB6, protocol: 17, FB.udp(destinationPort: 4789, FB.vxlan(vni: 9, T.innerFrame)))
        let frames = [
            FB.ether(0x8847, FB.mpls(labels: [1000], FB.ip(T.outerA, T.outerB, protocol: 47, FB.gre(protocolType: 0x86DD, key: 5, vxlan)))),
            FB.ether(0x8864, FB.pppoe(session: 3, FB.ip(T.outerA, T.outerB, protocol: 17,
                FB.udp(destinationPort: 2152, FB.gtpu(teid: 1, extensions: [1], T.innerPacket))))),
            Self.gre4(FB.gre(protocolType: 0x22EB, sequence: 1, FB.erspanIII(session: 5, platform: true, T.innerFrame))),
            Self.udp4(FB.udp(destinationPort: 6081, FB.geneve(vni: 1, optionWords: 4, T.innerFrame))),
        ]
        for frame in frames {
            var outcomes = (segments: 0, errors: 0)
            for length in 0...frame.count {
                do throws(DecodeError) {
                    if try T.decode(Array(frame.prefix(length))) != nil { outcomes.segments += 1 }
                } catch {
                    outcomes.errors += 1
                }
            }
            // Only the whole frame holds the inner TCP header; every cut before its end is an error
            // or (a cut where a tunnel's payload is still empty) a skipped frame, never a segment.
            #expect(outcomes.segments == 1)
            #expect(outcomes.errors > frame.count / 2)
        }
    }
}
