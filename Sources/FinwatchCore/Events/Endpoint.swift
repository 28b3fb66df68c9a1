/// An address and port: the contract's `{"ip": …, "port": …}`.
package struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    package var ip: IPAddress
    package var port: UInt16

    package init(ip: IPAddress, port: UInt16) {
        self.ip = ip
        self.port = port
    }

    /// "198.18.0.1:40022" or "[2001:db8::1]:40022".
    package var description: String { ip.isIPv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}
