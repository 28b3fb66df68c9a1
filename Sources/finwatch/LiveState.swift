import FinwatchCore
import Synchronization

/// What the capture thread republishes each tick for `/connections`, `/healthz` and `status`.
/// One of the three things that cross threads (STYLE §7): a Mutex around a value.
final class LiveState: Sendable {
    struct Published: Sendable {
        /// The capture is open and being read.
        var capturing = false
        var halfClosed: [ConnectionSnapshot] = []
        /// Processes found for stuck sides, keyed by "uid/side".
        var processes: [String: ProcessInfo] = [:]
        var stats: RunStats? = nil
        /// The run's clock: the times above are in its step-free frame.
        var clock: LiveClock? = nil
    }

    private let published = Mutex(Published())

    init() {}

    func publish(_ update: (inout Published) -> Void) { published.withLock { update(&$0) } }
    var current: Published { published.withLock { $0 } }

    /// The key of `Published.processes`: a stuck side of one connection.
    static func processKey(uid: String, side: Side) -> String { "\(uid)/\(side.rawValue)" }
}
