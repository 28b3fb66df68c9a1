/// Placeholder until FinwatchFixtures' FrameBuilder lands: see FrameEncoder.
enum FrameCheck {
    static func run(count: Int, seed: UInt64) throws(BenchError) -> Int { 0 }
}
