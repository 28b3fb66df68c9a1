import Foundation
import Testing

/// Every third-party capture in the repository's corpus (Tests/Corpus), read by the binary: exit 0, or 65 exactly for
/// the files its README says libpcap refuses; never a crash; standard output only JSON lines.
@Suite("corpus robustness") struct CorpusTests {
    /// The corpus README: libpcap 1.10 refuses this pcapng, and the gzip file is not a capture.
    static let refused: Set<String> = ["zeek/ldap/modify-request.pcapng", "community-id/pcaps/combined.pcap.gz"]

    static let captures: [String] = {
        guard let corpus = RepositoryPaths.corpus,
              let walker = FileManager.default.enumerator(atPath: corpus.path) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: corpus.appendingPathComponent(relative).path, isDirectory: &isDirectory),
                  !isDirectory.boolValue else { continue }
            if name.hasPrefix("README") || name == "SHA256SUMS" || name.contains("expected") { continue }
            if [".json", ".md", ".out", ".txt", ".log"].contains(where: { name.hasSuffix($0) }) { continue }
            found.append(relative)
        }
        return found.sorted()
    }()

    @Test func corpusIsThere() {
        #expect(Self.captures.count >= 60, "found \(Self.captures.count) captures")
        #expect(Self.refused.isSubset(of: Set(Self.captures)))
    }

    @Test("each corpus capture", arguments: captures)
    func capture(_ relative: String) throws {
        let corpus = try #require(RepositoryPaths.corpus)
        let result = try FinwatchProcess.run(["--read", corpus.appendingPathComponent(relative).path], seconds: 30)
        #expect(result.signaled == false, "crashed: \(result.stderr)")
        let expected: Int32 = Self.refused.contains(relative) ? 65 : 0
        #expect(result.status == expected, "stderr: \(result.stderr)")
        let objects = try FinwatchProcess.jsonObjects(result.stdoutLines)
        #expect(result.stdout.isEmpty || result.stdout.hasSuffix("\n"), "no partial line")
        if expected == 0 {
            #expect(objects.first?["type"] as? String == "start")
            #expect(objects.last?["type"] as? String == "stop")
        } else {
            #expect(result.stderrLines.count == 1, "one line: \(result.stderr)")
        }
    }
}
