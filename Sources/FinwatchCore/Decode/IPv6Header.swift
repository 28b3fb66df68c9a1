/// The fields of an IPv6 header (RFC 8200) that finwatch uses, and the walk along its
/// extension-header chain to the upper-layer header.
struct IPv6Header {
    /// Where the upper-layer header starts and what it is.
    struct UpperLayer {
        var `protocol`: UInt8
        /// Offset from the start of the IPv6 header.
        var offset: Int
        /// The packet's length (40 + payload length, or from the jumbo option or the capture).
        var packetLength: Int
        /// A first fragment with more to come: the TCP header may not be whole in it.
        var isFirstFragment: Bool
    }

    /// Bound on the extension chain: RFC 8200 headers appear at most once or twice each; a
    /// longer chain is hostile and must not cost unbounded time.
    static let maximumExtensionHeaders = 16

    var source: IPAddress
    var destination: IPAddress
    var hopLimit: UInt8
    var payloadLength: UInt16
    var nextHeader: UInt8

    /// Decodes the fixed 40-byte header at the front of `bytes`; `bytes` may end anywhere.
    init(decoding bytes: RawSpan) throws(DecodeError) {
        guard bytes.byteCount >= 40 else { throw .truncated(layer: .ipv6, needed: 40, available: bytes.byteCount) }
        let version = bytes.uint8(at: 0) >> 4
        guard version == 6 else { throw .badIPVersion(version) }
        payloadLength = bytes.uint16(at: 4)
        nextHeader = bytes.uint8(at: 6)
        hopLimit = bytes.uint8(at: 7)
        source = IPAddress(ipv6High: bytes.uint64(at: 8), low: bytes.uint64(at: 16))
        destination = IPAddress(ipv6High: bytes.uint64(at: 24), low: bytes.uint64(at: 32))
    }

    /// Follows the extension headers in `packet` (the whole IPv6 packet as captured). nil when
    /// the packet is a non-first fragment or is encrypted (ESP), ends (no next header), or the
    /// chain reaches a protocol this walk cannot step over; the caller checks for TCP.
    func upperLayer(in packet: RawSpan) throws(DecodeError) -> UpperLayer? {
        var next = nextHeader
        var offset = 40
        // Payload length 0 means a jumbogram (RFC 2675) when a hop-by-hop jumbo option says so,
        // or a BIG TCP / offload capture without one: then the capture is the packet.
        var declaredEnd: Int? = payloadLength == 0 ? nil : 40 + Int(payloadLength)
        var isFirstFragment = false
        var count = 0
        while true {
            let length: Int
            switch next {
            case 0, 43, 60, 135:
                // Hop-by-hop, routing, destination options, mobility: length in 8 bytes, minus 1.
                guard packet.byteCount >= offset + 2 else { throw truncated(needed: 2, at: offset, in: packet) }
                length = (Int(packet.uint8(at: offset + 1)) + 1) * 8
            case 44:
                length = 8                                    // fragment header: fixed
            case 51:
                // RFC 4302 §2.2: AH payload length is in 4-byte units, minus 2.
                guard packet.byteCount >= offset + 2 else { throw truncated(needed: 2, at: offset, in: packet) }
                length = (Int(packet.uint8(at: offset + 1)) + 2) * 4
            default:
                // TCP, UDP, ICMPv6, ESP (50), no next header (59), anything unknown: the chain ends.
                return UpperLayer(protocol: next, offset: offset, packetLength: declaredEnd ?? packet.byteCount,
                                  isFirstFragment: isFirstFragment)
            }
            count += 1
            guard count <= Self.maximumExtensionHeaders else {
                throw .tooManyHeaders(layer: .ipv6Extension, count: count)
            }
            guard packet.byteCount >= offset + length else { throw truncated(needed: length, at: offset, in: packet) }
            if next == 0 && offset == 40 && payloadLength == 0 {
                if let jumbo = Self.jumboPayloadLength(packet.extracting(offset ..< offset + length)) {
                    declaredEnd = 40 + Int(jumbo)
                }
            }
            if let declaredEnd, offset + length > declaredEnd {
                throw .badPayloadLength(payloadLength)        // the headers overrun the packet
            }
            if next == 44 {
                let field = packet.uint16(at: offset + 2)
                guard field >> 3 == 0 else { return nil }     // not the first fragment: no TCP header here
                isFirstFragment = field & 1 != 0              // M = 0 with offset 0 is an atomic fragment
            }
            next = packet.uint8(at: offset)
            offset += length
        }
    }

    private func truncated(needed: Int, at offset: Int, in packet: RawSpan) -> DecodeError {
        .truncated(layer: .ipv6Extension, needed: needed, available: packet.byteCount - offset)
    }

    /// The RFC 2675 jumbo payload length from a whole hop-by-hop header, if it carries one.
    private static func jumboPayloadLength(_ header: RawSpan) -> UInt32? {
        var offset = 2
        while offset < header.byteCount {
            let type = header.uint8(at: offset)
            if type == 0 { offset += 1; continue }            // Pad1 has no length byte
            guard offset + 2 <= header.byteCount else { return nil }
            let length = Int(header.uint8(at: offset + 1))
            guard offset + 2 + length <= header.byteCount else { return nil }
            if type == 0xC2 && length == 4 { return header.uint32(at: offset + 2) }
            offset += 2 + length
        }
        return nil
    }
}
