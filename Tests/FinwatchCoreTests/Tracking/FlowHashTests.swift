import Testing
@testable import FinwatchCore

/// The index takes a key's position from the low bits of its hash. Real traffic's keys differ in
/// few bits (one server, many clients' ports or addresses), and a multiply carries a bit only
/// upwards: a hash that mixes such keys only into its high bits piles them on a few positions,
/// and every lookup walks the pile. 65,536 keys that differ in one field must spread over the
/// low 16 bits about as random values would (63 % distinct; a pile gives a few percent).
@Suite("Tracking: the flow hash spreads structured keys")
struct FlowHashTests {
    static func key(client: String, clientPort: UInt16, server: String, serverPort: UInt16) -> FlowKey {
        let segment = TCPSegment(timestamp: Timestamp(nanoseconds: 0), source: IPAddress(client)!, destination: IPAddress(server)!,
                                 sourcePort: clientPort, destinationPort: serverPort,
                                 sequence: SequenceNumber(0), acknowledgment: SequenceNumber(0), flags: .syn)
        return FlowKey(segment, senderIsA: FlowKey.senderIsA(segment))
    }

    static func distinctLow16(_ keys: [FlowKey], seed: UInt64) -> Double {
        Double(Set(keys.map { UInt16(truncatingIfNeeded: $0.hashValue(seed: seed)) }).count) / Double(keys.count)
    }

    @Test(arguments: [UInt64(0), 0x5EED_F1A7_C0FF_EE00, .max])
    func keysDifferingInOneField(seed: UInt64) {
        let count = 65_536
        let byClientPort = (0..<count).map {
            Self.key(client: "198.18.0.1", clientPort: UInt16($0), server: "198.19.0.80", serverPort: 443)
        }
        let byServerPort = (0..<count).map {   // the client sorts first: its port is the key's second
            Self.key(client: "198.18.0.1", clientPort: 40_000, server: "198.19.0.80", serverPort: UInt16($0))
        }
        let byClientAddress = (0..<count).map {
            Self.key(client: "198.18.\($0 >> 8).\($0 & 0xFF)", clientPort: 40_000, server: "198.19.0.80", serverPort: 443)
        }
        let byIPv6Prefix = (0..<count).map {
            Self.key(client: "2001:db8:\(String($0, radix: 16))::1", clientPort: 40_000, server: "2001:db8::80", serverPort: 443)
        }
        for (name, keys) in [("client port", byClientPort), ("server port", byServerPort),
                             ("client address", byClientAddress), ("IPv6 prefix", byIPv6Prefix)] {
            let spread = Self.distinctLow16(keys, seed: seed)
            #expect(spread > 0.55, "\(name): \(Int(spread * 100)) % of 65,536 positions")
        }
    }
}
