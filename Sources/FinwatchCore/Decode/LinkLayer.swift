/// What a link-layer header says: how long it is, which network layer follows, and (Linux cooked
/// v2) which interface the frame came from.
struct LinkLayer {
    /// The layer the link header announces.
    enum Network: Equatable {
        case ipv4, ipv6
        /// RAW: the version nibble decides.
        case either
        /// An MPLS label stack (EtherType 0x8847/0x8848, PPP 0x0281).
        case mpls
        /// A PPPoE session header (EtherType 0x8864).
        case pppoe
        /// A PPP protocol field (PPP link types, enhanced GRE).
        case ppp
        /// An Ethernet frame (inside transparent Ethernet bridging, VXLAN, Geneve, ERSPAN).
        case ethernet
    }

    /// Bound on stacked 802.1Q/802.1ad/E-Tag/VN-Tag tags: real QinQ uses two, a loop of tags is hostile.
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
        case .ppp, .pppSerial:
            (headerLength, network) = (0, .ppp)
        case .fddi:
            // Frame control, destination and source addresses (13 bytes), then 802.2 LLC.
            guard bytes.byteCount >= 13 else { throw .truncated(layer: .link, needed: 13, available: bytes.byteCount) }
            guard let (length, network) = try Self.snap(bytes, at: 13) else { return nil }
            (headerLength, self.network) = (length, network)
        case .atmRFC1483:
            guard let (length, network) = try Self.snap(bytes, at: 0) else { return nil }
            (headerLength, self.network) = (length, network)
        case .nflog:
            guard let (offset, network) = try Self.nflog(bytes) else { return nil }
            (headerLength, self.network) = (offset, network)
        }
    }

    /// EN10MB: Ethernet II, any stack of 802.1Q/802.1ad/E-Tag/VN-Tag tags (bounded), or 802.3
    /// with LLC/SNAP.
    @inline(__always)
    static func ethernet(_ bytes: RawSpan) throws(DecodeError) -> (Int, Network)? {
        guard bytes.byteCount >= 14 else { throw .truncated(layer: .link, needed: 14, available: bytes.byteCount) }
        var offset = 12                                       // the EtherType / length field
        var tags = 0
        var type = bytes.uint16(at: offset)
        while true {
            // Each tag is its TPID and a tag control field, then the next 2-byte type: 802.1Q and
            // 802.1ad (0x9100: pre-standard QinQ) 4 bytes, 802.1BR E-Tag 8, Cisco VN-Tag 6.
            let tagLength: Int
            switch type {
            case 0x8100, 0x88A8, 0x9100: tagLength = 4
            case 0x893F: tagLength = 8
            case 0x8926: tagLength = 6
            default: tagLength = 0
            }
            if tagLength == 0 { break }
            tags += 1
            guard tags <= maximumVLANTags else { throw .tooManyHeaders(layer: .vlan, count: tags) }
            guard bytes.byteCount >= offset + tagLength + 2 else {
                throw .truncated(layer: .vlan, needed: tagLength + 2, available: bytes.byteCount - offset)
            }
            offset += tagLength
            type = bytes.uint16(at: offset)
        }
        offset += 2
        if type <= 1500 {
            // IEEE 802.3 length field: an 802.2 LLC header follows.
            return try snap(bytes, at: offset)
        }
        guard let network = network(etherType: type) else { return nil }
        return (offset, network)
    }

    /// An 802.2 LLC header at `offset`. Only SNAP (AA AA 03) carries an EtherType (RFC 1042);
    /// other SAPs (spanning tree, NetBIOS) are not IP.
    private static func snap(_ bytes: RawSpan, at offset: Int) throws(DecodeError) -> (Int, Network)? {
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
        guard let network = network(etherType: bytes.uint16(at: offset + 6)) else { return nil }
        return (offset + 8, network)
    }

    /// Bound on NFLOG's TLVs before the packet: the kernel writes about ten.
    static let maximumNFLOGAttributes = 32

    /// NFLOG: family, version, resource id, then TLVs (lengths in host order, which is little
    /// endian on every Linux that writes these files) padded to 4 bytes; type 9 is the packet.
    private static func nflog(_ bytes: RawSpan) throws(DecodeError) -> (Int, Network)? {
        guard bytes.byteCount >= 4 else { throw .truncated(layer: .nflog, needed: 4, available: bytes.byteCount) }
        let network: Network
        switch bytes.uint8(at: 0) {
        case 2: network = .ipv4
        case 10: network = .ipv6
        default: return nil
        }
        var offset = 4
        for _ in 0..<maximumNFLOGAttributes {
            guard bytes.byteCount >= offset + 4 else {
                throw .truncated(layer: .nflog, needed: 4, available: bytes.byteCount - offset)
            }
            let length = Int(bytes.uint16(at: offset).byteSwapped)
            let type = bytes.uint16(at: offset + 2).byteSwapped & 0x7FFF      // the top bit is a nesting flag
            guard length >= 4 else { throw .badLength(layer: .nflog, value: length) }
            if type == 9 {
                guard bytes.byteCount >= offset + length else {
                    throw .truncated(layer: .nflog, needed: length, available: bytes.byteCount - offset)
                }
                return (offset + 4, network)
            }
            offset += (length + 3) & ~3
        }
        throw .tooManyHeaders(layer: .nflog, count: maximumNFLOGAttributes + 1)
    }

    @inline(__always)
    static func network(etherType: UInt16) -> Network? {
        switch etherType {
        case 0x0800: .ipv4
        case 0x86DD: .ipv6
        case 0x8847, 0x8848: .mpls
        case 0x8864: .pppoe
        case 0x6558: .ethernet
        default: nil
        }
    }
}
