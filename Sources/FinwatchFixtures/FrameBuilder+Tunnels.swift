import FinwatchCore

/// Encapsulation headers for tests, each wrapping the bytes it is given, so a test composes a
/// frame outer first by reading inside out: `ethernet(ipv4(udp(vxlan(inner))))`. Lengths are
/// computed unless a parameter overrides them to make a lying header.
extension FrameBuilder {
    /// An Ethernet II frame around `payload` of `etherType` (an alias of `ethernet(etherType:payload:)`
    /// that reads outer first).
    package static func ether(_ etherType: UInt16, _ payload: [UInt8]) -> [UInt8] {
        ethernet(etherType: etherType, payload: payload)
    }

    /// An IPv4 (or IPv6, by the addresses) packet of `protocol` around `payload`.
    package static func ip(_ source: IPAddress, _ destination: IPAddress, protocol: UInt8, _ payload: [UInt8]) -> [UInt8] {
        source.isIPv6
            ? ipv6(source: source, destination: destination, nextHeader: `protocol`, payload: payload)
            : ipv4(source: source, destination: destination, protocol: `protocol`, payload: payload)
    }

    /// An inner TCP segment as an IP packet (FrameBuilder.tcp's defaults: sequence 1000).
    package static func tcpPacket(_ source: Endpoint, _ destination: Endpoint, flags: TCPFlags, ipIdentification: UInt16 = 1) -> [UInt8] {
        let segment = tcpSegment(source: source, destination: destination, flags: flags)
        return source.ip.isIPv6
            ? ipv6(source: source.ip, destination: destination.ip, payload: segment)
            : ipv4(source: source.ip, destination: destination.ip, payload: segment, identification: ipIdentification)
    }

    /// A UDP header (checksum 0) around `payload`; `length` overrides the length field.
    package static func udp(sourcePort: UInt16 = 49152, destinationPort: UInt16, _ payload: [UInt8], length: UInt16? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.append(sourcePort)
        out.append(destinationPort)
        out.append(length ?? UInt16(truncatingIfNeeded: 8 + payload.count))
        out.append(UInt16(0))
        return out + payload
    }

    /// A VXLAN header (RFC 7348) with the I flag (unless `flags` says otherwise) and `vni`.
    package static func vxlan(vni: UInt32, flags: UInt8 = 0x08, _ frame: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [flags, 0, 0, 0]
        out.append(vni << 8)
        return out + frame
    }

    /// A Geneve header (RFC 8926): `optionWords` 4-byte words of options (zeros unless given).
    package static func geneve(vni: UInt32, protocolType: UInt16 = 0x6558, version: UInt8 = 0,
                               optionWords: UInt8 = 0, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [version << 6 | optionWords & 0x3F, 0]
        out.append(protocolType)
        out.append(vni << 8)
        if optionWords > 0 {
            // One option TLV (class 0x0103, type 1) filling the option words.
            out.append(UInt16(0x0103))
            out += [0x01, optionWords - 1]
            out.appendZeros(Int(optionWords - 1) * 4)
        }
        return out + payload
    }

    /// A GRE header: version 0 with optional checksum, key and sequence (RFC 2784/2890), or any
    /// `version` for a header it does not know.
    package static func gre(protocolType: UInt16, checksum: Bool = false, key: UInt32? = nil, sequence: UInt32? = nil,
                            version: UInt16 = 0, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        let flags: UInt16 = (checksum ? 0x8000 : 0) | (key != nil ? 0x2000 : 0) | (sequence != nil ? 0x1000 : 0) | version & 7
        out.append(flags)
        out.append(protocolType)
        if checksum { out.append(UInt32(0)) }
        if let key { out.append(key) }
        if let sequence { out.append(sequence) }
        return out + payload
    }

    /// PPTP's enhanced GRE (version 1) carrying a PPP frame of `pppProtocol`.
    package static func enhancedGRE(callID: UInt16, pppProtocol: UInt16 = 0x0021, _ packet: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.append(UInt16(0x3001))                               // K, S, version 1
        out.append(UInt16(0x880B))
        out.append(UInt16(truncatingIfNeeded: 4 + packet.count))
        out.append(callID)
        out.append(UInt32(7))                                    // sequence number
        out += [0xFF, 0x03]
        out.append(pppProtocol)
        return out + packet
    }

    /// An ERSPAN type II header (version 1) with `session`, for GRE 0x88BE with a sequence number.
    package static func erspanII(session: UInt16, version: UInt8 = 1, _ frame: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [version << 4, 0]
        out.append(session & 0x3FF)
        out.append(UInt32(0))
        return out + frame
    }

    /// An ERSPAN type III header (version 2): frame type 0 (Ethernet) or 2 (IP), with the 8-byte
    /// platform subheader when `platform`.
    package static func erspanIII(session: UInt16, frameType: UInt16 = 0, platform: Bool = false, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x20, 0]
        out.append(session & 0x3FF)
        out.append(UInt32(0x1234_5678))                          // timestamp
        out.append(UInt16(0))                                    // security group tag
        out.append(frameType << 10 | (platform ? 1 : 0))
        if platform { out.appendZeros(8) }
        return out + payload
    }

    /// An MPLS label stack, outer label first, bottom of stack on the last unless `bottom` is false;
    /// a pseudowire control word after it when `controlWord`.
    package static func mpls(labels: [UInt32], bottom: Bool = true, controlWord: Bool = false, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for (index, label) in labels.enumerated() {
            let last = bottom && index == labels.count - 1
            out.append(label << 12 | (last ? 0x100 : 0) | 64)
        }
        if controlWord { out.append(UInt32(0)) }
        return out + payload
    }

    /// A PPPoE session header (RFC 2516) and PPP protocol field around `packet`; `length` overrides
    /// the header's length (which counts the protocol field).
    package static func pppoe(session: UInt16, pppProtocol: UInt16 = 0x0021, versionType: UInt8 = 0x11,
                              length: UInt16? = nil, _ packet: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [versionType, 0x00]
        out.append(session)
        out.append(length ?? UInt16(truncatingIfNeeded: 2 + packet.count))
        out.append(pppProtocol)
        return out + packet
    }

    /// A GTP-U G-PDU header (TS 29.281) with `teid`; `extensions` adds the optional word and one
    /// extension header of `extensionWords` 4-byte words per element (0 makes a lying one).
    package static func gtpu(teid: UInt32, extensions: [UInt8] = [], version: UInt8 = 1, _ packet: [UInt8]) -> [UInt8] {
        var body: [UInt8] = []
        if !extensions.isEmpty {
            body += [0, 0, 0, 0x85]                              // sequence, N-PDU, next: PDU session container
            for (index, words) in extensions.enumerated() {
                body.append(words)
                body.appendZeros(max(Int(words) * 4 - 2, 0))
                body.append(index + 1 < extensions.count ? 0x85 : 0)
            }
        }
        var out: [UInt8] = [version << 5 | 0x10 | (extensions.isEmpty ? 0 : 0x04), 0xFF]
        out.append(UInt16(truncatingIfNeeded: body.count + packet.count))
        out.append(teid)
        return out + body + packet
    }

    /// A Teredo payload: the IPv6 packet after an optional origin indication.
    package static func teredo(origin: Bool = false, _ packet: [UInt8]) -> [UInt8] {
        (origin ? [0x00, 0x00, 0x0D, 0x0E, 0xC6, 0x12, 0x00, 0x09] : []) + packet
    }
}
