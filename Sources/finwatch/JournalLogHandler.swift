import Glibc
import Logging

/// swift-log's standard-error handler, plus a syslog priority the journal understands.
///
/// Under systemd, standard error is a stream into journald, which files every line at the
/// unit's default priority (info) unless the line starts with `<N>` (sd-daemon(3)). Without the
/// prefix `journalctl -u finwatch -p warning` showed nothing, whatever finwatch warned about.
/// The prefix is added only when standard error really is the journal: systemd sets
/// `JOURNAL_STREAM` to the stream's device and inode, and both must match standard error's
/// (a shell started from the unit inherits the variable, not the stream). On a terminal or a
/// file the lines are exactly swift-log's.
struct JournalLogHandler: LogHandler {
    private var stream: StreamLogHandler
    private let label: String
    private let journal: Bool

    init(label: String, journal: Bool = JournalLogHandler.standardErrorIsJournal()) {
        self.label = label
        self.journal = journal
        stream = StreamLogHandler.standardError(label: label)
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        guard journal else {
            stream.log(event: event)
            return
        }
        // One handler per line (logging is rare): swift-log formats the line, the stream below
        // puts the priority in front and writes it whole, so lines from threads never mix.
        var prefixed = StreamLogHandler(label: label, stream: PriorityStandardError(priority: Self.priority(event.level)),
                                        metadataProvider: stream.metadataProvider)
        prefixed.logLevel = stream.logLevel
        prefixed.metadata = stream.metadata
        prefixed.log(event: event)
    }

    /// syslog(3) priorities: the journal's `-p` names are these.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7      // LOG_DEBUG
        case .info: 6               // LOG_INFO
        case .notice: 5             // LOG_NOTICE
        case .warning: 4            // LOG_WARNING
        case .error: 3              // LOG_ERR
        case .critical: 2           // LOG_CRIT
        }
    }

    /// `JOURNAL_STREAM` is `DEVICE:INODE` of the journal stream systemd connected (systemd.exec(5)).
    static func standardErrorIsJournal(environment value: String? = getenv("JOURNAL_STREAM").map { String(cString: $0) })
        -> Bool {
        guard let value else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}

/// Standard error, each line with `<priority>` in front, written in one write(2).
private struct PriorityStandardError: TextOutputStream, Sendable {
    let priority: Int

    mutating func write(_ string: String) {
        var line = Array("<\(priority)>".utf8)
        line.append(contentsOf: string.utf8)
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
            }
        }
    }
}
