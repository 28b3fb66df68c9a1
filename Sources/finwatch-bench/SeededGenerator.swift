/// xoshiro256** seeded through SplitMix64: the generator's only source of randomness, so the
/// same seed gives the same capture file byte for byte on every machine and Swift version
/// (the standard library's `SystemRandomNumberGenerator` cannot be seeded, and the algorithm
/// behind `Int.random(in:using:)` is not promised to stay the same, hence `below(_:)`).
struct SeededGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var mix = seed
        func splitMix() -> UInt64 {
            mix &+= 0x9e37_79b9_7f4a_7c15
            var z = mix
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotate(state.3, 45)
        return result
    }

    /// Uniform in `0..<bound` (Lemire's multiply-shift; the tiny bias is irrelevant here).
    mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0, "SeededGenerator.below needs a positive bound")
        return next().multipliedFullWidth(by: bound).high
    }

    /// Uniform in `range` (closed), for readable scenario code.
    mutating func between(_ range: ClosedRange<UInt64>) -> UInt64 {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }

    /// True with probability `percent`/100.
    mutating func chance(_ percent: UInt64) -> Bool { below(100) < percent }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
