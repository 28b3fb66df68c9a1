/// Why a capture could not be opened, filtered or read. Each case carries what an operator needs
/// to act on it (the interface, the path, libpcap's own words); the executable maps each case to
/// its sysexits status and one line on standard error.
package enum CaptureError: Error, Equatable, Sendable {
    /// `pcap_activate` said PCAP_ERROR_NO_SUCH_DEVICE (or `pcap_create` refused the name).
    case noSuchInterface(String)
    /// PCAP_ERROR_IFACE_NOT_UP: the interface exists but is administratively down.
    case interfaceDown(String)
    /// PCAP_ERROR_PERM_DENIED or PCAP_ERROR_PROMISC_PERM_DENIED; `promiscuous` says which was asked.
    case permissionDenied(interface: String, promiscuous: Bool, message: String)
    /// Any other activation failure, with libpcap's message.
    case activationFailed(interface: String, message: String)
    /// The capture file does not exist.
    case fileNotFound(String)
    /// The capture file exists but cannot be opened or read (permissions, a directory, EIO).
    case fileUnreadable(path: String, reason: String)
    /// libpcap refused the file: not pcap or pcapng, or a header it cannot parse.
    case notACapture(path: String, message: String)
    /// The file went bad part-way (truncated record, impossible length).
    case corruptCapture(path: String, message: String)
    /// `pcap_compile` refused the filter; `filter` is the user's text, not the "tcp and" wrapper.
    case invalidFilter(filter: String, message: String)
    /// A live read failed after the capture started (the interface went away, a socket error).
    case readFailed(source: String, message: String)
    /// The kernel refused to join a handle to the PACKET_FANOUT group (`--workers`); `group` is
    /// the id asked for, nil when the kernel was to choose one.
    case fanoutRefused(interface: String, group: UInt16?, reason: String)
    /// A system call around the capture failed (poll, setting non-blocking mode).
    case systemCall(name: String, errno: Int32)
}
