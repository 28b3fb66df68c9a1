import FinwatchCore
import FinwatchHost
import Testing

@Suite("ip_local_port_range") struct PortRangeTextTests {
    @Test func linuxDefault_isTwoPortsTabSeparated() {
        #expect(PortRangeText.parse("32768\t60999\n") == EphemeralPortRange(low: 32768, high: 60999))
        #expect(PortRangeText.parse("40000 40049") == EphemeralPortRange(low: 40000, high: 40049))
    }

    @Test("anything but two ports low first is no range", arguments: ["", "32768\n", "60999\t32768\n", "a\tb\n", "1\t2\t3\n", "0\t10\n"])
    func malformed(text: String) {
        #expect(PortRangeText.parse(text) == nil)
    }
}
