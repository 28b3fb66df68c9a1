/// The fuzz targets by name: the names `make fuzz` and the regression tests use, and the folders
/// under Tests/Fuzz that hold their seeds and the inputs that once failed.
package enum FuzzTarget: String, CaseIterable, Sendable {
    case decode, tracker, json

    /// What the input broke, or nothing. Traps are findings too: libFuzzer catches them.
    package func run(_ input: [UInt8]) -> [String] {
        switch self {
        case .decode: DecodeFuzzTarget.run(input)
        case .tracker: TrackerFuzzTarget.run(input)
        case .json: EventLineFuzzTarget.run(input)
        }
    }
}
