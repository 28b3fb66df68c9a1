import FinwatchFuzzing
import Glibc

/// libFuzzer's entry point (built only with FINWATCH_FUZZ=1 and `--sanitize=fuzzer`; libFuzzer
/// brings `main`). FINWATCH_FUZZ_TARGET names the target; an invariant broken is a trap, so
/// libFuzzer saves the input that broke it.
private let target: FuzzTarget = {
    let name = getenv("FINWATCH_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("FINWATCH_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue)), not \"\(name)\"")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let violations = target.run(input)
    if !violations.isEmpty { fatalError("invariant broken:\n" + violations.joined(separator: "\n")) }
    return 0
}
