#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// SIGHUPs received so far. A global so the C signal handler can reach it without a context
/// pointer; an atomic increment is async-signal-safe (one lock-free instruction, no allocation).
private let hangupsReceived = Atomic<UInt64>(0)

/// SIGHUP as "reopen --output" (logrotate renamed the file; `systemctl reload` sends SIGHUP).
///
/// The handler only counts; the capture thread compares the count with the one it last acted
/// on at its next tick, so the reopen happens between two whole writes on the one thread that
/// owns the writer, and two signals in one tick cost one reopen. SIGHUP's default action would
/// end finwatch mid-run, so the handler is installed as soon as an output is opened; an offline
/// run, which ends on its own, counts and ignores it.
enum HangupSignal {
    /// Installs the counting handler (idempotent; later calls change nothing).
    static func install() {
        // Touch the global first: its lazy initialisation (swift_once) must not run inside the
        // handler, where only async-signal-safe work is allowed.
        _ = hangupsReceived.load(ordering: .relaxed)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in hangupsReceived.wrappingAdd(1, ordering: .relaxed) }
        // SA_RESTART: a write or read interrupted by the signal resumes instead of failing EINTR.
        action.sa_flags = SA_RESTART
        sigemptyset(&action.sa_mask)
        sigaction(SIGHUP, &action, nil)
    }

    /// How many SIGHUPs arrived since the process started.
    static var count: UInt64 { hangupsReceived.load(ordering: .relaxed) }
}
