#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells systemd what the service is doing, the sd_notify(3) protocol without libsystemd:
/// one datagram per message to the AF_UNIX socket named by `$NOTIFY_SOCKET`. Without that
/// variable (run by hand, in a test, under another supervisor) every call is a no-op, so the
/// capture loop calls it unconditionally.
///
/// Messages the daemon sends: `READY=1` once the capture is active (Type=notify waits for it),
/// `WATCHDOG=1` at half of `watchdogInterval`, `STATUS=…` for `systemctl status`,
/// `RELOADING=1` … `READY=1` around a SIGHUP reopen, `STOPPING=1` when shutdown begins.
final class SystemdNotifier: Sendable {
    /// The socket address as systemd gave it: a path, or `@name` for the abstract namespace.
    /// `nil` when not started by systemd with a notify socket.
    let socketAddress: String?

    /// How often systemd expects `WATCHDOG=1` at the latest (`WatchdogSec=`), or `nil` when the
    /// watchdog is off or meant for another process (`$WATCHDOG_PID` is not ours).
    let watchdogInterval: Duration?

    /// The notifier for this process, from its own environment.
    static let fromEnvironment = SystemdNotifier(environment: currentEnvironment())

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`; other keys
    /// are ignored. Tests pass a dictionary; the daemon uses `fromEnvironment`.
    init(environment: [String: String]) {
        socketAddress = Self.socketAddress(from: environment["NOTIFY_SOCKET"])
        watchdogInterval = Self.watchdogInterval(from: environment, pid: getpid())
    }

    /// True when messages go somewhere, i.e. systemd is listening.
    var isEnabled: Bool { socketAddress != nil }

    /// How often to send `WATCHDOG=1`: half the interval, as sd_watchdog_enabled(3) advises, so
    /// one late tick (a slow disk, a long GC-free but busy capture burst) never kills the daemon.
    var watchdogPingInterval: Duration? { watchdogInterval.map { $0 / 2 } }

    /// Sends `state` (one or more `KEY=value` lines, e.g. `READY=1\nSTATUS=capturing on any`)
    /// as one datagram. Returns whether it was sent; `false` also when notification is off.
    /// Failures are not thrown: a lost notification must never stop the capture, and systemd
    /// itself treats a missing READY or WATCHDOG as the failure.
    @discardableResult
    func notify(_ state: String) -> Bool {
        guard let socketAddress, var address = Self.unixAddress(socketAddress) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let payload = Array(state.utf8)
        let sent = withUnsafePointer(to: &address.storage) { pointer in
            // sockaddr_un is a sockaddr by layout (POSIX); the length passed bounds what is read.
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                payload.withUnsafeBytes { bytes in
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), generic, address.length)
                }
            }
        }
        return sent == payload.count
    }

    /// Sends `RELOADING=1` with the monotonic time systemd ≥ 253 wants for Type=notify-reload;
    /// older systemd ignores the extra field. Send `READY=1` when the reload is done.
    @discardableResult
    func notifyReloading() -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        return notify("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    // MARK: - Parsing the environment

    /// Only filesystem paths and abstract names are ours to use; anything else (empty, a relative
    /// path, systemd 253's `vsock:`) means "no notification" rather than a guess.
    private static func socketAddress(from value: String?) -> String? {
        guard let value, let first = value.first, first == "/" || first == "@", value.utf8.count > 1 else {
            return nil
        }
        return value
    }

    /// sd_watchdog_enabled(3): `WATCHDOG_USEC` is a positive integer; when `WATCHDOG_PID` is set
    /// it must be our pid, else the watchdog belongs to a parent that exec'd us without clearing it.
    private static func watchdogInterval(from environment: [String: String], pid: pid_t) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0,
              microseconds <= UInt64(Int64.max)
        else { return nil }
        if let owner = environment["WATCHDOG_PID"] {
            guard let ownerPID = pid_t(owner), ownerPID == pid else { return nil }
        }
        return .microseconds(Int64(microseconds))
    }

    /// The three variables this type reads, from the process environment.
    private static func currentEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let value = getenv(key) { environment[key] = String(cString: value) }
        }
        return environment
    }

    // MARK: - The socket address

    private struct UnixAddress {
        var storage: sockaddr_un
        var length: socklen_t
    }

    /// Builds the sockaddr_un for `text`. A leading `@` becomes the NUL that marks the Linux
    /// abstract namespace, and the length then counts exactly the name (abstract names are not
    /// NUL-terminated: a trailing NUL would be a different name). `nil` when it does not fit.
    private static func unixAddress(_ text: String) -> UnixAddress? {
        var bytes = Array(text.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: storage.sun_path)
        // A path keeps room for its terminating NUL (already zero in `storage`).
        guard bytes.count < capacity || (bytes.first == 0 && bytes.count <= capacity) else { return nil }
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            // Checked just above: bytes.count <= capacity == raw.count.
            raw.copyBytes(from: bytes)
        }
        guard let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) else { return nil }
        return UnixAddress(storage: storage, length: socklen_t(pathOffset + bytes.count))
    }
}
