import FinwatchCapture
import Glibc

/// Everything that can end a run early, with its sysexits status and the one line an operator
/// reads on standard error (what failed, the value involved, what to do; lower case, no period).
enum FinwatchError: Error, Equatable, Sendable {
    /// A bad command line: the message names the flag and the value.
    case usage(String)
    case capture(CaptureError)
    /// --output cannot be opened for appending.
    case output(path: String, reason: String)
    /// The HTTP endpoint (--listen) could not run.
    case listen(address: String, reason: String)
    /// The host lacks what the Swift runtime itself needs (/proc/self): the message says what.
    case runtimeUnavailable(String)
    /// Our own bug or an impossible system condition.
    case internalError(String)

    var exitStatus: ExitStatus {
        switch self {
        case .usage: .usage
        case .output: .cannotCreate
        case .listen: .unavailable
        case .runtimeUnavailable: .unavailable
        case .internalError: .software
        case .capture(let error):
            switch error {
            case .invalidFilter: .usage
            case .notACapture, .corruptCapture: .dataError
            case .fileNotFound, .fileUnreadable: .noInput
            case .noSuchInterface, .interfaceDown, .activationFailed, .readFailed, .fanoutRefused: .unavailable
            case .permissionDenied: .noPermission
            case .systemCall: .software
            }
        }
    }

    var message: String {
        switch self {
        case .usage(let message): message
        case .output(let path, let reason): "cannot open --output \"\(path)\": \(reason)"
        case .listen(let address, let reason): "cannot serve --listen \(address): \(reason) (choose another --listen or --no-listen)"
        case .runtimeUnavailable(let message): message
        case .internalError(let message): "internal error: \(message)"
        case .capture(let error): Self.message(for: error)
        }
    }

    private static func message(for error: CaptureError) -> String {
        switch error {
        case .noSuchInterface(let name):
            "cannot capture on \"\(name)\": no such interface (see `ip link`)"
        case .interfaceDown(let name):
            "cannot capture on \"\(name)\": the interface is down (see `ip link`)"
        case .permissionDenied(let name, let promiscuous, _):
            promiscuous
                ? "no permission to capture on \"\(name)\" in promiscuous mode: finwatch needs CAP_NET_RAW and CAP_NET_ADMIN"
                : "no permission to capture on \"\(name)\": finwatch needs CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode)"
        case .activationFailed(let name, let message):
            "cannot capture on \"\(name)\": libpcap says: \(message)"
        case .fileNotFound(let path):
            "cannot read \"\(path)\": no such file"
        case .fileUnreadable(let path, let reason):
            "cannot read \"\(path)\": \(reason)"
        case .notACapture(let path, let message):
            "\"\(path)\" is not a pcap or pcapng capture: libpcap says: \(message)"
        case .corruptCapture(let path, let message):
            "\"\(path)\" is corrupt part-way (events up to there were written): libpcap says: \(message)"
        case .invalidFilter(let filter, let message):
            "invalid --filter \"\(filter)\": libpcap says: \(message)"
        case .readFailed(let source, let message):
            "capture on \"\(source)\" failed: libpcap says: \(message)"
        case .fanoutRefused(let name, let group, let reason):
            "cannot split the capture on \"\(name)\" between --workers: the kernel refused PACKET_FANOUT group \(group.map { "\($0)" } ?? "(a new one)"): \(reason) (run with --workers 1)"
        case .systemCall(let name, let code):
            "internal error: \(name) failed: \(String(cString: strerror(code)))"
        }
    }
}
