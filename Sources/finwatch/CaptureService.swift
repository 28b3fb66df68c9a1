import FinwatchCapture
import FinwatchCore
import Glibc
import Logging
import ServiceLifecycle

/// The live capture as a ServiceGroup service. The loop runs on its own thread (not the
/// cooperative pool: it sleeps between housekeeping ticks, and the shards block in poll);
/// graceful shutdown or cancellation calls `stop()`, the one cross-thread call, and the loop then
/// finishes every connection and writes `stop`.
struct CaptureService: Service, CustomStringConvertible {
    /// The loop it runs; the loop's handle is the one thing shutdown touches from here.
    let loop: LiveLoop

    var description: String { "capture on \(loop.options.source.name)" }

    func run() async throws {
        let loop = loop
        let notifier = loop.notifier
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await Self.runOnCaptureThread { () throws(FinwatchError) in try loop.run() }
            } onCancel: {
                loop.stop()
            }
        } onGracefulShutdown: {
            // systemd shows "deactivating" from here, not a service that stopped answering.
            notifier.notify("STOPPING=1")
            loop.stop()
        }
    }

    /// Runs `body` on a dedicated thread and resumes when it returns. A pthread, not Foundation's
    /// Thread: Thread alone would link all of Foundation and ICU into the binary (34 MB).
    static func runOnCaptureThread(_ body: @escaping @Sendable () throws(FinwatchError) -> Void) async throws(FinwatchError) {
        let result: Result<Void, FinwatchError> = await withCheckedContinuation { continuation in
            let work = CaptureThreadWork {
                do throws(FinwatchError) {
                    try body()
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            let context = Unmanaged.passRetained(work).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { context in
                let work = Unmanaged<CaptureThreadWork>.fromOpaque(context!).takeRetainedValue()
                CaptureService.nameThisThread("finwatch-capture")
                work.run()
                return nil
            }, context)
            if status == 0 {
                pthread_detach(thread)
            } else {
                Unmanaged<CaptureThreadWork>.fromOpaque(context).release()
                continuation.resume(returning: .failure(.internalError(
                    "cannot start the capture thread: \(String(cString: strerror(status)))")))
            }
        }
        try result.get()
    }

    /// Names the calling thread in `top -H` and /proc (pthread_setname_np is not visible to Swift here).
    static func nameThisThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        _ = Array(name.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

/// What the capture thread runs, passed through pthread_create's context pointer.
private final class CaptureThreadWork: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
