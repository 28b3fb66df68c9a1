import Glibc

/// A real TCP conversation on 127.0.0.1, made with plain sockets so a capture on `lo` has
/// something to see: connect, a few bytes each way, a normal close (client first).
enum LoopbackConversation {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A listening socket on 127.0.0.1 and an ephemeral port.
    static func listen() throws -> (descriptor: Int32, port: UInt16) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(listener, 4) == 0 else {
            close(listener)
            throw Failure(description: "bind/listen: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        return (listener, UInt16(bigEndian: address.sin_port))
    }

    /// Connects to `port`, accepts, exchanges `payload` both ways, closes the client, then the
    /// server. Returns the client's ephemeral port.
    static func run(listener: Int32, port: UInt16, payload: [UInt8] = Array("hello".utf8)) throws -> UInt16 {
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard client >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(client); throw Failure(description: "connect: errno \(errno)") }
        let server = accept(listener, nil, nil)
        guard server >= 0 else { close(client); throw Failure(description: "accept: errno \(errno)") }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client, $0, &length) }
        }
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = payload.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }
        _ = recv(server, &buffer, buffer.count, 0)
        _ = payload.withUnsafeBytes { send(server, $0.baseAddress, $0.count, 0) }
        _ = recv(client, &buffer, buffer.count, 0)
        close(client)                      // active closer: FIN from the client
        _ = recv(server, &buffer, buffer.count, 0)   // reads the EOF
        close(server)                      // passive closer's FIN
        return UInt16(bigEndian: local.sin_port)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}
