import FinwatchCore
import Glibc

/// Writes events as JSON lines to standard output ("-") or appends them to a file: the
/// `EventSink` finwatch has. SIGHUP (reopen) is the run's business, not this type's.
///
/// Buffered (64 KiB), flushed when full, at least every second (`flushIfDue`), after every alert,
/// and at the end. Only whole lines enter the buffer, so a reader never sees half an event
/// unless the kernel itself accepts part of a write; then the rest goes first next time.
/// A failed write (ENOSPC, EIO, ...) is counted and never fatal: the buffer is kept and retried
/// once a second (not per event: a full disk must not cost a failing syscall per packet), and
/// past `maximumPending` new lines are dropped and counted, so memory stays bounded. EPIPE on
/// standard output (the reader went away; SIGPIPE is ignored) sets `readerGone`: the run then
/// ends cleanly. Used by one thread only (the capture thread, or the offline run).
final class JSONLinesWriter {
    static let bufferCapacity = 64 * 1024
    /// Past this much unwritten output (a disk full for a long time) whole lines are dropped
    /// rather than letting memory grow without bound.
    static let maximumPending = 8 * 1024 * 1024

    let path: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private var lastFlush: Int64
    private(set) var eventsWritten: UInt64 = 0
    private(set) var writeErrors: UInt64 = 0
    /// Lines dropped because output stayed blocked past `maximumPending`.
    private(set) var linesDropped: UInt64 = 0
    /// errno of the latest failed write, for the operator's message; nil once a write succeeds.
    private(set) var lastErrorCode: Int32?
    /// The latest flush failed: further flushes wait for `flushIfDue` (one retry a second).
    var isFailing: Bool { lastErrorCode != nil }
    /// Standard output's reader closed the pipe: nothing more can be written.
    private(set) var readerGone = false

    var isStandardOutput: Bool { path == "-" }

    /// Opens `path` for appending (created 0644), or standard output for "-".
    init(path: String) throws(FinwatchError) {
        self.path = path
        descriptor = path == "-" ? STDOUT_FILENO : try Self.openForAppend(path)
        buffer.reserveCapacity(Self.bufferCapacity + 4096)
        lastFlush = MonotonicClock.nanoseconds()
    }

    deinit { close() }

    /// Appends one event; flushes after an alert (operators page on those) or when the buffer is full.
    func write(_ event: Event) {
        guard !readerGone else { return }
        let before = buffer.count
        event.appendJSONLine(to: &buffer)
        if buffer.count > Self.maximumPending {
            // The output has been failing for a while: keep what is queued (older lines first),
            // drop this one, and say so in the count rather than grow without bound.
            buffer.removeSubrange(before...)
            linesDropped += 1
            return
        }
        if buffer.count > before { eventsWritten += 1 }
        if case .alert = event {
            flush()   // operators page on alerts: out now, failing or not
        } else if buffer.count >= Self.bufferCapacity && !isFailing {
            flush()
        }
    }

    /// Flushes when a second has passed since the last flush.
    func flushIfDue() {
        let now = MonotonicClock.nanoseconds()
        if now - lastFlush >= 1_000_000_000 { flush() }
    }

    /// Writes everything buffered that the descriptor accepts now.
    func flush() {
        lastFlush = MonotonicClock.nanoseconds()
        guard !buffer.isEmpty, !readerGone else { return }
        var written = 0
        while written < buffer.count {
            let result = buffer.withUnsafeBytes { bytes in
                // `written < bytes.count`: the pointer and length stay inside the buffer.
                Glibc.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            }
            if result > 0 {
                written += result
                continue
            }
            let code = errno
            if result < 0 && code == EINTR { continue }
            if code == EPIPE && isStandardOutput {
                readerGone = true
                buffer.removeAll(keepingCapacity: true)
                return
            }
            writeErrors += 1
            lastErrorCode = result < 0 ? code : EIO   // 0 bytes accepted for a non-empty write
            buffer.removeFirst(written)
            return
        }
        lastErrorCode = nil
        buffer.removeAll(keepingCapacity: true)
    }

    /// Bytes waiting for the output to accept them.
    var pendingByteCount: Int { buffer.count }

    /// The latest write error as the operator reads it (strerror), or nil.
    var lastErrorText: String? { lastErrorCode.map { String(cString: strerror($0)) } }

    /// Closes and reopens `path` (after logrotate moved it: SIGHUP). Standard output stays.
    func reopen() throws(FinwatchError) {
        flush()
        guard !isStandardOutput else { return }
        let fresh = try Self.openForAppend(path)
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        descriptor = fresh
        // What the old file refused (full, gone) gets its chance in the new one at once.
        if !buffer.isEmpty { flush() }
    }

    /// Flushes and closes the file (standard output is left open).
    func close() {
        flush()
        if !isStandardOutput, descriptor >= 0 {
            _ = Glibc.close(descriptor)
            descriptor = -1
        }
    }

    private static func openForAppend(_ path: String) throws(FinwatchError) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .output(path: path, reason: String(cString: strerror(errno))) }
        return descriptor
    }
}

/// CLOCK_MONOTONIC in nanoseconds: flush deadlines must not jump with the wall clock.
enum MonotonicClock {
    static func nanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

/// CLOCK_REALTIME as a `Timestamp`: the live clock (packets carry the same clock's times).
enum HostClock {
    static func now() -> Timestamp {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Timestamp(seconds: Int64(now.tv_sec), nanoseconds: Int64(now.tv_nsec))
    }
}
