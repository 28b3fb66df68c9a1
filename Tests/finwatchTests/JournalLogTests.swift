@testable import finwatch
import Foundation
import Glibc
import Logging
import Testing

@Suite("journal priorities") struct JournalLogTests {
    @Test func levels_mapToSyslogPriorities() {
        #expect(JournalLogHandler.priority(.critical) == 2)
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.warning) == 4)
        #expect(JournalLogHandler.priority(.notice) == 5)
        #expect(JournalLogHandler.priority(.info) == 6)
        #expect(JournalLogHandler.priority(.debug) == 7)
        #expect(JournalLogHandler.priority(.trace) == 7)
    }

    @Test func journalStream_mustNameStandardErrorItself() throws {
        var info = stat()
        try #require(fstat(STDERR_FILENO, &info) == 0)
        let mine = "\(info.st_dev):\(info.st_ino)"
        #expect(JournalLogHandler.standardErrorIsJournal(environment: mine))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: nil))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: "\(info.st_dev):\(info.st_ino + 1)"))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: "\(info.st_dev &+ 1):\(info.st_ino)"))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: "journal"))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: "\(info.st_dev):\(info.st_ino):0"))
    }

    /// A real live run with standard error in a file that JOURNAL_STREAM names, as systemd would
    /// set it up: every log line starts with its priority; without the variable none does.
    @Test(arguments: [true, false])
    func liveRun_prefixesItsLogLines_onlyWhenStandardErrorIsTheJournal(journal: Bool) throws {
        let directory = try ServiceSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let errorPath = directory + "/stderr"
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        var info = stat()
        try #require(stat(errorPath, &info) == 0)

        let binary = try #require(FinwatchProcess.binary)
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--interface", "lo", "--filter", "tcp port 9", "--no-listen", "--output", directory + "/events"]
        var environment = ProcessInfo.processInfo.environment
        environment["JOURNAL_STREAM"] = journal ? "\(info.st_dev):\(info.st_ino)" : nil
        process.environment = environment
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let started = ServiceSupport.waitUntil(seconds: 10) {
            ((try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "").contains("capture started")
        }
        kill(process.processIdentifier, SIGTERM)
        let ended = ServiceSupport.waitUntil(seconds: 10) { !process.isRunning }
        if !ended { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        #expect(started)
        #expect(ended)

        let lines = try String(contentsOfFile: errorPath, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("capture started") })
        #expect(lines.contains { $0.contains("capture stopped") })
        for line in lines {
            if journal {
                let level = line.contains(" info ") ? "<6>" : line.contains(" notice ") ? "<5>"
                    : line.contains(" warning ") ? "<4>" : line.contains(" error ") ? "<3>" : "<"
                #expect(line.hasPrefix(level), "\(line)")
            } else {
                #expect(!line.hasPrefix("<"), "\(line)")
            }
        }
    }
}
