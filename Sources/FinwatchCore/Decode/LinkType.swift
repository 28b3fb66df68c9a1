/// The link-layer header types finwatch decodes (tcpdump.org/linktypes.html). The raw value is
/// the LINKTYPE_ number a pcap file or `pcap_datalink` reports; DLT_ aliases are mapped by
/// `init(datalink:)`.
package enum LinkType: Int32, Sendable, CaseIterable {
    case null = 0            // BSD loopback: 4-byte address family in host byte order
    case ethernet = 1        // EN10MB, with 802.1Q / 802.1ad tags
    case raw = 101           // raw IPv4 or IPv6, version from the first nibble
    case loop = 108          // OpenBSD loopback: 4-byte address family in network byte order
    case linuxSLL = 113      // Linux cooked v1 (16-byte header)
    case ipv4 = 228
    case ipv6 = 229
    case linuxSLL2 = 276     // Linux cooked v2 (20-byte header, carries the interface index)

    /// Maps libpcap's DLT_ value (which differs from LINKTYPE_ on some platforms for RAW) to a type.
    package init?(datalink: Int32) {
        switch datalink {
        case 12, 14: self = .raw        // DLT_RAW on some BSDs / Linux variants
        default: self.init(rawValue: datalink)
        }
    }
}
