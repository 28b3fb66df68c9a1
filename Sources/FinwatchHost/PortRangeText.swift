import FinwatchCore

/// `/proc/sys/net/ipv4/ip_local_port_range`: two decimal ports separated by a tab, then a newline
/// (`32768\t60999\n`). Pure: the executable reads the file (in its own network namespace: the
/// sysctl is per namespace) and hands the text in.
package enum PortRangeText {
    package static let path = "/proc/sys/net/ipv4/ip_local_port_range"

    /// The range, or nil for anything but two ports low ≤ high.
    package static func parse(_ text: String) -> EphemeralPortRange? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count == 2, let low = Int(fields[0]), let high = Int(fields[1]) else { return nil }
        return EphemeralPortRange(low: low, high: high)
    }
}
