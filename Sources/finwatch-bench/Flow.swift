import FinwatchCore

/// The two endpoints of one generated connection. `orig` opens it (sends the SYN).
struct Flow {
    var orig: IPAddress
    var resp: IPAddress
    var origPort: UInt16
    var respPort: UInt16

    var isIPv6: Bool { orig.isIPv6 }

    /// A 4-tuple no other connection in the file uses (unless a scenario reuses it on purpose):
    /// client address from the connection number modulo 4096, ephemeral port from the quotient,
    /// so tuples repeat only after 4096 × 28,232 ≈ 115 million connections.
    init(number: UInt64, isIPv6: Bool, server: UInt64, port: UInt16) {
        let client = number % 4096
        origPort = UInt16(32768 + (number / 4096) % 28232)
        respPort = port
        if isIPv6 {
            // 2001:db8:1::/64 for clients, 2001:db8:2::/64 for servers (RFC 3849 documentation space).
            orig = IPAddress(ipv6High: 0x2001_0db8_0001_0000, low: 0x1_0000 + client)
            resp = IPAddress(ipv6High: 0x2001_0db8_0002_0000, low: 1 + server)
        } else {
            // 198.18.0.0/15 (RFC 2544 benchmarking space): clients in 198.18.0.0/20, servers 198.19.0.x.
            orig = IPAddress(ipv4: 0xc612_0000 | UInt32(client))
            resp = IPAddress(ipv4: 0xc613_0001 + UInt32(server))
        }
    }
}
