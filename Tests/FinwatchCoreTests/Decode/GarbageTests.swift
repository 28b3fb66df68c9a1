import FinwatchCore
import FinwatchFixtures
import Testing

/// Random bytes must never trap the decoder: each must decode, be skipped or throw.
@Suite("Garbage frames") struct GarbageTests {
    /// SplitMix64: deterministic, so a failure reproduces from the seed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("100k random frames of random length on random link types never trap")
    func randomFrames() {
        var rng = SplitMix64(state: 0xF1_0A7C)
        var outcomes = (decoded: 0, skipped: 0, errors: 0)
        var frame = [UInt8](repeating: 0, count: 256)
        for _ in 0..<100_000 {
            let linkType = LinkType.allCases.randomElement(using: &rng)!
            let length = Int.random(in: 0...256, using: &rng)
            for i in 0..<length { frame[i] = UInt8.random(in: 0...255, using: &rng) }
            do {
                if try Net.decode(Array(frame.prefix(length)), linkType) != nil { outcomes.decoded += 1 } else { outcomes.skipped += 1 }
            } catch {
                outcomes.errors += 1
            }
        }
        #expect(outcomes.decoded + outcomes.skipped + outcomes.errors == 100_000)
        #expect(outcomes.errors > 0 && outcomes.skipped > 0)
    }

    @Test("100k mutations of valid frames never trap, and some still decode")
    func mutatedFrames() {
        var rng = SplitMix64(state: 42)
        let seeds: [(LinkType, [UInt8])] = [
            (.ethernet, FrameBuilder.tcp(source: Net.a, destination: Net.b, flags: .syn, options: [2, 4, 5, 0xB4, 1, 3, 3, 7], vlanTags: [3, 4])),
            (.linuxSLL2, FrameBuilder.tcp(linkType: .linuxSLL2, source: Net.a6, destination: Net.b6, flags: .ack, payloadLength: 10)),
            (.raw, FrameBuilder.ipv6(source: Net.a6.ip, destination: Net.b6.ip,
                                     extensions: [.hopByHop(), .routing(), .fragment(offset: 0, moreFragments: true), .authentication(), .mobility()],
                                     payload: FrameBuilder.tcpSegment(source: Net.a6, destination: Net.b6, flags: .syn, options: [3, 3, 7]))),
            (.ethernet, FrameBuilder.snap(packet: FrameBuilder.ipv4(source: Net.a.ip, destination: Net.b.ip,
                payload: FrameBuilder.tcpSegment(source: Net.a, destination: Net.b, flags: .fin), options: [1, 1, 1, 1]))),
        ]
        var decoded = 0
        for _ in 0..<100_000 {
            let (linkType, original) = seeds.randomElement(using: &rng)!
            var frame = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                frame[Int.random(in: 0..<frame.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let length = Int.random(in: 0...frame.count, using: &rng)
            if (try? Net.decode(Array(frame.prefix(length)), linkType)) != nil { decoded += 1 }
        }
        #expect(decoded > 0)
    }
}
