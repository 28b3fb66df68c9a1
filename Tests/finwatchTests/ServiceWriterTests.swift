@testable import finwatch
import FinwatchCore
import Foundation
import Glibc
import Testing

/// The writer under a failing output, in-process: counted, kept, bounded, retried at most once a
/// second, never fatal.
@Suite("service: writer under a failing output") struct ServiceWriterTests {
    static let event = Event.stats(RunStats(time: Timestamp(seconds: 1_800_000_000)))

    @Test func devFull_countsErrors_keepsLines_andRetriesOnlyWhenDue() throws {
        let writer = try JSONLinesWriter(path: "/dev/full")
        writer.write(Self.event)
        writer.flush()
        #expect(writer.writeErrors == 1)
        #expect(writer.lastErrorText == String(cString: strerror(ENOSPC)))
        let kept = writer.pendingByteCount
        #expect(kept > 0, "the line is kept for the retry")
        // A full buffer does not retry while failing: no failing syscall per event.
        for _ in 0..<2_000 { writer.write(Self.event) }
        #expect(writer.pendingByteCount > JSONLinesWriter.bufferCapacity)
        #expect(writer.writeErrors == 1)
        writer.flushIfDue()   // less than a second since the failure
        #expect(writer.writeErrors == 1)
    }

    @Test func devFull_pastTheBound_dropsNewLines_keepsOlder_memoryBounded() throws {
        let writer = try JSONLinesWriter(path: "/dev/full")
        writer.write(Self.event)
        writer.flush()
        var line: [UInt8] = []
        Self.event.appendJSONLine(to: &line)
        let fits = JSONLinesWriter.maximumPending / line.count
        for _ in 0..<(fits + 500) { writer.write(Self.event) }
        #expect(writer.pendingByteCount <= JSONLinesWriter.maximumPending)
        #expect(writer.linesDropped >= 400)
        #expect(writer.eventsWritten + writer.linesDropped == UInt64(fits + 501))
    }

    @Test func failingThenWorking_writesEverythingKept_inOrder() throws {
        let path = NSTemporaryDirectory() + "finwatch-writer-\(UUID().uuidString).jsonl"
        defer { unlink(path) }
        let writer = try JSONLinesWriter(path: path)
        writer.write(Self.event)
        writer.flush()
        #expect(writer.writeErrors == 0 && writer.pendingByteCount == 0)
        // The output goes away under the writer (EBADF stands in for EIO): counted and kept.
        writer.close()
        writer.write(Self.event)
        writer.flush()
        #expect(writer.writeErrors == 1)
        #expect(writer.isFailing)
        // logrotate's SIGHUP path: reopen, and what was kept goes to the file.
        try writer.reopen()
        #expect(!writer.isFailing)
        #expect(writer.pendingByteCount == 0)
        writer.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
    }
}
