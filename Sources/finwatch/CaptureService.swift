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

    /// Runs `body` on a dedicated thread and resumes when it returns.
    static func runOnCaptureThread(_ body: @escaping @Sendable () throws(FinwatchError) -> Void) async throws(FinwatchError) {
        let result: Result<Void, FinwatchError> = await withCheckedContinuation { continuation in
            let refused = NamedThread.start(name: "finwatch-capture") {
                do throws(FinwatchError) {
                    try body()
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if let refused {
                continuation.resume(returning: .failure(.internalError("cannot start the capture thread: \(refused)")))
            }
        }
        try result.get()
    }
}
