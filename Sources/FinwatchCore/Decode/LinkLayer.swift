/// What a link-layer header says: how long it is, which IP version follows, and (Linux cooked
/// v2) which interface the frame came from.
struct LinkLayer {
    /// The network layer the link header announces.
    enum Network: Equatable {
        case ipv4, ipv6
        /// RAW: the version nibble decides.
        case either
    }

    /// Bound on stacked 802.1Q/802.1ad tags: real QinQ uses two, a loop of tags is hostile.
    static let maximumVLANTags = 8

    var headerLength: Int
    var network: Network
    var interfaceIndex: UInt32?

    /// Decodes the link header at the front of `bytes`; nil when the frame carries no IP (ARP,
    /// an unknown EtherType or address family, LLC without SNAP).
    @inline(__always)
    init?(decoding bytes: RawSpan, linkType: LinkType) throws(DecodeError) {
        interfaceIndex = nil
        switch linkType {
        case .ethernet:
            guard let (length, network) = try Self.ethernet(bytes) else { return nil }
            (headerLength, self.network) = (length, network)
        case .linuxSLL:
            // 16 bytes: packet type, ARPHRD type, address length, 8-byte address, protocol.
            guard bytes.byteCount >= 16 else { throw .truncated(layer: .link, needed: 16, available: bytes.byteCount) }
            guard let network = Self.network(etherType: bytes.uint16(at: 14)) else { return nil }
            (headerLength, self.network) = (16, network)
        case .linuxSLL2:
            // 20 bytes: protocol, reserved, interface index, ARPHRD type, packet type, address.
            guard bytes.byteCount >= 20 else { throw .truncated(layer: .link, needed: 20, available: bytes.byteCount) }
            guard let network = Self.network(etherType: bytes.uint16(at: 0)) else { return nil }
            (headerLength, self.network) = (20, network)
            interfaceIndex = bytes.uint32(at: 4)
        case .null, .loop:
            guard bytes.byteCount >= 4 else { throw .truncated(layer: .link, needed: 4, available: bytes.byteCount) }
            var family = bytes.uint32(at: 0)
            // NULL is in the writer's host order, which the file does not record: a family value
            // fits in the low byte, so a value in the high half was written little-endian.
            if linkType == .null && family > 0xFFFF { family = family.byteSwapped }
            switch family {
            case 2: network = .ipv4                          // AF_INET everywhere
            case 10, 24, 28, 30: network = .ipv6             // AF_INET6: Linux, Net/OpenBSD, FreeBSD, Darwin
            default: return nil
            }
            headerLength = 4
        case .raw:
            (headerLength, network) = (0, .either)
        case .ipv4:
            (headerLength, network) = (0, .ipv4)
        case .ipv6:
            (headerLength, network) = (0, .ipv6)
        }
    }

    /// EN10MB: Ethernet II, any stack of 802.1Q/802.1ad tags (bounded), or 802.3 with LLC/SNAP.
    @inline(__always)
    private static func ethernet(_ bytes: RawSpan) throws(DecodeError) -> (Int, Network)? {
        guard bytes.byteCount >= 14 else { throw .truncated(layer: .link, needed: 14, available: bytes.byteCount) }
        var offset = 12                                       // the EtherType / length field
        var tags = 0
        var type = bytes.uint16(at: offset)
        while type == 0x8100 || type == 0x88A8 || type == 0x9100 {   // 0x9100: pre-standard QinQ
            tags += 1
            guard tags <= maximumVLANTags else { throw .tooManyHeaders(layer: .vlan, count: tags) }
            // Each tag is 4 bytes (TPID + TCI) and is followed by the next 2-byte type.
            guard bytes.byteCount >= offset + 6 else {
                throw .truncated(layer: .vlan, needed: 6, available: bytes.byteCount - offset)
            }
            offset += 4
            type = bytes.uint16(at: offset)
        }
        offset += 2
        if type <= 1500 {
            // IEEE 802.3 length field: an 802.2 LLC header follows. Only SNAP (AA AA 03) carries
            // an EtherType (RFC 1042); other SAPs (spanning tree, NetBIOS) are not IP.
            guard bytes.byteCount >= offset + 3 else {
                throw .truncated(layer: .link, needed: offset + 3, available: bytes.byteCount)
            }
            guard bytes.uint16(at: offset) == 0xAAAA, bytes.uint8(at: offset + 2) == 0x03 else { return nil }
            guard bytes.byteCount >= offset + 8 else {
                throw .truncated(layer: .link, needed: offset + 8, available: bytes.byteCount)
            }
            // OUI 00-00-00 (RFC 1042) or 00-00-F8 (802.1H): the next two bytes are an EtherType;
            // any other OUI is a vendor's own protocol number.
            let oui = UInt32(bytes.uint8(at: offset + 3)) << 16 | UInt32(bytes.uint16(at: offset + 4))
            guard oui == 0 || oui == 0xF8 else { return nil }
            type = bytes.uint16(at: offset + 6)
            offset += 8
        }
        guard let network = network(etherType: type) else { return nil }
        return (offset, network)
    }

    @inline(__always)
    private static func network(etherType: UInt16) -> Network? {
        switch etherType {
        case 0x0800: .ipv4
        case 0x86DD: .ipv6
        default: nil
        }
    }
}
