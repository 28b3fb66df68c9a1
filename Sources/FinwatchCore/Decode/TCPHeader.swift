/// The fields of a TCP header (RFC 9293 §3.1) that the tracker uses.
struct TCPHeader {
    var sourcePort: UInt16
    var destinationPort: UInt16
    var sequence: SequenceNumber
    var acknowledgment: SequenceNumber
    var flags: TCPFlags
    var window: UInt16
    /// Data offset × 4: 20 to 60 bytes.
    var headerLength: Int
    /// The window scale option's shift count (RFC 7323 §2), read on SYN segments only.
    var windowScale: UInt8?
    /// The snaplen cut the options: the fixed 20 bytes are whole, options only partly read.
    var isOptionsCut: Bool

    /// Decodes the header at the front of `bytes`; `bytes` may end anywhere. Only the fixed
    /// 20 bytes must be captured: a snaplen of 68 or 96 (old tcpdump defaults) often cuts IPv6
    /// segments' options, and the tracker needs none of them but the SYN's window scale.
    @inline(__always)
    init(decoding bytes: RawSpan) throws(DecodeError) {
        guard bytes.byteCount >= 20 else { throw .truncated(layer: .tcp, needed: 20, available: bytes.byteCount) }
        let words = bytes.uint8(at: 12) >> 4                 // data offset, in 32-bit words
        guard words >= 5 else { throw .badDataOffset(words) }
        headerLength = Int(words) * 4
        isOptionsCut = bytes.byteCount < headerLength
        sourcePort = bytes.uint16(at: 0)
        destinationPort = bytes.uint16(at: 2)
        sequence = SequenceNumber(bytes.uint32(at: 4))
        acknowledgment = SequenceNumber(bytes.uint32(at: 8))
        flags = TCPFlags(rawValue: bytes.uint8(at: 13))
        window = bytes.uint16(at: 14)
        windowScale = nil
        if flags.contains(.syn) && headerLength > 20 {
            windowScale = Self.windowScale(in: bytes, end: min(headerLength, bytes.byteCount))
        }
    }

    /// Walks the options for kind 3. A malformed length (below 2, or past the header) ends the
    /// walk without failing the segment: its fixed fields are still good.
    private static func windowScale(in bytes: RawSpan, end: Int) -> UInt8? {
        var offset = 20
        while offset < end {                                  // each step advances ≥ 1: at most 40
            let kind = bytes.uint8(at: offset)
            if kind == 0 { return nil }                       // end of option list
            if kind == 1 { offset += 1; continue }            // no-operation
            guard offset + 1 < end else { return nil }
            let length = Int(bytes.uint8(at: offset + 1))
            guard length >= 2, offset + length <= end else { return nil }
            if kind == 3 && length == 3 {
                return min(bytes.uint8(at: offset + 2), 14)   // RFC 7323 §2.3: above 14 means 14
            }
            offset += length
        }
        return nil
    }
}
