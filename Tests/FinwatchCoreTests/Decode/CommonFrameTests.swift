import FinwatchFixtures
import Foundation
import Testing
@testable import FinwatchCore

/// `Frame.commonSegment` decodes the frames almost every packet is in one pass; for each frame it
/// takes, it must give exactly what the general decoder gives, and it must take the frames it is
/// for (or the agreement below would hold vacuously).
@Suite("Decode: the common frame's fast path")
struct CommonFrameTests {
    enum Verdict: Equatable { case declined, agreed, disagreed(String) }

    /// What the fast path made of `frame`, checked against the general decoder.
    static func verdict(_ frame: [UInt8], _ linkType: LinkType, interfaceIndex: UInt32? = nil) -> Verdict {
        let time = Timestamp(seconds: 1_700_000_000, nanoseconds: 7)
        guard let fast = Frame.commonSegment(frame.span.bytes, linkType: linkType, timestamp: time,
                                             interfaceIndex: interfaceIndex) else { return .declined }
        do {
            let general = try Frame.decodeAnyTCP(frame.span.bytes, linkType: linkType, timestamp: time,
                                                 interfaceIndex: interfaceIndex)
            return general == fast ? .agreed : .disagreed("fast \(fast), general \(String(describing: general))")
        } catch {
            return .disagreed("fast \(fast), general threw \(error)")
        }
    }

    static let v4 = (Endpoint(ip: IPAddress("198.18.7.21")!, port: 51_234), Endpoint(ip: IPAddress("198.19.0.80")!, port: 443))
    static let v6 = (Endpoint(ip: IPAddress("2001:db8::1:f00d")!, port: 40_022), Endpoint(ip: IPAddress("2001:db8:0:2::80")!, port: 80))

    /// Frames the fast path is for: every cooked and Ethernet link, both IP versions, the flags
    /// of a connection's middle and end, payloads cut by a snaplen or not.
    static var commonFrames: [(LinkType, [UInt8])] {
        var frames: [(LinkType, [UInt8])] = []
        for linkType in [LinkType.ethernet, .linuxSLL, .linuxSLL2] {
            for (source, destination) in [v4, v6] {
                for flags: TCPFlags in [.ack, [.psh, .ack], [.fin, .ack], [.rst, .ack], .rst, [.fin, .psh, .ack]] {
                    for payload in [0, 1, 1460] {
                        frames.append((linkType, FrameBuilder.tcp(
                            linkType: linkType, source: source, destination: destination, sequence: 0xFFFF_FF00,
                            acknowledgment: 77, flags: flags, window: 501, payloadLength: payload,
                            options: payload == 1 ? [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2] : [],
                            ipIdentification: 0xBEEF, hopLimit: 63, interfaceIndex: 9)))
                    }
                }
            }
        }
        return frames
    }

    @Test func commonFrames_takenByTheFastPath_andDecodedAsTheGeneralDecoderDoes() {
        for (linkType, frame) in Self.commonFrames {
            #expect(Self.verdict(frame, linkType) == .agreed, "\(linkType) \(frame.count) bytes")
            // Cut where a snaplen of 96 or 68 cuts, and where the TCP header itself ends.
            for cut in [96, 68, frame.count - 1] where cut < frame.count {
                let verdict = Self.verdict(Array(frame.prefix(cut)), linkType)
                #expect(verdict == .agreed || verdict == .declined, "\(linkType) cut at \(cut): \(verdict)")
            }
        }
    }

    @Test func sll2InterfaceIndex_comesFromTheFrame_elseFromTheCapture() throws {
        let cooked = FrameBuilder.tcp(linkType: .linuxSLL2, source: Self.v4.0, destination: Self.v4.1, flags: .ack,
                                      interfaceIndex: 12)
        let time = Timestamp(seconds: 1)
        #expect(Frame.commonSegment(cooked.span.bytes, linkType: .linuxSLL2, timestamp: time, interfaceIndex: 3)?
            .interfaceIndex == 12)
        let ethernet = FrameBuilder.tcp(source: Self.v4.0, destination: Self.v4.1, flags: .ack)
        #expect(Frame.commonSegment(ethernet.span.bytes, linkType: .ethernet, timestamp: time, interfaceIndex: 3)?
            .interfaceIndex == 3)
    }

    @Test("frames for the general decoder are declined", arguments: [
        ("SYN (options to read)", LinkType.ethernet,
         FrameBuilder.tcp(source: v4.0, destination: v4.1, flags: .syn, options: [3, 3, 7])),
        ("VLAN tag", .ethernet, FrameBuilder.tcp(source: v4.0, destination: v4.1, flags: .ack, vlanTags: [5])),
        ("raw IP", .raw, FrameBuilder.tcp(linkType: .raw, source: v4.0, destination: v4.1, flags: .ack)),
        ("IPv4 options", .ethernet, FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv4(
            source: v4.0.ip, destination: v4.1.ip,
            payload: FrameBuilder.tcpSegment(source: v4.0, destination: v4.1, flags: .ack), options: [1, 1, 1, 1]))),
        ("IPv4 more fragments", .ethernet, FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv4(
            source: v4.0.ip, destination: v4.1.ip,
            payload: FrameBuilder.tcpSegment(source: v4.0, destination: v4.1, flags: .ack), moreFragments: true))),
        ("IPv6 extension header", .ethernet, FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv6(
            source: v6.0.ip, destination: v6.1.ip, extensions: [.hopByHop()],
            payload: FrameBuilder.tcpSegment(source: v6.0, destination: v6.1, flags: .ack)))),
        ("later fragment", .ethernet, FrameBuilder.link(.ethernet, packet: FrameBuilder.ipv4(
            source: v4.0.ip, destination: v4.1.ip, payload: [UInt8](repeating: 0, count: 64), fragmentOffset: 185))),
    ])
    func otherFrames_areDeclined(kind: String, linkType: LinkType, frame: [UInt8]) {
        #expect(Self.verdict(frame, linkType) == .declined, "\(kind)")
    }

    @Test("every frame of the corpus: declined, or decoded as the general decoder does")
    func corpus() throws {
        let files = try #require(FileManager.default.enumerator(atPath: CorpusDecodeTests.corpus.path))
            .compactMap { $0 as? String }.filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".cap") }
        var taken = 0
        for file in files {
            guard let (linkType, records) = try? CorpusDecodeTests.read(file) else { continue }
            for record in records {
                let verdict = Self.verdict(record.bytes, linkType, interfaceIndex: 4)
                if case .disagreed(let why) = verdict { Issue.record("\(file): \(why)") }
                if verdict == .agreed { taken += 1 }
            }
        }
        #expect(taken > 100)   // 175 of the corpus's frames are common ones
    }

    @Test("200k mutations of common frames: declined, or decoded as the general decoder does")
    func mutations() {
        var rng = GarbageTests.SplitMix64(state: 0xC0FFEE)
        let seeds = Self.commonFrames
        var taken = 0
        for _ in 0..<200_000 {
            let (linkType, original) = seeds.randomElement(using: &rng)!
            var frame = original
            // Mutate the headers, where every decision is made.
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                frame[Int.random(in: 0..<min(frame.count, 80), using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let length = Int.random(in: 40...frame.count, using: &rng)
            let verdict = Self.verdict(Array(frame.prefix(length)), linkType)
            if case .disagreed(let why) = verdict { Issue.record("\(linkType): \(why) for \(frame.prefix(length))") }
            if verdict == .agreed { taken += 1 }
        }
        #expect(taken > 10_000)
    }
}
