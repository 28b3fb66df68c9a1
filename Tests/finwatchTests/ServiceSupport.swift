@testable import finwatch
import Foundation
import Glibc

/// Shared by the Service* suites: bounded waits on a running finwatch and reading its events.
enum ServiceSupport {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Polls `condition` every 10 ms for at most `seconds`; returns whether it became true.
    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Starts finwatch and waits (bounded) for its `start` event: the capture is open from then on.
    static func startCapturing(_ arguments: [String], output: String? = nil) throws -> FinwatchProcess {
        let finwatch = try FinwatchProcess(arguments)
        let started = waitUntil(seconds: 10) {
            let text = output.map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" } ?? finwatch.currentStdout
            return text.contains("\"type\":\"start\"")
        }
        guard started else {
            finwatch.signal(SIGKILL)
            _ = try? finwatch.wait(seconds: 5)
            throw Failure(description: "finwatch wrote no start event within 10 s")
        }
        return finwatch
    }

    /// The lines of `text` parsed as JSON objects; throws on the first that is not whole JSON.
    static func events(_ text: String) throws -> [[String: Any]] {
        try FinwatchProcess.jsonObjects(text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init))
    }

    /// `events` that are of `type`.
    static func of(_ type: String, _ events: [[String: Any]]) -> [[String: Any]] {
        events.filter { $0["type"] as? String == type }
    }

    /// The orig port of a connection event (the client's ephemeral port in these tests).
    static func origPort(_ event: [String: Any]) -> Int? { (event["orig"] as? [String: Any])?["port"] as? Int }

    /// A fresh directory under the temporary directory.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "finwatch-service-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs a tool to completion (bounded) and returns its status.
    @discardableResult
    static func tool(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        return process.terminationStatus
    }
}
