import Foundation
import Testing

/// A clone with nothing beside it must pass its tests and read true: no tracked file may lead
/// out of the repository to the team's reference folder, which users do not have.
@Suite("the repository holds what it needs") struct SelfContainedRepositoryTests {
    /// Spelled in two halves so this file does not match its own search.
    static let outside = ["../" + "shared", "shared/" + "corpus"]

    static func trackedFiles() throws -> [String] {
        let repository = RepositoryPaths.repository
        guard FileManager.default.fileExists(atPath: repository.appendingPathComponent(".git").path) else { return [] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", repository.path, "ls-files", "-z"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func noTrackedFileRefersOutsideTheRepository() throws {
        let files = try Self.trackedFiles()
        try #require(files.count > 100, "git ls-files listed \(files.count) files")
        var offenders: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: RepositoryPaths.repository.appendingPathComponent(file).path),
                  !data.contains(0) else { continue }   // binary captures are data, not references
            let text = String(decoding: data, as: UTF8.self)
            if Self.outside.contains(where: text.contains) { offenders.append(file) }
        }
        #expect(offenders.isEmpty, "these refer outside the repository: \(offenders)")
    }

    @Test func corpusIsInTheRepositoryWithItsProvenance() throws {
        let corpus = try #require(RepositoryPaths.corpus)
        #expect(corpus.path.hasPrefix(RepositoryPaths.repository.path))
        let readme = try String(contentsOf: corpus.appendingPathComponent("README.md"), encoding: .utf8)
        for licence in ["BSD-3-Clause", "MIT"] { #expect(readme.contains(licence)) }
        // Every file is there byte for byte as copied: sha256sum checks the list kept beside them.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = ["--check", "--quiet", "SHA256SUMS"]
        process.currentDirectoryURL = corpus
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "sha256sum: \(output)")
        let listed = try String(contentsOf: corpus.appendingPathComponent("SHA256SUMS"), encoding: .utf8)
        #expect(listed.split(separator: "\n").count >= 200)
    }
}
