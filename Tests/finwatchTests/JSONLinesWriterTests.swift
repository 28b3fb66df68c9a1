import FinwatchCore
import Foundation
import Testing
@testable import finwatch

@Suite("JSON lines writer") struct JSONLinesWriterTests {
    static func stats(_ seconds: Int64) -> Event { .stats(RunStats(time: Timestamp(seconds: seconds))) }

    @Test func file_isCreated0644_appended_andEachLineIsJSON() throws {
        let path = NSTemporaryDirectory() + "finwatch-writer-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }   // best effort cleanup
        try Data("{\"earlier\":true}\n".utf8).write(to: URL(fileURLWithPath: path))
        let writer = try JSONLinesWriter(path: path)
        writer.write(Self.stats(1))
        writer.write(Self.stats(2))
        writer.close()
        #expect(writer.eventsWritten == 2)
        #expect(writer.writeErrors == 0)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "appended, not truncated")
        let objects = try FinwatchProcess.jsonObjects(lines)
        #expect(objects.dropFirst().allSatisfy { $0["type"] as? String == "stats" })

        let fresh = NSTemporaryDirectory() + "finwatch-writer-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: fresh) }   // best effort cleanup
        let created = try JSONLinesWriter(path: fresh)
        created.close()
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: fresh)[.posixPermissions] as? Int)
        #expect(mode & 0o777 == 0o644, "created 0644 (under the usual umask 022)")
    }

    @Test func reopen_afterRotation_writesToTheNewFile() throws {
        let path = NSTemporaryDirectory() + "finwatch-writer-\(UUID().uuidString).jsonl"
        let rotated = path + ".1"
        defer {
            try? FileManager.default.removeItem(atPath: path)      // best effort cleanup
            try? FileManager.default.removeItem(atPath: rotated)
        }
        let writer = try JSONLinesWriter(path: path)
        writer.write(Self.stats(1))
        writer.flush()
        try FileManager.default.moveItem(atPath: path, toPath: rotated)
        try writer.reopen()
        writer.write(Self.stats(2))
        writer.close()
        #expect(try String(contentsOfFile: rotated, encoding: .utf8).split(separator: "\n").count == 1)
        #expect(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count == 1)
    }

    @Test func unwritablePath_isAnOutputError() {
        #expect {
            _ = try JSONLinesWriter(path: "/nonexistent/finwatch/out.jsonl")
        } throws: { error in
            guard let error = error as? FinwatchError, case .output = error else { return false }
            return error.exitStatus == .cannotCreate
        }
    }
}

@Suite("offline run") struct OfflineRunTests {
    @Test func corruptPartWay_closesWhatWasRead_writesStop_exits65() throws {
        let corpus = try #require(RepositoryPaths.corpus)
        var bytes = try Data(contentsOf: corpus.appendingPathComponent("tcpdump/print-flags.pcap"))
        bytes.removeLast(10)   // the last record now claims more bytes than the file has
        let path = NSTemporaryDirectory() + "finwatch-cut-\(UUID().uuidString).pcap"
        try bytes.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }   // best effort cleanup
        let result = try FinwatchProcess.run(["--read", path])
        #expect(result.status == 65)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("corrupt"))
        let events = try FinwatchProcess.jsonObjects(result.stdoutLines)
        #expect(events.first?["type"] as? String == "start")
        #expect(events.contains { $0["type"] as? String == "close" }, "the connection read so far is closed")
        #expect(events.last?["type"] as? String == "stop")
        #expect(events.last?["reason"] as? String == "error")
    }

    @Test func sameFile_sameEvents() throws {
        let corpus = try #require(RepositoryPaths.corpus)
        let path = corpus.appendingPathComponent("zeek/tcp/tcp-fast-open.pcap").path
        let first = try FinwatchProcess.run(["--read", path])
        let second = try FinwatchProcess.run(["--read", path])
        #expect(first.status == 0)
        #expect(first.stdout == second.stdout)
        #expect(first.stdoutLines.count >= 4)
    }
}
