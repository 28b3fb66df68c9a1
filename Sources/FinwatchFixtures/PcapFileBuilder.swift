import FinwatchCore

/// Writes a classic pcap file (tcpdump.org/manpages/pcap-savefile.5.html) into memory, in either
/// byte order and with micro- or nanosecond timestamps. A generator streams a large file by
/// calling `takeBytes()` every few thousand frames; the buffer keeps its capacity between chunks.
package struct PcapFileBuilder {
    package let linkType: LinkType
    package let nanosecond: Bool
    package let bigEndian: Bool
    package let snaplen: UInt32
    private var buffer: [UInt8] = []

    package init(linkType: LinkType, nanosecond: Bool = false, bigEndian: Bool = false, snaplen: UInt32 = 65535) {
        self.linkType = linkType
        self.nanosecond = nanosecond
        self.bigEndian = bigEndian
        self.snaplen = snaplen
        buffer.reserveCapacity(1 << 16)
        buffer.append(UInt32(nanosecond ? 0xA1B2_3C4D : 0xA1B2_C3D4), bigEndian: bigEndian)   // magic
        buffer.append(UInt16(2), bigEndian: bigEndian)                                   // version 2.4
        buffer.append(UInt16(4), bigEndian: bigEndian)
        buffer.append(UInt32(0), bigEndian: bigEndian)                                   // thiszone
        buffer.append(UInt32(0), bigEndian: bigEndian)                                   // sigfigs
        buffer.append(snaplen, bigEndian: bigEndian)
        buffer.append(UInt32(bitPattern: linkType.rawValue), bigEndian: bigEndian)
    }

    /// Appends one record. `capturedLength` defaults to the frame cut at the snaplen and
    /// `originalLength` to the whole frame; a `capturedLength` beyond the frame writes a record
    /// header that claims more bytes than follow (a corrupt file, for error tests).
    package mutating func append(_ frame: [UInt8], at time: Timestamp, originalLength: Int? = nil, capturedLength: Int? = nil) {
        let captured = capturedLength ?? min(frame.count, Int(snaplen))
        let (seconds, fraction) = Self.split(time, nanosecond: nanosecond)
        buffer.append(seconds, bigEndian: bigEndian)
        buffer.append(fraction, bigEndian: bigEndian)
        buffer.append(UInt32(truncatingIfNeeded: captured), bigEndian: bigEndian)
        buffer.append(UInt32(truncatingIfNeeded: originalLength ?? frame.count), bigEndian: bigEndian)
        buffer.append(contentsOf: frame.prefix(max(0, captured)))
    }

    /// Everything accumulated so far (the file header the first time), then cleared.
    package mutating func takeBytes() -> [UInt8] {
        var taken: [UInt8] = []
        taken.reserveCapacity(buffer.capacity)
        swap(&taken, &buffer)
        return taken
    }

    /// Seconds and the sub-second part in the file's unit; times before 1970 floor toward the past.
    static func split(_ time: Timestamp, nanosecond: Bool) -> (UInt32, UInt32) {
        let ns = time.nanoseconds
        var seconds = ns / 1_000_000_000
        var rest = ns % 1_000_000_000
        if rest < 0 { seconds -= 1; rest += 1_000_000_000 }
        return (UInt32(truncatingIfNeeded: seconds), UInt32(nanosecond ? rest : rest / 1000))
    }
}
