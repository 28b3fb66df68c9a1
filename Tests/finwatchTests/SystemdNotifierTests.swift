#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import finwatch

/// A real AF_UNIX datagram socket standing in for systemd's notify socket: what the notifier
/// sends is read back byte for byte, the way PID 1 would receive it.
private final class NotifySocketStub {
    let fd: Int32
    /// The value to put in NOTIFY_SOCKET: a path, or `@name` for the abstract namespace.
    let address: String
    private let directory: String?

    /// Binds a socket at `notify` in a fresh temporary directory.
    static func filesystem() throws -> NotifySocketStub {
        var template = Array("/tmp/finwatch-notify-XXXXXX".utf8CString)
        // mkdtemp fills in the X's in place; read the name back while the buffer is in scope.
        let made = template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
        let directory = try #require(made, "mkdtemp failed: errno \(errno)")
        return try NotifySocketStub(address: directory + "/notify", directory: directory)
    }

    /// Binds a socket in the abstract namespace under a name unique to this process and test.
    static func abstract(_ tag: String) throws -> NotifySocketStub {
        try NotifySocketStub(address: "@finwatch-test-\(getpid())-\(tag)", directory: nil)
    }

    private init(address: String, directory: String?) throws {
        self.address = address
        self.directory = directory
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        // Bounded wait: a missing datagram fails the test after 2 s instead of hanging it.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count)
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        try #require(result == 0, "bind \(address) failed: errno \(errno)")
    }

    deinit {
        close(fd)
        if let directory {
            unlink(directory + "/notify")
            rmdir(directory)
        }
    }

    /// The next datagram as text, or nil after the 2 s timeout.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// True if a datagram is waiting right now (no waiting).
    var hasPending: Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT | MSG_PEEK)) >= 0
    }
}

@Suite("SystemdNotifier")
struct SystemdNotifierTests {
    @Test func filesystemSocket_receivesEachMessageAsOneDatagram() throws {
        let stub = try NotifySocketStub.filesystem()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": stub.address])
        #expect(notifier.isEnabled)
        for message in ["READY=1", "WATCHDOG=1", "STATUS=capturing on any", "STOPPING=1"] {
            #expect(notifier.notify(message))
            #expect(stub.receive() == message)
        }
        #expect(!stub.hasPending)
    }

    @Test func abstractSocket_atSignIsTheAbstractNamespace() throws {
        let stub = try NotifySocketStub.abstract("abstract")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": stub.address])
        for message in ["READY=1", "WATCHDOG=1", "STOPPING=1"] {
            #expect(notifier.notify(message))
            #expect(stub.receive() == message)
        }
        #expect(!stub.hasPending)
    }

    @Test func multiLineState_isSentAsOneDatagram() throws {
        let stub = try NotifySocketStub.filesystem()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": stub.address])
        #expect(notifier.notify("READY=1\nSTATUS=capturing on any"))
        #expect(stub.receive() == "READY=1\nSTATUS=capturing on any")
    }

    @Test func reloading_carriesTheMonotonicClock() throws {
        let stub = try NotifySocketStub.filesystem()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": stub.address])
        var before = timespec()
        clock_gettime(CLOCK_MONOTONIC, &before)
        #expect(notifier.notifyReloading())
        let lines = try #require(stub.receive()).split(separator: "\n")
        #expect(lines.first == "RELOADING=1")
        let stamp = try #require(lines.last.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) })
        #expect(stamp >= UInt64(before.tv_sec) * 1_000_000)
    }

    @Test func noNotifySocket_isANoOp() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000"])
        #expect(!notifier.isEnabled)
        #expect(!notifier.notify("READY=1"))
        #expect(!notifier.notifyReloading())
    }

    @Test(arguments: ["", "relative/path", "vsock:2:1234", "@"])
    func unusableNotifySocket_isANoOp(value: String) {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": value])
        #expect(!notifier.isEnabled)
        #expect(!notifier.notify("READY=1"))
    }

    @Test func socketThatNobodyListensOn_failsQuietly() {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent/finwatch/notify"])
        #expect(notifier.isEnabled)
        #expect(!notifier.notify("READY=1"))
    }

    @Test func pathTooLongForSockaddr_failsQuietly() {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)])
        #expect(!notifier.notify("READY=1"))
    }

    @Test func watchdogUsec_givesTheIntervalAndHalfOfItForPings() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000"])
        #expect(notifier.watchdogInterval == .seconds(30))
        #expect(notifier.watchdogPingInterval == .seconds(15))
    }

    @Test func watchdogPid_matchingOurPid_keepsTheInterval() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(notifier.watchdogInterval == .seconds(20))
    }

    @Test func watchdogPid_ofAnotherProcess_disablesTheWatchdog() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "\(getpid() + 1)"])
        #expect(notifier.watchdogInterval == nil)
        #expect(notifier.watchdogPingInterval == nil)
    }

    @Test(arguments: ["", "0", "-5", "thirty", "99999999999999999999"])
    func watchdogUsec_invalid_disablesTheWatchdog(value: String) {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": value])
        #expect(notifier.watchdogInterval == nil)
    }

    @Test func noWatchdogUsec_noWatchdog() {
        #expect(SystemdNotifier(environment: [:]).watchdogInterval == nil)
    }
}
