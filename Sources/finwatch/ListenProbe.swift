#if canImport(Glibc)
import Glibc
#endif

/// Tries the `--listen` address before anything else starts, so a taken port is one line and
/// exit 69 with nothing written to the output — not a capture started and stopped around a
/// failed HTTP bind. The HTTP server binds for real a moment later; this only answers whether
/// it can (SO_REUSEADDR as the server sets it, so a TIME_WAIT leftover does not count as taken).
enum ListenProbe {
    static func check(_ listen: RunOptions.ListenAddress) throws(FinwatchError) {
        let isIPv6 = listen.host.contains(":")
        let descriptor = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }   // no socket to try with: let the server report it
        defer { close(descriptor) }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound: Int32
        if isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(listen.port).bigEndian)
            guard inet_pton(AF_INET6, listen.host, &address.sin6_addr) == 1 else { return }
            bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(listen.port).bigEndian)
            guard inet_pton(AF_INET, listen.host, &address.sin_addr) == 1 else { return }
            bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard bound != 0 else { return }
        let failure = MetricsEndpointError(address: listen.text, underlying: "errno: \(errno)")
        throw .listen(address: listen.text, reason: failure.reason)
    }
}
