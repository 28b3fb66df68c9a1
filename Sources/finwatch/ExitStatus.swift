/// The sysexits statuses the contract names (sysexits.h), and nothing else.
enum ExitStatus: Int32, Sendable {
    case success = 0
    /// EX_USAGE: bad command line or bad --filter.
    case usage = 64
    /// EX_DATAERR: a capture file that is not a capture or is corrupt.
    case dataError = 65
    /// EX_NOINPUT: a capture file that does not exist or cannot be read.
    case noInput = 66
    /// EX_UNAVAILABLE: an interface that does not exist or is down; the capture went away.
    case unavailable = 69
    /// EX_SOFTWARE: an internal error.
    case software = 70
    /// EX_CANTCREAT: the --output file cannot be created or opened.
    case cannotCreate = 73
    /// EX_NOPERM: no permission to capture.
    case noPermission = 77
}
