/// Everything that stops a benchmark command, with the message printed for it.
enum BenchError: Error, CustomStringConvertible {
    case usage(String)
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String, reason: String)
    case mismatch(String)

    var description: String {
        switch self {
        case .usage(let message): message
        case .cannotWrite(let path, let reason): "cannot write \"\(path)\": \(reason)"
        case .cannotRead(let path, let reason): "cannot read \"\(path)\": \(reason)"
        case .mismatch(let message): message
        }
    }
}
