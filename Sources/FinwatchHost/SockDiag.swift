import FinwatchCore

/// The kernel's socket table through netlink (NETLINK_SOCK_DIAG, what `ss` uses), as bytes: the
/// request finwatch sends and the dump it reads back. Pure: the executable does the socket I/O.
///
/// Why not only `/proc/net/tcp`: the kernel formats that file as text, a page at a time,
/// walking its hash tables again for each page — about 5 µs a row on this machine (15,000 sockets:
/// 73 ms), and it grows faster than the table. A dump filtered by state in the kernel costs a
/// fraction of that, and TIME_WAIT and LISTEN rows (most of a busy host) are never made.
///
/// Layouts (include/uapi/linux/netlink.h, inet_diag.h): headers in host byte order, ports and
/// addresses in network byte order.
package enum SockDiag {
    /// nlmsghdr: length, type, flags, sequence, port id.
    static let headerLength = 16
    /// inet_diag_req_v2: family, protocol, extensions, pad, states, inet_diag_sockid (48).
    static let requestLength = 56
    /// inet_diag_msg: family, state, timer, retrans, inet_diag_sockid (48), expires, rqueue,
    /// wqueue, uid, inode.
    static let messageLength = 72

    static let sockDiagByFamily: UInt16 = 20
    static let done: UInt16 = 3
    static let error: UInt16 = 2
    /// NLM_F_REQUEST | NLM_F_DUMP.
    static let dumpRequest: UInt16 = 0x301
    static let protocolTCP: UInt8 = 6

    /// The address families of a dump.
    package enum Family: UInt8, Sendable, CaseIterable {
        case inet = 2
        case inet6 = 10
    }

    /// The request for every TCP socket of `family` in one of `states`.
    package static func request(family: Family, states: Set<ProcNet.KernelState>, sequence: UInt32) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: headerLength + requestLength)
        store(UInt32(bytes.count), at: 0, in: &bytes)
        store(sockDiagByFamily, at: 4, in: &bytes)
        store(dumpRequest, at: 6, in: &bytes)
        store(sequence, at: 8, in: &bytes)
        bytes[headerLength] = family.rawValue
        bytes[headerLength + 1] = protocolTCP
        let mask = states.reduce(UInt32(0)) { $0 | 1 << UInt32($1.rawValue) }
        store(mask, at: headerLength + 4, in: &bytes)
        return bytes
    }

    /// What one datagram of the dump holds.
    package struct Chunk: Equatable, Sendable {
        package var sockets: [ProcNet.Socket] = []
        /// NLMSG_DONE was met: the dump is complete.
        package var isDone = false
        /// NLMSG_ERROR's errno (positive), if the kernel refused the request.
        package var errorNumber: Int32?
        /// A message that did not parse: its length ran past the datagram, or was too short.
        package var isMalformed = false
    }

    /// The messages of one datagram of the dump; messages of other sequences are skipped.
    package static func parse(_ datagram: some Collection<UInt8>, sequence: UInt32) -> Chunk {
        let bytes = Array(datagram)
        var chunk = Chunk()
        var offset = 0
        while offset + headerLength <= bytes.count {
            let length = Int(load(UInt32.self, at: offset, in: bytes))
            guard length >= headerLength, offset + length <= bytes.count else {
                chunk.isMalformed = true
                return chunk
            }
            let type = load(UInt16.self, at: offset + 4, in: bytes)
            let messageSequence = load(UInt32.self, at: offset + 8, in: bytes)
            let body = offset + headerLength
            if messageSequence == sequence {
                switch type {
                case done:
                    chunk.isDone = true
                    return chunk
                case error:
                    // nlmsgerr: a negative errno (0 is an acknowledgement, not an error).
                    if length >= headerLength + 4 {
                        let code = Int32(bitPattern: load(UInt32.self, at: body, in: bytes))
                        if code != 0 { chunk.errorNumber = -code; return chunk }
                    } else {
                        chunk.isMalformed = true
                        return chunk
                    }
                case sockDiagByFamily:
                    guard length >= headerLength + messageLength else {
                        chunk.isMalformed = true
                        return chunk
                    }
                    if let socket = socket(at: body, in: bytes) { chunk.sockets.append(socket) }
                default:
                    break
                }
            }
            offset += (length + 3) & ~3   // NLMSG_ALIGN
        }
        return chunk
    }

    /// One inet_diag_msg; nil for a family or state this code does not know.
    static func socket(at offset: Int, in bytes: [UInt8]) -> ProcNet.Socket? {
        guard let family = Family(rawValue: bytes[offset]),
              let state = ProcNet.KernelState(rawValue: bytes[offset + 1]) else { return nil }
        let id = offset + 4
        let sourcePort = UInt16(bytes[id]) << 8 | UInt16(bytes[id + 1])
        let destinationPort = UInt16(bytes[id + 2]) << 8 | UInt16(bytes[id + 3])
        let local = Endpoint(ip: address(at: id + 4, family: family, in: bytes), port: sourcePort)
        let remote = Endpoint(ip: address(at: id + 20, family: family, in: bytes), port: destinationPort)
        let uid = load(UInt32.self, at: offset + 64, in: bytes)
        let inode = load(UInt32.self, at: offset + 68, in: bytes)
        return ProcNet.Socket(local: local, remote: remote, state: state, uid: uid, inode: UInt64(inode))
    }

    /// 4 or 16 bytes in network order; an IPv4-mapped IPv6 address (a dual-stack socket's IPv4
    /// peer) as IPv4, the form the capture sees on the wire.
    static func address(at offset: Int, family: Family, in bytes: [UInt8]) -> IPAddress {
        func word(_ index: Int) -> UInt32 {
            let start = offset + 4 * index
            return UInt32(bytes[start]) << 24 | UInt32(bytes[start + 1]) << 16 | UInt32(bytes[start + 2]) << 8 | UInt32(bytes[start + 3])
        }
        if family == .inet { return IPAddress(ipv4: word(0)) }
        if word(0) == 0 && word(1) == 0 && word(2) == 0x0000_FFFF { return IPAddress(ipv4: word(3)) }
        return IPAddress(ipv6High: UInt64(word(0)) << 32 | UInt64(word(1)), low: UInt64(word(2)) << 32 | UInt64(word(3)))
    }

    // MARK: - Host-order integers

    static func load<T: FixedWidthInteger>(_: T.Type, at offset: Int, in bytes: [UInt8]) -> T {
        var value = T.zero
        for index in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + index]) << (8 * index) }
        return ProcNet.hostIsLittleEndian ? value : value.byteSwapped
    }

    static func store<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
        let ordered = ProcNet.hostIsLittleEndian ? value : value.byteSwapped
        for index in 0..<MemoryLayout<T>.size { bytes[offset + index] = UInt8(truncatingIfNeeded: ordered >> (8 * index)) }
    }
}
