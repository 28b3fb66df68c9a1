@testable import finwatch
import Foundation
import Glibc
import Testing

/// What finwatch tells systemd, read from a real notify socket the test binds: READY once the
/// capture is open, WATCHDOG from the turning loop, RELOADING then READY around SIGHUP,
/// STOPPING on SIGTERM.
@Suite("service: systemd notifications", .serialized) struct ServiceSystemdTests {
    @Test("READY, WATCHDOG at half of WatchdogSec, RELOADING+READY on SIGHUP, STOPPING on SIGTERM",
          .enabled(if: geteuid() == 0, "capturing on lo needs root or CAP_NET_RAW"), .timeLimit(.minutes(1)))
    func notifySocket_receivesLifecycleMessages() throws {
        let directory = try ServiceSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/notify"
        let receiver = try NotifyReceiver(path: socketPath)
        defer { close(receiver.descriptor) }

        guard let binary = FinwatchProcess.binary else { throw ServiceSupport.Failure(description: "no finwatch binary") }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--interface", "lo", "--filter", "tcp port 9", "--no-listen", "--output", directory + "/events.jsonl"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socketPath
        environment["WATCHDOG_USEC"] = "600000"   // ping every 300 ms
        environment.removeValue(forKey: "WATCHDOG_PID")
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

        let ready = receiver.messages(for: 10) { $0.contains { $0.hasPrefix("READY=1") } }
        let readyMessage = try #require(ready.first { $0.hasPrefix("READY=1") }, "no READY=1: \(ready)")
        #expect(readyMessage.contains("STATUS=capturing on lo"))
        // Watchdog: about every 300 ms, only while the loop turns (ticks are at most 250 ms).
        let watched = receiver.messages(for: 1.6) { _ in false }.filter { $0 == "WATCHDOG=1" }
        #expect((3...7).contains(watched.count), "WATCHDOG=1 pings in 1.6 s: \(watched.count)")

        kill(process.processIdentifier, SIGHUP)
        let reload = receiver.messages(for: 3) { $0.contains { $0.hasPrefix("READY=1") } }.filter { $0 != "WATCHDOG=1" }
        #expect(reload.first?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true, "\(reload)")
        #expect(reload.last?.hasPrefix("READY=1") == true, "\(reload)")
        #expect(process.isRunning, "SIGHUP must not end finwatch")

        kill(process.processIdentifier, SIGTERM)
        let stopping = receiver.messages(for: 3) { $0.contains("STOPPING=1") }
        #expect(stopping.contains("STOPPING=1"), "\(stopping)")
        let ended = ServiceSupport.waitUntil(seconds: 5) { !process.isRunning }
        #expect(ended)
        if ended { #expect(process.terminationStatus == 0) }
    }
}

/// A bound AF_UNIX datagram socket standing in for systemd's notify socket.
struct NotifyReceiver {
    let descriptor: Int32

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw ServiceSupport.Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw ServiceSupport.Failure(description: "path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw ServiceSupport.Failure(description: "bind \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Datagrams received for at most `seconds`, or until `done` says the list is enough.
    func messages(for seconds: Double, until done: ([String]) -> Bool) -> [String] {
        var received: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && !done(received) {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count > 0 { received.append(String(decoding: buffer[0..<count], as: UTF8.self)) }
        }
        return received
    }
}
