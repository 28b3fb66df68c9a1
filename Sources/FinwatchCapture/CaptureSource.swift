import FinwatchCore

/// Where frames come from: a live interface or a capture file. Opening one yields an activated,
/// filtered `PcapHandle`; every failure is a `CaptureError`.
package enum CaptureSource: Sendable, Equatable {
    case live(LiveCaptureOptions)
    case file(path: String)

    /// The start event's `source_kind`.
    package var kind: SourceKind {
        switch self {
        case .live: .interface
        case .file: .file
        }
    }

    /// The interface name or the file path.
    package var name: String {
        switch self {
        case .live(let options): options.interface
        case .file(let path): path
        }
    }

    /// Opens the source and installs `tcp` ANDed with `filter`.
    ///
    /// A file read without a user filter gets no BPF program at all: libpcap would run its
    /// interpreter in user space on every record just to say "TCP", which the decoder says anyway
    /// in the same pass (a fifth of the capture thread's time on the benchmark file). The decoder
    /// is also the better judge there: `tcp` in BPF misses TCP behind VLAN tags or an IPv6
    /// hop-by-hop header (BIG TCP), which the decoder reads. Live, the kernel runs the filter,
    /// before any copy to user space, so `tcp` stays.
    package func open(filter: String?, decapsulate: Bool = false) throws(CaptureError) -> PcapHandle {
        let handle: PcapHandle
        switch self {
        case .live(let options):
            handle = try PcapHandle(live: options)
            try handle.setFilter(filter, decapsulate: decapsulate)
        case .file(let path):
            handle = try PcapHandle(file: path)
            if PcapHandle.userFilter(filter) != nil { try handle.setFilter(filter, decapsulate: decapsulate) }
        }
        return handle
    }
}
