import CPcap
import FinwatchCore
import Glibc

/// An interface libpcap can capture on (`pcap_findalldevs`), with its IP addresses.
package struct CaptureDevice: Sendable, Equatable {
    package var name: String
    package var description: String?
    package var addresses: [IPAddress]
    package var isLoopback: Bool
    package var isUp: Bool
    package var isRunning: Bool

    package init(name: String, description: String?, addresses: [IPAddress], isLoopback: Bool,
                 isUp: Bool, isRunning: Bool) {
        self.name = name
        self.description = description
        self.addresses = addresses
        self.isLoopback = isLoopback
        self.isUp = isUp
        self.isRunning = isRunning
    }

    /// Every capture device on this host, in libpcap's order.
    package static func all() throws(CaptureError) -> [CaptureDevice] {
        var errorBuffer = ErrorBuffer()
        var first: UnsafeMutablePointer<pcap_if_t>?
        guard pcap_findalldevs(&first, &errorBuffer.bytes) == 0 else {
            throw .activationFailed(interface: "(device list)", message: errorBuffer.text)
        }
        defer { if let first { pcap_freealldevs(first) } }
        var devices: [CaptureDevice] = []
        var next = first
        while let device = next {
            let entry = device.pointee
            var addresses: [IPAddress] = []
            var address = entry.addresses
            while let current = address {
                if let socketAddress = current.pointee.addr, let ip = IPAddress(socketAddress) { addresses.append(ip) }
                address = current.pointee.next
            }
            devices.append(CaptureDevice(
                name: String(cString: entry.name),
                description: entry.description.map { String(cString: $0) },
                addresses: addresses,
                isLoopback: entry.flags & UInt32(PCAP_IF_LOOPBACK) != 0,
                isUp: entry.flags & UInt32(PCAP_IF_UP) != 0,
                isRunning: entry.flags & UInt32(PCAP_IF_RUNNING) != 0))
            next = entry.next
        }
        return devices
    }
}

private extension IPAddress {
    /// The address of an AF_INET or AF_INET6 sockaddr; nil for other families (AF_PACKET).
    init?(_ socketAddress: UnsafeMutablePointer<sockaddr>) {
        switch Int32(socketAddress.pointee.sa_family) {
        case AF_INET:
            let value = UnsafeMutableRawPointer(socketAddress).load(as: sockaddr_in.self).sin_addr.s_addr
            self.init(ipv4: UInt32(bigEndian: value))
        case AF_INET6:
            let bytes = UnsafeMutableRawPointer(socketAddress).load(as: sockaddr_in6.self).sin6_addr
            var high: UInt64 = 0, low: UInt64 = 0
            withUnsafeBytes(of: bytes) { raw in
                for index in 0..<8 { high = high << 8 | UInt64(raw[index]) }
                for index in 8..<16 { low = low << 8 | UInt64(raw[index]) }
            }
            self.init(ipv6High: high, low: low)
        default:
            return nil
        }
    }
}
