import FinwatchCore
import Foundation
import Testing

@Suite("SHA-1 and base64") struct SHA1Tests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("FIPS 180-2 appendix A vectors", arguments: [
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
    ])
    func fips(message: String, digest: String) {
        #expect(Self.hex(SHA1.digest(Array(message.utf8))) == digest)
    }

    @Test func millionAs() {
        #expect(Self.hex(SHA1.digest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
                == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test("RFC 4648 §10 base64 vectors", arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func base64(text: String, encoded: String) {
        #expect(SHA1.base64(Array(text.utf8)) == encoded)
    }
}

@Suite("Community ID v1") struct CommunityIDTests {
    /// corelight/community-id-spec's baseline vectors, in the repository's copy of the corpus.
    static let baseline = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Corpus/community-id/baseline")

    struct Row: Sendable, CustomTestStringConvertible {
        var proto: UInt8, saddr: String, daddr: String, sport: UInt16, dport: UInt16, communityID: String
        var testDescription: String { "\(proto) \(saddr):\(sport) → \(daddr):\(dport)" }
    }

    /// The rows of a baseline file for the port-carrying protocols v1 expresses (TCP, UDP, SCTP);
    /// ICMP rows map types to ports, which finwatch (TCP only) never needs.
    static func rows(_ file: String) throws -> [Row] {
        let data = try Data(contentsOf: baseline.appendingPathComponent(file))
        let objects = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return objects.compactMap { object in
            guard let proto = object["proto"] as? Int, [6, 17, 132].contains(proto),
                  let saddr = object["saddr"] as? String, let daddr = object["daddr"] as? String,
                  let sport = object["sport"] as? Int, let dport = object["dport"] as? Int,
                  let id = object["communityid"] as? String else { return nil }
            return Row(proto: UInt8(proto), saddr: saddr, daddr: daddr, sport: UInt16(sport), dport: UInt16(dport), communityID: id)
        }
    }

    static func check(_ file: String, seed: UInt16) throws {
        let rows = try rows(file)
        #expect(rows.filter { $0.proto == 6 }.count >= 2)              // the file has TCP rows
        for row in rows {
            let a = Endpoint(ip: try #require(IPAddress(row.saddr)), port: row.sport)
            let b = Endpoint(ip: try #require(IPAddress(row.daddr)), port: row.dport)
            #expect(CommunityID.v1(a, b, protocol: row.proto, seed: seed) == row.communityID, "\(row.testDescription)")
            if row.proto == 6 { #expect(CommunityID.v1(a, b, seed: seed) == row.communityID) }
        }
    }

    @Test func baselineDefaultSeed() throws { try Self.check("baseline_deflt.json", seed: 0) }

    @Test func baselineSeed1() throws { try Self.check("baseline_seed1.json", seed: 1) }

    @Test func specREADMEExample_bothDirections() {
        // The spec's README table: TCP 1.2.3.4:1122 ↔ 5.6.7.8:3344, seed 0.
        let a = Endpoint(ip: IPAddress("1.2.3.4")!, port: 1122), b = Endpoint(ip: IPAddress("5.6.7.8")!, port: 3344)
        #expect(CommunityID.v1(a, b, seed: 0) == "1:wCb3OG7yAFWelaUydu0D+125CLM=")
        #expect(CommunityID.v1(b, a, seed: 0) == "1:wCb3OG7yAFWelaUydu0D+125CLM=")
    }

    @Test func sameAddress_portsDecideTheOrder() {
        let a = Endpoint(ip: IPAddress("127.0.0.1")!, port: 53312), b = Endpoint(ip: IPAddress("127.0.0.1")!, port: 42397)
        #expect(CommunityID.v1(a, b, seed: 0) == CommunityID.v1(b, a, seed: 0))
    }
}
