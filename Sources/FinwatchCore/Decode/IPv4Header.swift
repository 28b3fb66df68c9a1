/// The fields of an IPv4 header (RFC 791) that finwatch uses.
struct IPv4Header {
    var source: IPAddress
    var destination: IPAddress
    var `protocol`: UInt8
    var identification: UInt16
    var ttl: UInt8
    /// IHL × 4: 20 to 60 bytes.
    var headerLength: Int
    /// The packet's length from the header; for a total length of 0 (a TSO or BIG TCP capture,
    /// where the kernel had not split the packet yet) the captured length instead.
    var packetLength: Int
    /// Fragment offset in 8-byte units; non-zero means the TCP header is in another fragment.
    var fragmentOffset: UInt16
    var moreFragments: Bool

    /// Decodes the header at the front of `bytes`; `bytes` may end anywhere.
    @inline(__always)
    init(decoding bytes: RawSpan) throws(DecodeError) {
        guard bytes.byteCount >= 20 else { throw .truncated(layer: .ipv4, needed: 20, available: bytes.byteCount) }
        let first = bytes.uint8(at: 0)
        guard first >> 4 == 4 else { throw .badIPVersion(first >> 4) }
        let words = first & 0x0f
        guard words >= 5 else { throw .badIHL(words) }
        headerLength = Int(words) * 4
        guard bytes.byteCount >= headerLength else {
            throw .truncated(layer: .ipv4, needed: headerLength, available: bytes.byteCount)
        }
        let totalLength = bytes.uint16(at: 2)
        if totalLength == 0 {
            packetLength = bytes.byteCount                 // TSO/BIG TCP: the capture is the packet
        } else {
            guard Int(totalLength) >= headerLength else { throw .badTotalLength(totalLength) }
            packetLength = Int(totalLength)
        }
        identification = bytes.uint16(at: 4)
        let fragment = bytes.uint16(at: 6)
        fragmentOffset = fragment & 0x1fff
        moreFragments = fragment & 0x2000 != 0
        ttl = bytes.uint8(at: 8)
        self.protocol = bytes.uint8(at: 9)
        source = IPAddress(ipv4: bytes.uint32(at: 12))
        destination = IPAddress(ipv4: bytes.uint32(at: 16))
    }
}
