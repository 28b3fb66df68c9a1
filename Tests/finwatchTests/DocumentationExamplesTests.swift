import Foundation
import Testing

/// The example lines in docs/examples.md and the README are real output: each must be a line of
/// one of the golden files (which GoldenReplayTests checks against the binary byte for byte).
@Suite("documentation examples")
struct DocumentationExamplesTests {
    static let golden: Set<String> = {
        let directory = RepositoryPaths.repository.appendingPathComponent("Tests/finwatchTests/Golden")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var lines = Set<String>()
        for file in files where file.hasSuffix(".jsonl") {
            let text = (try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)) ?? ""
            lines.formUnion(text.split(separator: "\n").map { String($0) })
        }
        return lines
    }()

    static func exampleLines(in path: String) throws -> [String] {
        let text = try String(contentsOf: RepositoryPaths.repository.appendingPathComponent(path), encoding: .utf8)
        return text.split(separator: "\n").map { String($0) }.filter { $0.hasPrefix("{\"type\":") }
    }

    @Test func examplesDocument_linesAreGoldenOutput() throws {
        let lines = try Self.exampleLines(in: "docs/examples.md")
        #expect(lines.count >= 24)
        for line in lines { #expect(Self.golden.contains(line), "not in any golden file: \(line.prefix(120))") }
    }

    @Test func readme_offlineExamplesAreGoldenOutput() throws {
        // The README's live examples (an alert naming a process) come from a live run, not a file.
        let lines = try Self.exampleLines(in: "README.md").filter { !$0.contains("\"process\":") }
        #expect(lines.count >= 3)
        for line in lines { #expect(Self.golden.contains(line), "not in any golden file: \(line.prefix(120))") }
    }
}
