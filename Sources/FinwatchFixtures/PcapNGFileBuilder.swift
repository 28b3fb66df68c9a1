import FinwatchCore

/// Writes a pcapng file (IETF draft-ietf-opsawg-pcapng) into memory: one Section Header Block,
/// an Interface Description Block per interface (link type, snaplen, if_tsresol 9 for
/// nanoseconds) and an Enhanced Packet Block per frame. Same streaming shape as `PcapFileBuilder`.
package struct PcapNGFileBuilder {
    /// One capture interface: what its IDB says.
    package struct Interface: Sendable {
        package var linkType: LinkType
        package var snaplen: UInt32
        package var nanosecond: Bool

        package init(linkType: LinkType, snaplen: UInt32 = 65535, nanosecond: Bool = false) {
            self.linkType = linkType
            self.snaplen = snaplen
            self.nanosecond = nanosecond
        }
    }

    package let bigEndian: Bool
    package private(set) var interfaces: [Interface] = []
    private var buffer: [UInt8] = []

    /// A section with the given interfaces (ids 0, 1, ... in order).
    package init(interfaces: [Interface], bigEndian: Bool = false) {
        self.bigEndian = bigEndian
        buffer.reserveCapacity(1 << 16)
        // SHB: type, total length 28, byte-order magic, version 1.0, section length unknown (-1).
        buffer.append(UInt32(0x0A0D_0D0A), bigEndian: bigEndian)
        buffer.append(UInt32(28), bigEndian: bigEndian)
        buffer.append(UInt32(0x1A2B_3C4D), bigEndian: bigEndian)
        buffer.append(UInt16(1), bigEndian: bigEndian)
        buffer.append(UInt16(0), bigEndian: bigEndian)
        buffer.append(UInt64.max, bigEndian: bigEndian)
        buffer.append(UInt32(28), bigEndian: bigEndian)
        for interface in interfaces { addInterface(interface) }
    }

    /// A section with one interface (id 0).
    package init(linkType: LinkType, nanosecond: Bool = false, bigEndian: Bool = false, snaplen: UInt32 = 65535) {
        self.init(interfaces: [Interface(linkType: linkType, snaplen: snaplen, nanosecond: nanosecond)], bigEndian: bigEndian)
    }

    /// Appends an IDB (allowed anywhere in the section) and returns the new interface's id.
    @discardableResult
    package mutating func addInterface(_ interface: Interface) -> Int {
        let length: UInt32 = interface.nanosecond ? 32 : 20
        buffer.append(UInt32(1), bigEndian: bigEndian)
        buffer.append(length, bigEndian: bigEndian)
        buffer.append(UInt16(truncatingIfNeeded: interface.linkType.rawValue), bigEndian: bigEndian)
        buffer.append(UInt16(0), bigEndian: bigEndian)
        buffer.append(interface.snaplen, bigEndian: bigEndian)
        if interface.nanosecond {
            buffer.append(UInt16(9), bigEndian: bigEndian)           // if_tsresol
            buffer.append(UInt16(1), bigEndian: bigEndian)
            buffer += [9, 0, 0, 0]                                    // 10^-9, padded to 4
            buffer.append(UInt32(0), bigEndian: bigEndian)            // opt_endofopt
        }
        buffer.append(length, bigEndian: bigEndian)
        interfaces.append(interface)
        return interfaces.count - 1
    }

    /// Appends one EPB on `interface`. Lengths default as in `PcapFileBuilder.append`.
    package mutating func append(_ frame: [UInt8], interface: Int = 0, at time: Timestamp,
                                 originalLength: Int? = nil, capturedLength: Int? = nil) {
        precondition(interfaces.indices.contains(interface), "PcapNGFileBuilder: no interface \(interface)")
        let description = interfaces[interface]
        let captured = capturedLength ?? min(frame.count, Int(description.snaplen))
        let written = min(max(0, captured), frame.count)
        let padded = (written + 3) / 4 * 4
        let blockLength = UInt32(32 + padded)
        let units = description.nanosecond ? time.nanoseconds : floorDivide(time.nanoseconds, 1000)
        let stamp = UInt64(bitPattern: units)
        buffer.append(UInt32(6), bigEndian: bigEndian)
        buffer.append(blockLength, bigEndian: bigEndian)
        buffer.append(UInt32(interface), bigEndian: bigEndian)
        buffer.append(UInt32(truncatingIfNeeded: stamp >> 32), bigEndian: bigEndian)
        buffer.append(UInt32(truncatingIfNeeded: stamp), bigEndian: bigEndian)
        buffer.append(UInt32(truncatingIfNeeded: captured), bigEndian: bigEndian)
        buffer.append(UInt32(truncatingIfNeeded: originalLength ?? frame.count), bigEndian: bigEndian)
        buffer.append(contentsOf: frame.prefix(written))
        buffer.appendZeros(padded - written)
        buffer.append(blockLength, bigEndian: bigEndian)
    }

    /// Everything accumulated so far (SHB and IDBs the first time), then cleared.
    package mutating func takeBytes() -> [UInt8] {
        var taken: [UInt8] = []
        taken.reserveCapacity(buffer.capacity)
        swap(&taken, &buffer)
        return taken
    }

    private func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }
}
