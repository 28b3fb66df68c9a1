import FinwatchCore

/// Linux's own views of sockets and processes, parsed from the text of `/proc/net/tcp`,
/// `/proc/net/tcp6` and `/proc/PID/cgroup`. Pure: the executable reads the files and hands the
/// text in, so all of this runs in unit tests on sample lines.
package enum ProcNet {
    /// A TCP state as the kernel numbers it in the `st` column (include/net/tcp_states.h).
    package enum KernelState: UInt8, Sendable, Hashable {
        case established = 0x01
        case synSent = 0x02
        case synReceived = 0x03
        case finWait1 = 0x04
        case finWait2 = 0x05
        case timeWait = 0x06
        case close = 0x07
        case closeWait = 0x08
        case lastAck = 0x09
        case listen = 0x0A
        case closing = 0x0B
        case newSynReceived = 0x0C

        /// The contract's state for this kernel state; nil for LISTEN and the request sockets
        /// (NEW_SYN_RECV) a listener keeps, which no connection row is about.
        package var endpointState: EndpointState? {
            switch self {
            case .established: .established
            case .finWait1: .finWait1
            case .finWait2: .finWait2
            case .timeWait: .timeWait
            case .close: .closed
            case .closeWait: .closeWait
            case .lastAck: .lastAck
            case .closing: .closing
            case .synSent: .synSent
            case .synReceived: .synReceived
            case .listen, .newSynReceived: nil
            }
        }
    }

    /// One row of `/proc/net/tcp` or `/proc/net/tcp6`.
    package struct Socket: Sendable, Hashable {
        package var local: Endpoint
        package var remote: Endpoint
        package var state: KernelState
        package var uid: UInt32
        /// The socket's inode: what `/proc/PID/fd/N` links to as `socket:[inode]`. 0 for a
        /// socket no process holds any more (an orphan in FIN_WAIT_2, TIME_WAIT).
        package var inode: UInt64

        package init(local: Endpoint, remote: Endpoint, state: KernelState, uid: UInt32, inode: UInt64) {
            self.local = local
            self.remote = remote
            self.state = state
            self.uid = uid
            self.inode = inode
        }
    }

    /// Whether this machine stores integers little-endian: the kernel prints each 32-bit word of
    /// an address as a native integer, so the hex reads byte-reversed on x86 and arm64.
    package static let hostIsLittleEndian: Bool = UInt32(1).littleEndian == 1

    /// Every socket row in the text of `/proc/net/tcp` or `/proc/net/tcp6`; the header line and
    /// anything malformed are skipped (the kernel's format is stable, a bad line is not worth a trap).
    package static func sockets(inTable text: String, littleEndian: Bool = hostIsLittleEndian) -> [Socket] {
        var result: [Socket] = []
        for line in text.utf8.split(separator: UInt8(ascii: "\n")) {
            if let socket = socket(inLine: Substring(line), littleEndian: littleEndian) { result.append(socket) }
        }
        return result
    }

    /// Parses one row: `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …`.
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, a dual-stack socket) comes back as IPv4, the
    /// form the capture sees on the wire.
    package static func socket(inLine line: Substring, littleEndian: Bool = hostIsLittleEndian) -> Socket? {
        let fields = line.utf8.split(separator: UInt8(ascii: " "))
        guard fields.count >= 10, fields[0].last == UInt8(ascii: ":"),
              let local = endpoint(hex: fields[1], littleEndian: littleEndian),
              let remote = endpoint(hex: fields[2], littleEndian: littleEndian),
              let stateValue = hexValue(fields[3]), stateValue <= 0xFF,
              let state = KernelState(rawValue: UInt8(stateValue)),
              let uid = decimalValue(fields[7]), uid <= UInt64(UInt32.max),
              let inode = decimalValue(fields[9])
        else { return nil }
        return Socket(local: local, remote: remote, state: state, uid: UInt32(uid), inode: inode)
    }

    /// The inode in a `/proc/PID/fd/N` link text `socket:[12345]`; nil for any other file.
    package static func socketInode(link: String) -> UInt64? {
        let prefix = "socket:["
        guard link.hasPrefix(prefix), link.hasSuffix("]") else { return nil }
        let digits = link.utf8.dropFirst(prefix.utf8.count).dropLast()
        return decimalValue(digits)
    }

    /// The systemd unit a process runs in, from the text of `/proc/PID/cgroup`: the last path
    /// segment ending in `.service` or `.scope` (a slice groups units, it runs nothing itself;
    /// segments below the unit are the unit's own delegated sub-groups). cgroup v2's `0::` line
    /// first, then v1's `name=systemd` hierarchy. nil when there is none (a container's private
    /// cgroup namespace shows `0::/`).
    package static func systemdUnit(cgroup text: String) -> String? {
        var v2Path: Substring?
        var v1Path: Substring?
        for line in text.split(separator: "\n") {
            // hierarchy-ID:controller-list:path; the path may itself contain ':'.
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty { v2Path = parts[2] }
            if parts[1] == "name=systemd" { v1Path = parts[2] }
        }
        // Hybrid hosts show both; the v2 line may be just "/" while name=systemd holds the unit.
        for path in [v2Path, v1Path].compactMap({ $0 }) {
            if let unit = path.split(separator: "/").last(where: { $0.hasSuffix(".service") || $0.hasSuffix(".scope") }) {
                return String(unit)
            }
        }
        return nil
    }

    // MARK: - Hex fields

    /// `0100007F:1F90` → 127.0.0.1:8080 (on a little-endian host); the port is printed in host
    /// order already, the address word by word as native integers.
    private static func endpoint(hex field: Substring.UTF8View.SubSequence, littleEndian: Bool) -> Endpoint? {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let address = field[..<colon]
        let portText = field[field.index(after: colon)...]
        guard portText.count == 4, let port = hexValue(portText) else { return nil }
        var words: [UInt32] = []
        var start = address.startIndex
        guard address.count == 8 || address.count == 32 else { return nil }
        while start < address.endIndex {
            let end = address.index(start, offsetBy: 8)
            guard let value = hexValue(address[start..<end]) else { return nil }
            let word = UInt32(truncatingIfNeeded: value)
            words.append(littleEndian ? word.byteSwapped : word)
            start = end
        }
        if words.count == 1 { return Endpoint(ip: IPAddress(ipv4: words[0]), port: UInt16(port)) }
        // RFC 4291 §2.5.5.2: ::ffff:a.b.c.d is an IPv4 peer of a dual-stack socket.
        if words[0] == 0 && words[1] == 0 && words[2] == 0x0000_FFFF {
            return Endpoint(ip: IPAddress(ipv4: words[3]), port: UInt16(port))
        }
        let high = UInt64(words[0]) << 32 | UInt64(words[1])
        let low = UInt64(words[2]) << 32 | UInt64(words[3])
        return Endpoint(ip: IPAddress(ipv6High: high, low: low), port: UInt16(port))
    }

    /// At most 16 hex digits; nil on anything else.
    private static func hexValue<S: Collection<UInt8>>(_ digits: S) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }

    /// A decimal that fits in UInt64; nil on anything else.
    private static func decimalValue<S: Collection<UInt8>>(_ digits: S) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !o1 && !o2 else { return nil }
            value = sum
        }
        return value
    }
}
