/// Where frames come from: a live interface or a capture file. Opening one yields an activated,
/// filtered `PcapHandle`; every failure is a `CaptureError`.
package enum CaptureSource: Sendable, Equatable {
    case live(LiveCaptureOptions)
    case file(path: String)

    /// `interface` or `file`, as the start event's `source_kind` spells it.
    package var kind: String {
        switch self {
        case .live: "interface"
        case .file: "file"
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
    package func open(filter: String?) throws(CaptureError) -> PcapHandle {
        let handle: PcapHandle
        switch self {
        case .live(let options): handle = try PcapHandle(live: options)
        case .file(let path): handle = try PcapHandle(file: path)
        }
        try handle.setFilter(filter)
        return handle
    }
}
