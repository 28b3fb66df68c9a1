import FinwatchCore
import FinwatchFuzzing
import Foundation
import Testing

/// The fuzz targets without libFuzzer: every input kept in Tests/Fuzz/<target>/ (the scripted
/// seeds and each input a fuzzing run once failed on) and a few thousand seeded random inputs
/// must run clean. A trap here fails the whole run, which is what a regression should do.
@Suite("fuzz targets: kept inputs and seeded random ones")
struct FuzzRegressionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    /// The target's own folder; the json target also reads the tracker's scripts (its input language).
    static func keptInputs(_ target: FuzzTarget) -> [URL] {
        let folders = target == .json ? [target.rawValue, FuzzTarget.tracker.rawValue] : [target.rawValue]
        return folders.flatMap { name in
            let folder = directory.appendingPathComponent(name)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            return names.filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }.sorted().map { folder.appendingPathComponent($0) }
        }
    }

    /// The decode target's first byte picks `LinkType.allCases[byte % count]`; seeds.py writes
    /// that byte from a capture's link type, so its list must be that order, or every seed would
    /// be decoded as another link type than the frame's.
    @Test func seedScriptLinkTypes_matchTheDecodeTargetsSelector() throws {
        let script = try String(contentsOf: Self.directory.appendingPathComponent("seeds.py"), encoding: .utf8)
        let line = try #require(script.split(separator: "\n").first { $0.hasPrefix("LINK_TYPES = [") })
        let listed = line.drop { $0 != "[" }.dropFirst().prefix { $0 != "]" }
            .split(separator: ",").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
        #expect(listed == LinkType.allCases.map(\.rawValue))
    }

    @Test("each target's kept inputs run clean", arguments: FuzzTarget.allCases)
    func keptInputsRunClean(_ target: FuzzTarget) throws {
        let inputs = Self.keptInputs(target)
        #expect(inputs.count >= 3, "Tests/Fuzz/\(target.rawValue) holds \(inputs.count) inputs")
        for url in inputs {
            let bytes = [UInt8](try Data(contentsOf: url))
            #expect(target.run(bytes).isEmpty, "\(url.lastPathComponent): \(target.run(bytes))")
        }
    }

    @Test("seeded random inputs run clean", arguments: FuzzTarget.allCases)
    func randomInputsRunClean(_ target: FuzzTarget) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(target.rawValue.utf8.count)
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        for round in 0..<800 {
            let length = Int(next() % 400)
            let input = (0..<length).map { _ in UInt8(truncatingIfNeeded: next()) }
            let violations = target.run(input)
            #expect(violations.isEmpty, "round \(round): \(violations)")
            if !violations.isEmpty { break }
        }
    }

    /// The tracker's script language reaches what it exists for: a scripted full close gives a
    /// `normal` close record, so a clean run of the targets means the machine really ran.
    @Test func scriptedNormalClose_givesOneNormalCloseRecord() throws {
        let url = Self.directory.appendingPathComponent("tracker/normal-close")
        let bytes = [UInt8](try Data(contentsOf: url))
        var closes: [String] = []
        let violations = TrackerFuzzTarget.run(bytes) { event in
            if case .close(let record) = event { closes.append(record.close.rawValue) }
        }
        #expect(violations.isEmpty)
        #expect(closes == ["normal"])
    }
}
