/// Community ID v1 flow hashing (github.com/corelight/community-id-spec), so finwatch's events
/// join with Zeek's, Suricata's and anyone else's records of the same TCP flow.
package enum CommunityID {
    /// "1:" + base64(SHA-1(seed, addresses, protocol 6, pad, ports)) with the two endpoints in
    /// the spec's order: the smaller (address, port) first, so both directions hash alike.
    package static func v1(_ a: Endpoint, _ b: Endpoint, seed: UInt16) -> String {
        v1(a, b, protocol: 6, seed: seed)
    }

    /// The same for any port-carrying IP protocol (UDP 17, SCTP 132): what the spec's vectors cover.
    package static func v1(_ a: Endpoint, _ b: Endpoint, protocol: UInt8, seed: UInt16) -> String {
        // Addresses compare bytewise; `high`/`low` are the big-endian halves, so integer order is byte order.
        let aFirst = (a.ip.high, a.ip.low, a.port) <= (b.ip.high, b.ip.low, b.port)
        let (first, second) = aFirst ? (a, b) : (b, a)
        var message: [UInt8] = []
        message.reserveCapacity(64)   // the padded digest input fits one block: no regrowth
        func append16(_ value: UInt16) {
            message.append(UInt8(value >> 8))
            message.append(UInt8(value & 0xff))
        }
        func append(_ ip: IPAddress) {
            if ip.isIPv6 {
                for shift in stride(from: 56, through: 0, by: -8) { message.append(UInt8(truncatingIfNeeded: ip.high >> UInt64(shift))) }
                for shift in stride(from: 56, through: 0, by: -8) { message.append(UInt8(truncatingIfNeeded: ip.low >> UInt64(shift))) }
            } else {
                for shift in stride(from: 24, through: 0, by: -8) { message.append(UInt8(truncatingIfNeeded: ip.low >> UInt64(shift))) }
            }
        }
        append16(seed)
        append(first.ip)
        append(second.ip)
        message.append(`protocol`)
        message.append(0)
        append16(first.port)
        append16(second.port)
        return "1:" + SHA1.base64(SHA1.digest(message))
    }
}
