import Foundation
import Glibc

/// Runs the built `finwatch` binary as a child process, for exit statuses and end-to-end runs.
///
/// Where the binary is: `swift build --build-tests` puts the test bundle
/// (`finwatchPackageTests.xctest`) and the `finwatch` executable in the same directory of the
/// scratch path (`.build/debug/`, `.build-capture/debug/`, ...). The test process's own path
/// (`CommandLine.arguments[0]`, else `Bundle.main.bundleURL`) is inside that bundle, so we walk
/// up from it until a directory holds an executable `finwatch`. `FINWATCH_BIN` overrides.
struct FinwatchProcess {
    struct Result {
        var status: Int32
        /// True when the process ended by a signal (a crash), not exit().
        var signaled: Bool
        var stdout: String
        var stderr: String

        var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
        var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    static let binary: URL? = {
        if let path = ProcessInfo.processInfo.environment["FINWATCH_BIN"] { return URL(fileURLWithPath: path) }
        let starts = [URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath(), Bundle.main.bundleURL]
        for start in starts {
            var directory = start
            for _ in 0..<6 {
                let candidate = directory.appendingPathComponent("finwatch")
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                   FileManager.default.isExecutableFile(atPath: candidate.path) {
                    return candidate
                }
                directory = directory.deletingLastPathComponent()
            }
        }
        return nil
    }()

    let process = Process()
    let stdoutURL: URL
    let stderrURL: URL

    /// Starts finwatch with `arguments`; output goes to temporary files (no pipe can fill up).
    init(_ arguments: [String]) throws {
        guard let binary = Self.binary else { throw Failure(description: "finwatch binary not found next to the test bundle") }
        try self.init(executable: binary.path, arguments)
    }

    /// Starts `executable` (finwatch behind a wrapper such as `ip netns exec`, which execs it: the
    /// process is then finwatch itself, signals and all).
    init(executable: String, _ arguments: [String]) throws {
        let binary = URL(fileURLWithPath: executable)
        let base = NSTemporaryDirectory() + "finwatch-test-\(UUID().uuidString)"
        stdoutURL = URL(fileURLWithPath: base + ".out")
        stderrURL = URL(fileURLWithPath: base + ".err")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = binary
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// What finwatch has written to standard output so far.
    var currentStdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits at most `seconds` for the process to end; kills it (and fails) past that.
    func wait(seconds: Double = 10) throws -> Result {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw Failure(description: "finwatch did not end within \(seconds) s")
        }
        defer {
            try? FileManager.default.removeItem(at: stdoutURL)   // best effort: temporary files
            try? FileManager.default.removeItem(at: stderrURL)
        }
        return Result(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                      stdout: currentStdout, stderr: (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")
    }

    /// Runs to the end (bounded).
    static func run(_ arguments: [String], seconds: Double = 20) throws -> Result {
        try FinwatchProcess(arguments).wait(seconds: seconds)
    }

    /// Every line parsed as a JSON object; throws on the first that is not one.
    static func jsonObjects(_ lines: [String]) throws -> [[String: Any]] {
        try lines.map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw Failure(description: "not a JSON object: \(line)")
            }
            return object
        }
    }
}

/// The repository and its copy of the third-party corpus (`Tests/Corpus`, provenance in its README).
enum RepositoryPaths {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let corpus: URL? = {
        let candidate = repository.appendingPathComponent("Tests/Corpus")
        return FileManager.default.fileExists(atPath: candidate.appendingPathComponent("README.md").path) ? candidate : nil
    }()
}
