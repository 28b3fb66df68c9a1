@testable import finwatch
import FinwatchCore
import Foundation
import Testing

/// A process can exit at any moment of a /proc walk: between readdir listing its PID and the
/// walk opening its fd directory, or between the walk finding its socket and finwatch reading
/// its name. Built as a /proc of the test's own (the lookup's `root`), where each moment is a
/// file that is missing.
@Suite("process lookup: a process exiting mid-walk") struct ProcessExitMidLookupTests {
    static let local = Endpoint(ip: IPAddress("127.0.0.1")!, port: 8080)
    static func peer(_ port: UInt16) -> Endpoint { Endpoint(ip: IPAddress("127.0.0.1")!, port: port) }

    /// One /proc/net/tcp row: 127.0.0.1:8080 ↔ 127.0.0.1:`peer`, CLOSE_WAIT (08), `inode`.
    static func row(_ index: Int, peer: UInt16, inode: Int) -> String {
        let port = String(peer, radix: 16, uppercase: true)
        let padded = String(repeating: "0", count: 4 - port.count) + port
        return "   \(index): 0100007F:1F90 0100007F:\(padded) 08 00000000:00000000 00:00000000 00000000     0        0 \(inode) 1 0000000000000000 20 4 30 10 -1"
    }

    @Test func processGoneBeforeItsFdsOrItsName_isSkippedOrUnnamed_andTheLiveHolderIsStillFound() throws {
        let root = NSTemporaryDirectory() + "finwatch-exitproc-\(UUID().uuidString)"
        let files = FileManager.default
        defer { try? files.removeItem(atPath: root) }
        try files.createDirectory(atPath: root + "/net", withIntermediateDirectories: true)
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        try (header + [Self.row(0, peer: 20_000, inode: 111), Self.row(1, peer: 20_001, inode: 222),
                       Self.row(2, peer: 20_002, inode: 333)].joined(separator: "\n") + "\n")
            .write(toFile: root + "/net/tcp", atomically: true, encoding: .utf8)
        try header.write(toFile: root + "/net/tcp6", atomically: true, encoding: .utf8)
        // PID 100 exited after readdir listed it: its directory is there, its fd directory not.
        try files.createDirectory(atPath: root + "/100", withIntermediateDirectories: true)
        // PID 200 holds socket 111 and is alive.
        try files.createDirectory(atPath: root + "/200/fd", withIntermediateDirectories: true)
        try files.createSymbolicLink(atPath: root + "/200/fd/3", withDestinationPath: "socket:[111]")
        try "holder\n".write(toFile: root + "/200/comm", atomically: true, encoding: .utf8)
        // PID 300 held socket 222 when the walk read its fds, and exited before its name was read.
        try files.createDirectory(atPath: root + "/300/fd", withIntermediateDirectories: true)
        try files.createSymbolicLink(atPath: root + "/300/fd/4", withDestinationPath: "socket:[222]")
        // Socket 333's holder exited before the walk: nobody holds it any more.

        let lookup = ProcessLookup(root: root, netlink: false)
        let found = lookup.processes(for: [20_000, 20_001, 20_002].map {
            ProcessLookup.Query(endpoint: Self.local, peer: Self.peer($0), state: .closeWait)
        })
        #expect(found.count == 3)
        #expect(found[0]?.pid == 200 && found[0]?.comm == "holder" && found[0]?.kernelConfirmed == true)
        // The PID the kernel's fd table gave, without a name to go with it.
        #expect(found[1]?.pid == 300 && found[1]?.comm == "?")
        #expect(found[2] == nil)
    }
}
