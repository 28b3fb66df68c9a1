/// The link-layer header types finwatch decodes (tcpdump.org/linktypes.html). The raw value is
/// the LINKTYPE_ number a pcap file or `pcap_datalink` reports; DLT_ aliases are mapped by
/// `init(datalink:)`.
package enum LinkType: Int32, Sendable, CaseIterable {
    case null = 0            // BSD loopback: 4-byte address family in host byte order
    case ethernet = 1        // EN10MB, with 802.1Q / 802.1ad tags
    case ppp = 9             // PPP, with or without the HDLC address and control bytes
    case fddi = 10           // FDDI: frame control, two addresses, then 802.2 LLC/SNAP
    case pppSerial = 50      // PPP in HDLC-like framing (Cisco HDLC is not decoded)
    case atmRFC1483 = 100    // LLC/SNAP straight away (RFC 1483 bridged/routed over ATM)
    case raw = 101           // raw IPv4 or IPv6, version from the first nibble
    case loop = 108          // OpenBSD loopback: 4-byte address family in network byte order
    case linuxSLL = 113      // Linux cooked v1 (16-byte header)
    case ipv4 = 228
    case ipv6 = 229
    case nflog = 239         // Linux NFLOG: a 4-byte header, then TLVs, one of them the packet
    case linuxSLL2 = 276     // Linux cooked v2 (20-byte header, carries the interface index)

    /// Maps libpcap's DLT_ value (which differs from LINKTYPE_ on some platforms for RAW) to a type.
    package init?(datalink: Int32) {
        switch datalink {
        case 12, 14: self = .raw        // DLT_RAW on some BSDs / Linux variants
        case 11: self = .atmRFC1483     // DLT_ATM_RFC1483 on Linux
        default: self.init(rawValue: datalink)
        }
    }
}
