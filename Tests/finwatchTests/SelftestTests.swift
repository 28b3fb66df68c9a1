@testable import finwatch
import Foundation
import Glibc
import Testing

/// `finwatch selftest` as an operator runs it: a real process, its report, its exit status.
@Suite("selftest", .serialized) struct SelftestTests {
    @Test("selftest passes on this host and reports every check", .enabled(if: geteuid() == 0, "capturing on lo needs root or CAP_NET_RAW"),
          .timeLimit(.minutes(1)))
    func selftest_asRoot_exitsZeroWithReport() throws {
        let started = Date()
        let result = try FinwatchProcess.run(["selftest"], seconds: 15)
        let took = Date().timeIntervalSince(started)
        print(result.stdout)
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(took < 5.0, "bounded: took \(took) s")
        let lines = result.stdoutLines
        for check in ["capture on lo", "normal close recorded", "close_wait_lingering fired", "process named",
                      "close_wait_lingering resolved", "capture stopped cleanly"] {
            #expect(lines.contains { $0.hasPrefix("ok") && $0.contains(check) }, "\(check): \(result.stdout)")
        }
        #expect(!result.stdout.contains("FAILED"))
        #expect(lines.last == "selftest passed: capture works on this host")
    }

    @Test("without CAP_NET_RAW the selftest fails with exit 1 and names the capability",
          .enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root to drop to nobody"),
          .timeLimit(.minutes(1)))
    func selftest_withoutCapability_exitsOneNamingCAPNETRAW() throws {
        guard let binary = FinwatchProcess.binary?.path else { throw ServiceSupport.Failure(description: "no finwatch binary") }
        // nobody may not be able to reach a binary under root's home: copy it somewhere it can.
        let copy = NSTemporaryDirectory() + "finwatch-selftest-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: binary, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        chmod(copy, 0o755)
        let result = try FinwatchProcessAs.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                               "--inh-caps=-all", copy, "selftest"])
        #expect(result.status == 1, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("FAILED capture on lo"), "\(result.stdout)")
        #expect(result.stdout.contains("CAP_NET_RAW"), "\(result.stdout)")
    }
}

/// A command (not finwatch itself) run to completion with its output captured.
enum FinwatchProcessAs {
    static func run(_ command: [String], seconds: Double = 15) throws -> FinwatchProcess.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return FinwatchProcess.Result(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                                      stdout: stdout, stderr: stderr)
    }
}
