/// Why a frame could not be decoded. Each carries the value seen, so a count by case (and a
/// test) can say exactly what was wrong. Decoding errors are counted, never fatal.
package enum DecodeError: Error, Equatable, Sendable {
    package enum Layer: String, Sendable {
        case link, vlan, ipv4, ipv6, ipv6Extension, tcp
        // Encapsulations (docs/decoding.md): each names its own header in an error.
        case mpls, pppoe, ppp, gre, erspan, udp, vxlan, geneve, gtpu, teredo, nflog
        /// The nesting of encapsulations as a whole (the depth limit).
        case tunnel
    }

    /// The frame ends before the header it claims: `needed` bytes, `available` captured, both
    /// counted from the start of `layer` (for `.link`, the frame; for `.vlan`, the tag).
    case truncated(layer: Layer, needed: Int, available: Int)
    /// IPv4 IHL below 5 (in 32-bit words).
    case badIHL(UInt8)
    /// IPv4 total length smaller than its own header.
    case badTotalLength(UInt16)
    /// IPv6 payload length that cannot hold the extension headers and TCP header.
    case badPayloadLength(UInt16)
    /// A version nibble that does not match the link type (an IPv6 packet on LINKTYPE_IPV4).
    case badIPVersion(UInt8)
    /// TCP data offset below 5 words.
    case badDataOffset(UInt8)
    /// TCP data offset beyond the IP payload.
    case dataOffsetBeyondPayload(UInt8)
    /// More stacked headers than any real frame carries (VLAN tags, IPv6 extension headers, MPLS
    /// labels without bottom of stack, encapsulations nested): `count` is the number reached when
    /// decoding gave up.
    case tooManyHeaders(layer: Layer, count: Int)
    /// An encapsulation header's own length field that cannot be (a UDP length below 8, a PPPoE
    /// length below its PPP protocol field, a GTP-U extension of length 0): the value seen.
    case badLength(layer: Layer, value: Int)
    /// An encapsulation header of a version finwatch does not know (GRE 2–7, Geneve 1–3, an
    /// ERSPAN header whose version contradicts its GRE protocol type, PPPoE other than 1/1).
    case unknownVersion(layer: Layer, version: UInt8)
}
