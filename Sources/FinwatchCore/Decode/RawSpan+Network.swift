/// Big-endian field reads for the decoders. Callers check the header's whole length once, then
/// read fields; an offset out of range still traps inside the span (that would be our bug).
extension RawSpan {
    /// The byte at `offset`.
    @inline(__always)
    func uint8(at offset: Int) -> UInt8 {
        // unsafe only means "raw bits read as an integer"; RawSpan bounds-checks the load itself.
        unsafe unsafeLoadUnaligned(fromByteOffset: offset, as: UInt8.self)
    }

    /// Big-endian UInt16 at `offset`.
    @inline(__always)
    func uint16(at offset: Int) -> UInt16 {
        // unsafe only means "raw bits read as an integer"; RawSpan bounds-checks the load itself.
        UInt16(bigEndian: unsafe unsafeLoadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Big-endian UInt32 at `offset`.
    @inline(__always)
    func uint32(at offset: Int) -> UInt32 {
        // unsafe only means "raw bits read as an integer"; RawSpan bounds-checks the load itself.
        UInt32(bigEndian: unsafe unsafeLoadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Big-endian UInt64 at `offset` (half of an IPv6 address).
    @inline(__always)
    func uint64(at offset: Int) -> UInt64 {
        // unsafe only means "raw bits read as an integer"; RawSpan bounds-checks the load itself.
        UInt64(bigEndian: unsafe unsafeLoadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
