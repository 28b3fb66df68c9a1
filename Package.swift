// swift-tools-version: 6.3
// 6.3: the tracker's hot path needs `@inline(always)` (guaranteed inlining; `@inline(__always)` is
// a hint), and .strictMemorySafety() came in 6.2. The language mode is Swift 6.

import PackageDescription

let strict: [SwiftSetting] = [.strictMemorySafety(), .treatAllWarnings(as: .error)]
let edge: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

let package = Package(
    name: "finwatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "finwatch", targets: ["finwatch"]),
        .executable(name: "finwatch-bench", targets: ["finwatch-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // No default traits: FullFoundation and ConfigurationSupport would link all of Foundation and
        // ICU (34 MB) into the static binary for features finwatch does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0", traits: []),
    ],
    targets: [
        // libpcap's header, re-exported to Swift.
        .target(name: "CPcap", linkerSettings: [.linkedLibrary("pcap")]),
        // argv as glibc gives it to constructors: CommandLine needs /proc, which a sandbox may hide.
        .target(name: "CProcessArguments"),
        // Pure Swift: bytes and timestamps in, values out. No I/O, no clock, no Foundation.
        .target(name: "FinwatchCore", swiftSettings: strict, linkerSettings: [.linkedLibrary("m")]),
        // What the host says about its sockets (sock_diag, /proc), parsed; the executable does the I/O.
        .target(name: "FinwatchHost", dependencies: ["FinwatchCore"], swiftSettings: strict),
        // The only libpcap caller.
        .target(
            name: "FinwatchCapture",
            dependencies: ["CPcap", "FinwatchCore", logging],
            swiftSettings: edge
        ),
        .executableTarget(
            name: "finwatch",
            dependencies: [
                "CProcessArguments", "FinwatchCore", "FinwatchCapture", "FinwatchHost", logging,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: edge
        ),
        // Frames and capture files built byte by byte: shared by the tests and the benchmark's
        // generator. Pure Swift, no I/O; never linked into the finwatch executable.
        .target(name: "FinwatchFixtures", dependencies: ["FinwatchCore"], swiftSettings: edge),
        // The benchmark: a deterministic pcap generator and the bare libpcap read loop (the floor).
        .executableTarget(
            name: "finwatch-bench",
            dependencies: ["CPcap", "FinwatchCapture", "FinwatchCore", "FinwatchFixtures"],
            swiftSettings: edge
        ),
        // Fuzz targets as plain functions: libFuzzer drives them through finwatch-fuzz, the tests
        // replay their seeds and every input that once failed (Tests/Fuzz).
        .target(name: "FinwatchFuzzing", dependencies: ["FinwatchCore"], swiftSettings: edge),
        .testTarget(name: "FinwatchFuzzingTests", dependencies: ["FinwatchFuzzing", "FinwatchCore"], swiftSettings: edge),
        .testTarget(name: "FinwatchCoreTests", dependencies: ["FinwatchCore", "FinwatchFixtures"], swiftSettings: edge),
        .testTarget(name: "FinwatchHostTests", dependencies: ["FinwatchHost", "FinwatchCore"], swiftSettings: edge),
        .testTarget(
            name: "FinwatchCaptureTests",
            dependencies: ["FinwatchCapture", "FinwatchCore", "FinwatchFixtures"],
            swiftSettings: edge
        ),
        .testTarget(
            name: "finwatchTests",
            dependencies: [
                "finwatch", "FinwatchCore", "FinwatchCapture", "FinwatchHost", "FinwatchFixtures",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // Read from the repository by path (RepositoryPaths), not bundled: no warning per file.
            exclude: ["Golden"],
            swiftSettings: edge
        ),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer's driver exists only in fuzzing builds (`make fuzz`): libFuzzer brings its `main`,
// which an ordinary build of an executable without one could not link.
if Context.environment["FINWATCH_FUZZ"] == "1" {
    package.products.append(.executable(name: "finwatch-fuzz", targets: ["finwatch-fuzz"]))
    package.targets.append(.executableTarget(
        name: "finwatch-fuzz", dependencies: ["FinwatchFuzzing"], exclude: [],
        swiftSettings: edge + [.unsafeFlags(["-parse-as-library"])]))
}
