import FinwatchCore

/// Builds captured frames byte by byte for tests and the benchmark generator. Everything is
/// computed, nothing read from disk: IPv4 header checksums and TCP checksums are correct, payload
/// bytes are zeros. `tcp(...)` writes one buffer with one allocation, because the generator calls
/// it millions of times; the smaller builders below compose for the odd frames tests need.
package enum FrameBuilder {
    /// One TCP segment as a captured frame of `linkType` (IPv4 or IPv6 chosen by the addresses).
    package static func tcp(
        linkType: LinkType = .ethernet, source: Endpoint, destination: Endpoint,
        sequence: UInt32 = 1000, acknowledgment: UInt32 = 0, flags: TCPFlags, window: UInt16 = 65535,
        payloadLength: Int = 0, options: [UInt8] = [], ipIdentification: UInt16 = 1, hopLimit: UInt8 = 64,
        vlanTags: [UInt16] = [], interfaceIndex: UInt32 = 1
    ) -> [UInt8] {
        precondition(source.ip.isIPv6 == destination.ip.isIPv6, "FrameBuilder.tcp: mixed address families")
        precondition(payloadLength >= 0, "FrameBuilder.tcp: negative payload length")
        let isIPv6 = source.ip.isIPv6
        let tcpHeaderLength = 20 + (options.count + 3) / 4 * 4
        let ipHeaderLength = isIPv6 ? 40 : 20
        var out: [UInt8] = []
        out.reserveCapacity(linkHeaderLength(linkType, vlanTagCount: vlanTags.count)
            + ipHeaderLength + tcpHeaderLength + payloadLength)
        appendLinkHeader(linkType, ipVersion: isIPv6 ? 6 : 4, vlanTags: vlanTags, vlanTPIDs: nil,
                         interfaceIndex: interfaceIndex, nullAddressFamily: nil, into: &out)
        let segmentLength = tcpHeaderLength + payloadLength
        if isIPv6 {
            appendIPv6Header(source: source.ip, destination: destination.ip, nextHeader: 6,
                             payloadLength: UInt16(truncatingIfNeeded: segmentLength), hopLimit: hopLimit, into: &out)
        } else {
            appendIPv4Header(source: source.ip, destination: destination.ip, protocol: 6, options: [],
                             ihl: nil, totalLength: UInt16(truncatingIfNeeded: 20 + segmentLength),
                             identification: ipIdentification, ttl: hopLimit, fragmentOffset: 0,
                             moreFragments: false, dontFragment: true, into: &out)
        }
        let tcpStart = out.count
        appendTCPHeader(sourcePort: source.port, destinationPort: destination.port, sequence: sequence,
                        acknowledgment: acknowledgment, flags: flags, window: window, options: options,
                        dataOffsetWords: nil, into: &out)
        out.appendZeros(payloadLength)
        patchTCPChecksum(&out, tcpStart: tcpStart, source: source.ip, destination: destination.ip)
        if linkType == .nflog {
            let length = UInt16(truncatingIfNeeded: out.count - 4)
            out[4] = UInt8(length & 0xFF)
            out[5] = UInt8(length >> 8)
        }
        return out
    }

    // MARK: - Pieces for tests: TCP header, IPv4, IPv6, link layers

    /// A bare TCP header (no IP): options padded with zeros (end of options) to whole words;
    /// `dataOffsetWords` overrides the data offset field to make a lying header. Checksum zero.
    package static func tcpHeader(
        sourcePort: UInt16 = 40000, destinationPort: UInt16 = 80, sequence: UInt32 = 1000,
        acknowledgment: UInt32 = 0, flags: TCPFlags, window: UInt16 = 65535, options: [UInt8] = [],
        dataOffsetWords: UInt8? = nil, payloadLength: Int = 0
    ) -> [UInt8] {
        var out: [UInt8] = []
        appendTCPHeader(sourcePort: sourcePort, destinationPort: destinationPort, sequence: sequence,
                        acknowledgment: acknowledgment, flags: flags, window: window, options: options,
                        dataOffsetWords: dataOffsetWords, into: &out)
        out.appendZeros(payloadLength)
        return out
    }

    /// An IPv4 packet around `payload`. `options` are padded to whole words; `ihl` and
    /// `totalLength` override the computed fields (0 total length is what TSO captures show).
    /// `fragmentOffset` is in 8-byte units, as on the wire.
    package static func ipv4(
        source: IPAddress, destination: IPAddress, protocol: UInt8 = 6, payload: [UInt8],
        identification: UInt16 = 1, ttl: UInt8 = 64, options: [UInt8] = [],
        fragmentOffset: UInt16 = 0, moreFragments: Bool = false, dontFragment: Bool = false,
        ihl: UInt8? = nil, totalLength: UInt16? = nil
    ) -> [UInt8] {
        let headerLength = 20 + (options.count + 3) / 4 * 4
        var out: [UInt8] = []
        out.reserveCapacity(headerLength + payload.count)
        appendIPv4Header(source: source, destination: destination, protocol: `protocol`, options: options,
                         ihl: ihl, totalLength: totalLength ?? UInt16(truncatingIfNeeded: headerLength + payload.count),
                         identification: identification, ttl: ttl, fragmentOffset: fragmentOffset,
                         moreFragments: moreFragments, dontFragment: dontFragment, into: &out)
        out.append(contentsOf: payload)
        return out
    }

    /// One IPv6 extension header, for building chains with `ipv6(...)`.
    package enum IPv6Extension: Sendable {
        /// Hop-by-hop options (0); `options` padded with PadN to a multiple of 8 bytes.
        case hopByHop(options: [UInt8] = [])
        /// Hop-by-hop options carrying the RFC 2675 jumbo payload option (BIG TCP).
        case jumboPayload(UInt32)
        /// Routing header (43), type 0 with `addresses` 16-byte addresses after the fixed part.
        case routing(addresses: Int = 1)
        /// Destination options (60), padded like hop-by-hop.
        case destinationOptions(options: [UInt8] = [])
        /// Fragment header (44); `offset` in 8-byte units.
        case fragment(offset: UInt16, moreFragments: Bool, identification: UInt32 = 0x1234_5678)
        /// Authentication header (51) with an `icvLength`-byte ICV (multiple of 4).
        case authentication(icvLength: Int = 12)
        /// Mobility header (135) of `length` bytes (multiple of 8, at least 8).
        case mobility(length: Int = 8)
        /// Any header in the generic "next header, length in 8-byte units − 1" layout.
        case generic(type: UInt8, body: [UInt8])

        /// The Next Header value that announces this header.
        package var type: UInt8 {
            switch self {
            case .hopByHop, .jumboPayload: 0
            case .routing: 43
            case .destinationOptions: 60
            case .fragment: 44
            case .authentication: 51
            case .mobility: 135
            case .generic(let type, _): type
            }
        }

        /// The encoded header, announcing `next` as the header after it.
        package func bytes(next: UInt8) -> [UInt8] {
            var out: [UInt8] = [next]
            func options(_ body: [UInt8]) {
                // 2 fixed bytes + options, padded with PadN (type 1) to a multiple of 8.
                var padded = body
                let pad = (8 - (2 + padded.count) % 8) % 8
                if pad == 1 { padded.append(0) } else if pad > 1 { padded += [1, UInt8(pad - 2)] + Array(repeating: 0, count: pad - 2) }
                out.append(UInt8((2 + padded.count) / 8 - 1))
                out += padded
            }
            switch self {
            case .hopByHop(let body), .destinationOptions(let body):
                options(body)
            case .jumboPayload(let length):
                // RFC 2675: option type 0xC2, length 4, the 32-bit jumbo payload length.
                options([0xC2, 4, UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)])
            case .routing(let addresses):
                out += [UInt8(2 * addresses), 0, UInt8(addresses), 0, 0, 0, 0]
                out.appendZeros(16 * addresses)
            case .fragment(let offset, let more, let identification):
                out.append(0)
                out.append(offset << 3 | (more ? 1 : 0))
                out.append(identification)
            case .authentication(let icvLength):
                // RFC 4302: payload length in 4-byte units minus 2; SPI and sequence number, then ICV.
                out += [UInt8((12 + icvLength) / 4 - 2), 0, 0]
                out.append(UInt32(0x100))
                out.append(UInt32(1))
                out.appendZeros(icvLength)
            case .mobility(let length):
                out.append(UInt8(length / 8 - 1))
                out.appendZeros(length - 2)
            case .generic(_, let body):
                out.append(UInt8(truncatingIfNeeded: (2 + body.count) / 8 - 1))
                out += body
            }
            return out
        }
    }

    /// An IPv6 packet: `extensions` in order, then `payload` announced as `nextHeader`.
    /// `payloadLength` overrides the computed field (0 with a jumbo option is BIG TCP).
    package static func ipv6(
        source: IPAddress, destination: IPAddress, extensions: [IPv6Extension] = [],
        nextHeader: UInt8 = 6, payload: [UInt8], hopLimit: UInt8 = 64, payloadLength: UInt16? = nil
    ) -> [UInt8] {
        var chain: [UInt8] = []
        for (index, header) in extensions.enumerated() {
            let next = index + 1 < extensions.count ? extensions[index + 1].type : nextHeader
            chain += header.bytes(next: next)
        }
        var out: [UInt8] = []
        out.reserveCapacity(40 + chain.count + payload.count)
        appendIPv6Header(source: source, destination: destination, nextHeader: extensions.first?.type ?? nextHeader,
                         payloadLength: payloadLength ?? UInt16(truncatingIfNeeded: chain.count + payload.count),
                         hopLimit: hopLimit, into: &out)
        out += chain
        out += payload
        return out
    }

    /// A TCP segment (header + zero payload) with a correct checksum for the given addresses.
    package static func tcpSegment(
        source: Endpoint, destination: Endpoint, sequence: UInt32 = 1000, acknowledgment: UInt32 = 0,
        flags: TCPFlags, window: UInt16 = 65535, options: [UInt8] = [], payloadLength: Int = 0
    ) -> [UInt8] {
        var out = tcpHeader(sourcePort: source.port, destinationPort: destination.port, sequence: sequence,
                            acknowledgment: acknowledgment, flags: flags, window: window, options: options,
                            payloadLength: payloadLength)
        patchTCPChecksum(&out, tcpStart: 0, source: source.ip, destination: destination.ip)
        return out
    }

    /// Wraps an IP packet (version from its first nibble) in `linkType`'s header. Ethernet takes
    /// 802.1Q/802.1ad tags, outermost first: with more than one, the outer TPIDs are 0x88a8 and the
    /// innermost 0x8100 unless `vlanTPIDs` says otherwise. `nullAddressFamily` overrides the NULL
    /// and LOOP family value (default: AF_INET 2, AF_INET6 30 as Darwin writes; LOOP 24).
    package static func link(
        _ linkType: LinkType, packet: [UInt8], vlanTags: [UInt16] = [], vlanTPIDs: [UInt16]? = nil,
        interfaceIndex: UInt32 = 1, nullAddressFamily: UInt32? = nil
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(linkHeaderLength(linkType, vlanTagCount: vlanTags.count) + packet.count)
        let version = packet.first.map { $0 >> 4 } ?? 4
        appendLinkHeader(linkType, ipVersion: version, vlanTags: vlanTags, vlanTPIDs: vlanTPIDs,
                         interfaceIndex: interfaceIndex, nullAddressFamily: nullAddressFamily, into: &out)
        if linkType == .nflog {
            let length = UInt16(truncatingIfNeeded: 4 + packet.count)
            out[4] = UInt8(length & 0xFF)
            out[5] = UInt8(length >> 8)
        }
        out += packet
        return out
    }

    /// An Ethernet II frame with any EtherType (ARP 0x0806, an unknown type, ...).
    package static func ethernet(etherType: UInt16, payload: [UInt8]) -> [UInt8] {
        var out = ethernetAddresses
        out.append(etherType)
        out += payload
        return out
    }

    /// An IEEE 802.3 frame with an 802.2 LLC/SNAP header (AA AA 03, OUI 00-00-00) carrying an IP
    /// packet, as old equipment sends (RFC 1042).
    package static func snap(packet: [UInt8], etherType: UInt16? = nil) -> [UInt8] {
        var out = ethernetAddresses
        out.append(UInt16(truncatingIfNeeded: 8 + packet.count))      // 802.3 length, ≤ 1500
        out += [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00]
        let version = packet.first.map { $0 >> 4 } ?? 4
        out.append(etherType ?? (version == 6 ? 0x86DD : 0x0800))
        out += packet
        return out
    }

    // MARK: - Writers

    package static let ethernetAddresses: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]

    static func linkHeaderLength(_ linkType: LinkType, vlanTagCount: Int) -> Int {
        switch linkType {
        case .ethernet: 14 + 4 * vlanTagCount
        case .linuxSLL: 16
        case .linuxSLL2: 20
        case .null, .loop: 4
        case .raw, .ipv4, .ipv6: 0
        case .ppp, .pppSerial: 4
        case .fddi: 13 + 8
        case .atmRFC1483: 8
        case .nflog: 4 + 4
        }
    }

    static func appendLinkHeader(
        _ linkType: LinkType, ipVersion: UInt8, vlanTags: [UInt16], vlanTPIDs: [UInt16]?,
        interfaceIndex: UInt32, nullAddressFamily: UInt32?, into out: inout [UInt8]
    ) {
        let etherType: UInt16 = ipVersion == 6 ? 0x86DD : 0x0800
        switch linkType {
        case .ethernet:
            out += ethernetAddresses
            for (index, tag) in vlanTags.enumerated() {
                let tpid = vlanTPIDs.map { index < $0.count ? $0[index] : 0x8100 }
                    ?? (index + 1 < vlanTags.count ? 0x88A8 : 0x8100)
                out.append(tpid)
                out.append(tag)
            }
            out.append(etherType)
        case .linuxSLL:
            // packet type 0 (to us), ARPHRD_ETHER, 6-byte address padded to 8, protocol.
            out += [0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 0x01, 0, 0]
            out.append(etherType)
        case .linuxSLL2:
            // protocol, reserved, interface index, ARPHRD_ETHER, packet type, address length, address.
            out.append(etherType)
            out += [0, 0]
            out.append(interfaceIndex)
            out += [0, 1, 0, 6, 0x02, 0, 0, 0, 0, 0x01, 0, 0]
        case .null:
            // Host byte order of the writer: these fixtures write a little-endian host's.
            out.append(nullAddressFamily ?? (ipVersion == 6 ? 30 : 2), bigEndian: false)
        case .loop:
            out.append(nullAddressFamily ?? (ipVersion == 6 ? 24 : 2))
        case .raw, .ipv4, .ipv6:
            break
        case .ppp, .pppSerial:
            // HDLC address and control, then the PPP protocol (RFC 1661).
            out += [0xFF, 0x03]
            out.append(UInt16(ipVersion == 6 ? 0x0057 : 0x0021))
        case .fddi:
            // Frame control (LLC, asynchronous), destination and source, then LLC/SNAP.
            out.append(0x50)
            out += ethernetAddresses
            out += [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00]
            out.append(etherType)
        case .atmRFC1483:
            out += [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00]
            out.append(etherType)
        case .nflog:
            // Family, version 0, resource id, then the payload attribute (type 9) whose length
            // (little-endian, as Linux writes it) covers the packet the caller appends.
            out += [ipVersion == 6 ? 10 : 2, 0, 0, 0]
            out += [0, 0, 9, 0]                                   // length patched by `link`
        }
    }

    static func appendIPv4Header(
        source: IPAddress, destination: IPAddress, protocol: UInt8, options: [UInt8], ihl: UInt8?,
        totalLength: UInt16, identification: UInt16, ttl: UInt8, fragmentOffset: UInt16,
        moreFragments: Bool, dontFragment: Bool, into out: inout [UInt8]
    ) {
        let start = out.count
        let words = ihl ?? UInt8(5 + (options.count + 3) / 4)
        out.append(0x40 | words & 0x0f)
        out.append(0)                                             // DSCP/ECN
        out.append(totalLength)
        out.append(identification)
        out.append((dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0) | fragmentOffset & 0x1fff)
        out.append(ttl)
        out.append(`protocol`)
        out.append(UInt16(0))                                     // checksum, patched below
        out.append(source)
        out.append(destination)
        out += options
        out.appendZeros((4 - options.count % 4) % 4)
        out.patch(finishChecksum(out.onesComplementSum(start..<out.count)), at: start + 10)
    }

    static func appendIPv6Header(
        source: IPAddress, destination: IPAddress, nextHeader: UInt8, payloadLength: UInt16,
        hopLimit: UInt8, into out: inout [UInt8]
    ) {
        out.append(UInt32(0x6000_0000))                           // version 6, class 0, flow 0
        out.append(payloadLength)
        out.append(nextHeader)
        out.append(hopLimit)
        out.append(source)
        out.append(destination)
    }

    static func appendTCPHeader(
        sourcePort: UInt16, destinationPort: UInt16, sequence: UInt32, acknowledgment: UInt32,
        flags: TCPFlags, window: UInt16, options: [UInt8], dataOffsetWords: UInt8?, into out: inout [UInt8]
    ) {
        out.append(sourcePort)
        out.append(destinationPort)
        out.append(sequence)
        out.append(acknowledgment)
        out.append((dataOffsetWords ?? UInt8(5 + (options.count + 3) / 4)) << 4)
        out.append(flags.rawValue)
        out.append(window)
        out.append(UInt16(0))                                     // checksum
        out.append(UInt16(0))                                     // urgent pointer
        out += options
        out.appendZeros((4 - options.count % 4) % 4)
    }

    /// Fills the TCP checksum (RFC 9293 §3.1, with the IPv4 or RFC 8200 §8.1 pseudo-header).
    static func patchTCPChecksum(_ out: inout [UInt8], tcpStart: Int, source: IPAddress, destination: IPAddress) {
        let length = UInt32(out.count - tcpStart)
        var pseudo: UInt32 = 6 &+ (length >> 16) &+ (length & 0xffff)
        func add(_ address: IPAddress) {
            if address.isIPv6 {
                for shift in stride(from: 48, through: 0, by: -16) {
                    pseudo &+= UInt32(truncatingIfNeeded: address.high >> UInt64(shift)) & 0xffff
                    pseudo &+= UInt32(truncatingIfNeeded: address.low >> UInt64(shift)) & 0xffff
                }
            } else {
                pseudo &+= UInt32(truncatingIfNeeded: address.low >> 16) & 0xffff
                pseudo &+= UInt32(truncatingIfNeeded: address.low) & 0xffff
            }
        }
        add(source)
        add(destination)
        out.patch(finishChecksum(out.onesComplementSum(tcpStart..<out.count, initial: pseudo)), at: tcpStart + 16)
    }
}
