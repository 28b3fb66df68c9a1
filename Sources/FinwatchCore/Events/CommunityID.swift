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
        message.reserveCapacity(40)
        message += [UInt8(seed >> 8), UInt8(seed & 0xff)]
        message += first.ip.bytes
        message += second.ip.bytes
        message += [`protocol`, 0]
        message += [UInt8(first.port >> 8), UInt8(first.port & 0xff)]
        message += [UInt8(second.port >> 8), UInt8(second.port & 0xff)]
        return "1:" + SHA1.base64(SHA1.digest(message))
    }
}
