import Testing
import FinwatchCore
@testable import FinwatchHost

/// The netlink request and dump, as the kernel lays them out (inet_diag.h), built by hand here:
/// headers little-endian on this host, ports and addresses in network order.
@Suite("sock_diag bytes")
struct SockDiagTests {
    /// nlmsghdr + inet_diag_msg for one socket, the way a dump carries it.
    static func message(family: UInt8, state: UInt8, source: [UInt8], sourcePort: UInt16, destination: [UInt8],
                        destinationPort: UInt16, uid: UInt32, inode: UInt32, sequence: UInt32) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: 72)
        body[0] = family
        body[1] = state
        body[4] = UInt8(sourcePort >> 8); body[5] = UInt8(sourcePort & 0xFF)
        body[6] = UInt8(destinationPort >> 8); body[7] = UInt8(destinationPort & 0xFF)
        body.replaceSubrange(8..<(8 + source.count), with: source)
        body.replaceSubrange(24..<(24 + destination.count), with: destination)
        body.replaceSubrange(64..<68, with: littleEndian(uid))
        body.replaceSubrange(68..<72, with: littleEndian(inode))
        return header(length: 16 + 72, type: 20, sequence: sequence) + body
    }

    static func header(length: Int, type: UInt16, sequence: UInt32) -> [UInt8] {
        littleEndian(UInt32(length)) + [UInt8(type & 0xFF), UInt8(type >> 8), 0x02, 0x00]
            + littleEndian(sequence) + littleEndian(UInt32(0))
    }

    static func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    @Test func request_isADumpOfTCPInTheAskedStates() {
        let bytes = SockDiag.request(family: .inet6, states: [.closeWait, .finWait2], sequence: 7)
        #expect(bytes.count == 72)
        #expect(Array(bytes[0..<4]) == [72, 0, 0, 0])         // length
        #expect(Array(bytes[4..<8]) == [20, 0, 0x01, 0x03])   // SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST|NLM_F_DUMP
        #expect(Array(bytes[8..<12]) == [7, 0, 0, 0])         // sequence
        #expect(bytes[16] == 10 && bytes[17] == 6)            // AF_INET6, IPPROTO_TCP
        #expect(Array(bytes[20..<24]) == SockDiagTests.littleEndian(1 << 8 | 1 << 5))
        #expect(bytes[24...].allSatisfy { $0 == 0 })           // any socket id
    }

    @Test func dump_yieldsItsSockets_untilDone() {
        let v4 = Self.message(family: 2, state: 8, source: [127, 0, 0, 1], sourcePort: 8080,
                              destination: [127, 0, 0, 1], destinationPort: 40_000, uid: 1000, inode: 123_456, sequence: 1)
        // A dual-stack socket's IPv4 peer: ::ffff:198.18.0.1 reads as 198.18.0.1.
        let mapped = Self.message(family: 10, state: 5, source: [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 198, 18, 0, 1],
                                  sourcePort: 443, destination: [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 198, 18, 0, 2],
                                  destinationPort: 50_000, uid: 0, inode: 0, sequence: 1)
        let v6 = Self.message(family: 10, state: 9, source: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1],
                              sourcePort: 22, destination: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2],
                              destinationPort: 60_000, uid: 7, inode: 99, sequence: 1)
        let otherSequence = Self.message(family: 2, state: 8, source: [10, 0, 0, 1], sourcePort: 1, destination: [10, 0, 0, 2],
                                         destinationPort: 2, uid: 0, inode: 1, sequence: 9)
        let done = Self.header(length: 20, type: 3, sequence: 1) + [0, 0, 0, 0]

        let first = SockDiag.parse(v4 + mapped + otherSequence, sequence: 1)
        #expect(!first.isDone && !first.isMalformed && first.errorNumber == nil)
        #expect(first.sockets == [
            ProcNet.Socket(local: Endpoint(ip: IPAddress("127.0.0.1")!, port: 8080), remote: Endpoint(ip: IPAddress("127.0.0.1")!, port: 40_000),
                           state: .closeWait, uid: 1000, inode: 123_456),
            ProcNet.Socket(local: Endpoint(ip: IPAddress("198.18.0.1")!, port: 443), remote: Endpoint(ip: IPAddress("198.18.0.2")!, port: 50_000),
                           state: .finWait2, uid: 0, inode: 0),
        ])
        let last = SockDiag.parse(v6 + done, sequence: 1)
        #expect(last.isDone)
        #expect(last.sockets.map(\.local) == [Endpoint(ip: IPAddress("2001:db8::1")!, port: 22)])
        #expect(last.sockets.first?.state == .lastAck)
    }

    @Test func refusedOrBrokenDumps_areSaidSo() {
        // NLMSG_ERROR with -EPERM (1).
        let refused = SockDiag.parse(Self.header(length: 36, type: 2, sequence: 1) + Self.littleEndian(UInt32(bitPattern: -1))
                                     + [UInt8](repeating: 0, count: 16), sequence: 1)
        #expect(refused.errorNumber == 1)
        // A length running past the datagram, and one shorter than a header.
        let v4 = Self.message(family: 2, state: 8, source: [127, 0, 0, 1], sourcePort: 1, destination: [127, 0, 0, 1],
                              destinationPort: 2, uid: 0, inode: 1, sequence: 1)
        #expect(SockDiag.parse(v4.dropLast(10), sequence: 1).isMalformed)
        #expect(SockDiag.parse(Self.header(length: 8, type: 20, sequence: 1), sequence: 1).isMalformed)
        // A socket message too short for an inet_diag_msg.
        #expect(SockDiag.parse(Self.header(length: 40, type: 20, sequence: 1) + [UInt8](repeating: 0, count: 24), sequence: 1).isMalformed)
        // Garbage of every length up to a message's: never a trap.
        for length in 0...100 {
            _ = SockDiag.parse([UInt8](repeating: 0xFF, count: length), sequence: 1)
            _ = SockDiag.parse(Array(v4.prefix(length)), sequence: 1)
        }
    }
}
