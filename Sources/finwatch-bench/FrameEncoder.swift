import FinwatchCore

/// Writes segments as classic-pcap records of Ethernet frames straight into an output buffer:
/// no array per frame, checksums computed from the field values rather than from the bytes.
///
/// The benchmark builds frames itself instead of through `FinwatchFixtures.FrameBuilder`, whose
/// frames are arrays (one allocation per frame) carrying their whole payload: at 5 million
/// frames of up to 1,448 bytes that is gigabytes of zeros copied and then cut by the snaplen.
/// `finwatch-bench check-frames` compares this encoder's output with FrameBuilder's, so the
/// two cannot drift apart.
struct FrameEncoder {
    /// Bytes of each frame kept in the file, like `tcpdump -s`; headers always fit (≤ 86 bytes).
    let snaplen: Int
    /// The IPv4 identification of the last frame written (one counter for the whole file).
    private(set) var ipIdentification: UInt16 = 0

    static let origMAC: (UInt32, UInt16) = (0x0200_0000, 0x0001)
    static let respMAC: (UInt32, UInt16) = (0x0200_0000, 0x0002)
    /// MSS, NOP NOP SACK-permitted, NOP window scale 7: a Linux SYN's options, less timestamps.
    static let synOptionsIPv4: [UInt8] = [2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]   // MSS 1460
    static let synOptionsIPv6: [UInt8] = [2, 4, 0x05, 0xa0, 1, 1, 4, 2, 1, 3, 3, 7]   // MSS 1440

    init(snaplen: Int) { self.snaplen = snaplen }

    /// The classic pcap file header (microsecond timestamps, little-endian, LINKTYPE_ETHERNET).
    func fileHeader() -> [UInt8] {
        var out: [UInt8] = []
        out.putLE32(0xa1b2_c3d4)
        out.putLE16(2); out.putLE16(4)
        out.putLE32(0); out.putLE32(0)
        out.putLE32(UInt32(snaplen))
        out.putLE32(1)
        return out
    }

    /// Appends one pcap record for `segment` of `flow` to `out`.
    mutating func write(_ segment: Segment, of flow: Flow, into out: inout [UInt8]) {
        let fromOrig = segment.from == .orig
        let source = fromOrig ? flow.orig : flow.resp
        let destination = fromOrig ? flow.resp : flow.orig
        let isSYN = segment.flags.contains(.syn)
        let tcpHeaderLength = isSYN ? 32 : 20
        let tcpLength = tcpHeaderLength + Int(segment.payloadLength)
        let ipHeaderLength = flow.isIPv6 ? 40 : 20
        let wireLength = 14 + ipHeaderLength + tcpLength
        let capturedLength = min(wireLength, snaplen)
        let start = out.count

        out.putLE32(UInt32(segment.time / 1_000_000))
        out.putLE32(UInt32(segment.time % 1_000_000))
        out.putLE32(UInt32(capturedLength))
        out.putLE32(UInt32(wireLength))

        // Ethernet II.
        let (dst, src) = fromOrig ? (FrameEncoder.respMAC, FrameEncoder.origMAC) : (FrameEncoder.origMAC, FrameEncoder.respMAC)
        out.putBE32(dst.0); out.putBE16(dst.1); out.putBE32(src.0); out.putBE16(src.1)
        out.putBE16(flow.isIPv6 ? 0x86dd : 0x0800)

        // The capture point is next to resp: its packets have travelled no hop, orig's several.
        let hopLimit: UInt16 = fromOrig ? 57 : 64
        var pseudo: UInt32 = 6 + UInt32(tcpLength)
        if flow.isIPv6 {
            out.putBE32(0x6000_0000)                             // traffic class and flow label 0
            out.putBE16(UInt16(tcpLength))
            out.putBE16(6 << 8 | hopLimit)                       // next header TCP, hop limit
            out.putBE64(source.high); out.putBE64(source.low)
            out.putBE64(destination.high); out.putBE64(destination.low)
            pseudo &+= wordSum(source.high) &+ wordSum(source.low) &+ wordSum(destination.high) &+ wordSum(destination.low)
        } else {
            ipIdentification &+= 1
            let src32 = UInt32(truncatingIfNeeded: source.low), dst32 = UInt32(truncatingIfNeeded: destination.low)
            let totalLength = UInt16(20 + tcpLength)
            let addressSum = wordSum(UInt64(src32)) &+ wordSum(UInt64(dst32))
            let headerSum = 0x4500 &+ UInt32(totalLength) &+ UInt32(ipIdentification) &+ 0x4000
                &+ UInt32(hopLimit << 8 | 6) &+ addressSum
            out.putBE16(0x4500); out.putBE16(totalLength)
            out.putBE16(ipIdentification); out.putBE16(0x4000)      // don't fragment
            out.putBE16(hopLimit << 8 | 6)
            out.putBE16(finish(headerSum))
            out.putBE32(src32); out.putBE32(dst32)
            pseudo &+= addressSum
        }

        // TCP; the payload is zeros, so it adds nothing to the checksum and the checksum is right
        // for the whole segment even where the snaplen cuts the payload.
        let (sourcePort, destinationPort) = fromOrig ? (flow.origPort, flow.respPort) : (flow.respPort, flow.origPort)
        let offsetAndFlags = UInt16(tcpHeaderLength / 4) << 12 | UInt16(segment.flags.rawValue)
        var tcpSum = pseudo &+ UInt32(sourcePort) &+ UInt32(destinationPort)
            &+ wordSum(UInt64(segment.sequence)) &+ wordSum(UInt64(segment.acknowledgment))
            &+ UInt32(offsetAndFlags) &+ UInt32(segment.window)
        let options = flow.isIPv6 ? FrameEncoder.synOptionsIPv6 : FrameEncoder.synOptionsIPv4
        if isSYN {
            var index = 0
            while index < options.count {
                tcpSum &+= UInt32(options[index]) << 8 | UInt32(options[index + 1])
                index += 2
            }
        }
        out.putBE16(sourcePort); out.putBE16(destinationPort)
        out.putBE32(segment.sequence); out.putBE32(segment.acknowledgment)
        out.putBE16(offsetAndFlags); out.putBE16(segment.window)
        out.putBE16(finish(tcpSum)); out.putBE16(0)
        if isSYN { out.append(contentsOf: options) }

        let written = out.count - start - 16
        if capturedLength > written { out.append(contentsOf: repeatElement(0, count: capturedLength - written)) }
    }

    /// Sum of the 16-bit words of a 64-bit value (fits easily: four words).
    private func wordSum(_ value: UInt64) -> UInt32 {
        UInt32(value >> 48) &+ UInt32(value >> 32 & 0xffff) &+ UInt32(value >> 16 & 0xffff) &+ UInt32(value & 0xffff)
    }

    /// RFC 1071: fold the carries back in, then take the one's complement.
    private func finish(_ sum: UInt32) -> UInt16 {
        var folded = sum
        while folded >> 16 != 0 { folded = (folded & 0xffff) &+ (folded >> 16) }
        return ~UInt16(folded)
    }
}

/// Fixed-width integers appended in network (BE) or pcap-header (LE, this writer's) byte order.
extension Array where Element == UInt8 {
    mutating func putBE16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8)); append(UInt8(truncatingIfNeeded: value))
    }
    mutating func putBE32(_ value: UInt32) {
        putBE16(UInt16(truncatingIfNeeded: value >> 16)); putBE16(UInt16(truncatingIfNeeded: value))
    }
    mutating func putBE64(_ value: UInt64) {
        putBE32(UInt32(truncatingIfNeeded: value >> 32)); putBE32(UInt32(truncatingIfNeeded: value))
    }
    mutating func putLE16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value)); append(UInt8(truncatingIfNeeded: value >> 8))
    }
    mutating func putLE32(_ value: UInt32) {
        putLE16(UInt16(truncatingIfNeeded: value)); putLE16(UInt16(truncatingIfNeeded: value >> 16))
    }
}
