@testable import finwatch
import FinwatchCore
import Foundation
import Glibc
import Testing

/// Events and files for the output thread's tests: every event is distinct (its uid and time
/// come from its index), so a line out of place, doubled or lost shows in a plain comparison.
enum EventStreamFixture {
    static func identity(_ index: Int) -> ConnectionIdentity {
        ConnectionIdentity(uid: "C\(index)", orig: Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022),
                           resp: Endpoint(ip: IPAddress("198.18.0.2")!, port: 80), handshakeSeen: true)
    }

    /// Even indexes are close records, odd ones anomalies: two shapes and two line lengths.
    static func event(_ index: Int) -> Event {
        let time = Timestamp.ms(Double(1_000 + index))
        if index.isMultiple(of: 2) {
            var record = CloseRecord(time: time, identity: identity(index), close: .normal)
            record.activeCloser = .orig
            record.durations.teardown = Int64(index) * 1_000
            return .close(record)
        }
        return .anomaly(AnomalyEvent(time: time, identity: identity(index), anomaly: .finRetransmit,
                                     side: .orig, count: index % 5 + 1))
    }

    /// `count` batches of 1 to 9 events (sizes cycle), numbered from `first` on, in order.
    static func batches(_ count: Int, from first: Int = 0) -> [[Event]] {
        var next = first
        return (0..<count).map { batch in
            let size = batch * 7 % 9 + 1
            defer { next += size }
            return (next..<(next + size)).map(event)
        }
    }

    /// What the writer must produce for `events`: one JSON line each, in order, newline-ended.
    static func expectedText(_ events: [Event]) -> String { events.map { $0.jsonLine + "\n" }.joined() }

    static func temporaryPath() -> String { NSTemporaryDirectory() + "finwatch-stream-\(UUID().uuidString).jsonl" }

    static func contents(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
}

@Suite("event stream: the output's own thread") struct EventStreamTests {
    typealias Fixture = EventStreamFixture

    @Test func manyBatches_fromTheCaptureThread_areWrittenInSubmissionOrder_countedExactly() throws {
        let path = Fixture.temporaryPath()
        defer { unlink(path) }
        let stream = try EventStream(path: path)
        let batches = Fixture.batches(200)
        let events = batches.flatMap { $0 }
        #expect(Fixture.expectedText(events).utf8.count > 4 * JSONLinesWriter.bufferCapacity,
                "the writer's buffer fills and is written part-way, several times")
        for batch in batches { stream.submit(batch) }
        stream.waitUntilWritten()
        let written = stream.status
        #expect(written.eventsWritten == UInt64(events.count))
        #expect(written.writeErrors == 0)
        #expect(written.linesDropped == 0)
        #expect(written.lastErrorText == nil)
        #expect(written.readerGone == false)
        stream.close()
        #expect(stream.status.pendingByteCount == 0)
        let text = try Fixture.contents(path)
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count == events.count + 1,
                "one line per event, the last one newline-ended")
        #expect(text == Fixture.expectedText(events))
    }

    @Test func reopenAfterRename_queuedEventsGoToTheRenamedFile_laterOnesToAFreshFile() throws {
        let path = Fixture.temporaryPath()
        let rotated = path + ".1"
        defer {
            unlink(path)
            unlink(rotated)
        }
        let stream = try EventStream(path: path)
        let before = Fixture.batches(60)
        let after = Fixture.batches(40, from: before.joined().count)
        // No wait before the rename: batches may still be queued or buffered when logrotate moves
        // the file, and reopen must first write them to the file they were meant for.
        for batch in before { stream.submit(batch) }
        #expect(rename(path, rotated) == 0)
        try stream.reopen()
        #expect(FileManager.default.fileExists(atPath: path), "reopen creates the path afresh")
        for batch in after { stream.submit(batch) }
        stream.close()

        let beforeEvents = Array(before.joined())
        let afterEvents = Array(after.joined())
        #expect(try Fixture.contents(rotated) == Fixture.expectedText(beforeEvents))
        #expect(try Fixture.contents(path) == Fixture.expectedText(afterEvents))
        #expect(stream.status.eventsWritten == UInt64(beforeEvents.count + afterEvents.count))
        #expect(stream.status.writeErrors == 0)
    }

    @Test func reopen_whenThePathCannotBeCreated_throwsOutputError_andKeepsTheOldFile() throws {
        let directory = NSTemporaryDirectory() + "finwatch-stream-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/out.jsonl"
        let moved = directory + ".moved"
        defer { try? FileManager.default.removeItem(atPath: moved) }   // best effort cleanup
        let stream = try EventStream(path: path)
        let first = Fixture.batches(3)
        for batch in first { stream.submit(batch) }
        // The directory moves away: the path can no longer be opened; the open file still can be written.
        #expect(rename(directory, moved) == 0)
        #expect {
            try stream.reopen()
        } throws: { error in
            guard let error = error as? FinwatchError, case .output(let errorPath, _) = error else { return false }
            return errorPath == path
        }
        let second = Fixture.batches(2, from: first.joined().count)
        for batch in second { stream.submit(batch) }
        stream.close()
        let all = Array(first.joined()) + Array(second.joined())
        #expect(try Fixture.contents(moved + "/out.jsonl") == Fixture.expectedText(all))
        #expect(stream.status.writeErrors == 0)
    }

    @Test func close_rightAfterSubmit_writesEverythingQueuedBeforeReturning() throws {
        let path = Fixture.temporaryPath()
        defer { unlink(path) }
        let stream = try EventStream(path: path)
        // More batches than may wait at once, so some are still queued when close is called.
        let batches = Fixture.batches(EventStream.maximumBatchesInFlight * 3)
        for batch in batches { stream.submit(batch) }
        stream.close()
        let events = Array(batches.joined())
        #expect(try Fixture.contents(path) == Fixture.expectedText(events))
        #expect(stream.status.eventsWritten == UInt64(events.count))
        #expect(stream.status.pendingByteCount == 0)
    }

    @Test func devFull_writeErrorsCountedAndNamed_linesKept_neverFatal() throws {
        let stream = try EventStream(path: "/dev/full")
        // Past the writer's 64 KiB buffer, so it tries a write(2) without waiting for a second.
        var events: [Event] = []
        var bytes = 0
        while bytes <= JSONLinesWriter.bufferCapacity + 4096, events.count < 10_000 {
            let event = Fixture.event(events.count)
            bytes += event.jsonLine.utf8.count + 1
            events.append(event)
        }
        #expect(bytes > JSONLinesWriter.bufferCapacity)
        for start in stride(from: 0, to: events.count, by: 50) {
            stream.submit(Array(events[start..<min(start + 50, events.count)]))
        }
        stream.waitUntilWritten()
        let failed = stream.status
        #expect(failed.writeErrors > 0)
        #expect(failed.lastErrorText == String(cString: strerror(ENOSPC)))
        #expect(failed.pendingByteCount > 0, "what the disk refused is kept for the retry")
        #expect(failed.eventsWritten + failed.linesDropped == UInt64(events.count))
        #expect(failed.readerGone == false, "ENOSPC on a file is not a reader going away")
        #expect(stream.readerGone == false)
        stream.close()   // the final flush fails too: counted, not fatal
        #expect(stream.status.writeErrors > failed.writeErrors)
    }

    @Test func emptyBatch_isIgnored_countsUnchanged_nothingWritten() throws {
        let path = Fixture.temporaryPath()
        defer { unlink(path) }
        let stream = try EventStream(path: path)
        let first = Fixture.batches(1)[0]
        stream.submit(first)
        stream.waitUntilWritten()
        let before = stream.status.eventsWritten
        #expect(before == UInt64(first.count))
        // More empty batches than may wait at once: none of them holds a slot.
        for _ in 0..<(EventStream.maximumBatchesInFlight * 2) { stream.submit([]) }
        stream.waitUntilWritten()
        #expect(stream.status.eventsWritten == before)
        stream.close()
        #expect(try Fixture.contents(path) == Fixture.expectedText(first))
    }

    @Test func path_isTheOneOpened() throws {
        let path = Fixture.temporaryPath()
        defer { unlink(path) }
        let stream = try EventStream(path: path)
        defer { stream.close() }
        #expect(stream.path == path)
        #expect(FileManager.default.fileExists(atPath: path), "opened (created) at init, before any event")
    }
}
