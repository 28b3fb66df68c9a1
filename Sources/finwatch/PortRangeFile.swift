import FinwatchCore
import FinwatchHost
import Glibc

/// Reads the local port range live from this process's network namespace: finwatch in a pod, a
/// container or `ip netns exec` sees that namespace's sysctl, as the programs beside it do.
enum PortRangeFile {
    /// The range now, or nil when the file cannot be read or parsed (not Linux, /proc hidden).
    static func read(path: String = PortRangeText.path) -> EphemeralPortRange? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 64)
        var count = 0
        while count < bytes.count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + count, $0.count - count) }
            if got < 0 { if errno == EINTR { continue }; return nil }
            if got == 0 { break }
            count += got
        }
        return PortRangeText.parse(String(decoding: bytes[0..<count], as: UTF8.self))
    }
}
