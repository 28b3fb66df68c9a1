@testable import FinwatchCore
import Testing

/// The encapsulation captures of the corpus (Tests/Corpus/README.md, "Encapsulations and
/// tunnels"), decoded and tracked: every TCP conversation tshark finds in them gets a record, or
/// the row says why not. tshark's counts were taken once with tshark 4.0.17
/// (`tshark -r FILE -q -z conv,tcp`, conversations counted) and are pinned here.
@Suite("Tunnel corpus") struct TunnelCorpusTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var path: String
        var tshark: Int
        var records: Int
        var malformed = 0
        /// Why `records` is not `tshark`, when it is not.
        var reason: String? = nil
        var testDescription: String { path }
    }

    static let rows: [Row] = [
        Row(path: "suricata-verify/bug-4810/pppoe-session-http.pcap", tshark: 1, records: 1),
        Row(path: "suricata-verify/decode-etag-01/input.pcap", tshark: 1, records: 1),
        Row(path: "suricata-verify/linktype-228/flow-test-01.pcap", tshark: 1, records: 1),
        Row(path: "suricata-verify/vxlan-decoder-03/vxlan.pcap", tshark: 4, records: 4),
        Row(path: "suricata-verify/vxlan-non-zero-reserved-fields/input.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/geneve-gcp.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/geneve.pcap", tshark: 1, records: 2,
            reason: "its two directions travel with VNI 10 and VNI 11: two tunnels, so two connections by the contract's identity rule"),
        Row(path: "tcpdump/gso-ipv4-geneve-ipv4.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/gso-ipv4-geneve-ipv6.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/gso-ipv4-vxlan-ipv4.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/gso-ipv4-vxlan-ipv6.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/gso-ipv4.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/gso-ipv6-geneve-ipv4.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/gso-ipv6-geneve-ipv6.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/gso-ipv6-vxlan-ipv4.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/gso-ipv6-vxlan-ipv6.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/gso-ipv6.pcap", tshark: 1, records: 1),
        Row(path: "tcpdump/wccp_redirect_gre.pcap", tshark: 1, records: 1),
        // tshark 4.0 does not follow the inner BIG TCP packet (total length 0, or a jumbo
        // payload); finwatch reads it from the captured bytes, as for plain BIG TCP.
        Row(path: "tcpdump/bigtcp-ipv4-geneve-ipv4.pcap", tshark: 0, records: 1, reason: "BIG TCP inside: tshark does not decode it"),
        Row(path: "tcpdump/bigtcp-ipv4-geneve-ipv6.pcap", tshark: 0, records: 1, reason: "BIG TCP inside: tshark does not decode it"),
        Row(path: "tcpdump/bigtcp-ipv4-vxlan-ipv4.pcap", tshark: 0, records: 1, reason: "BIG TCP inside: tshark does not decode it"),
        Row(path: "tcpdump/bigtcp-ipv4-vxlan-ipv6.pcap", tshark: 0, records: 1, reason: "BIG TCP inside: tshark does not decode it"),
        Row(path: "tcpdump/bigtcp-ipv6-geneve-ipv4.pcap", tshark: 0, records: 1, reason: "BIG TCP inside: tshark does not decode it"),
        Row(path: "tcpdump/bigtcp-ipv6-geneve-ipv6.pcap", tshark: 0, records: 1, reason: "BIG TCP inside: tshark does not decode it"),
        Row(path: "tcpdump/bigtcp-ipv6-vxlan-ipv4.pcap", tshark: 0, records: 1, reason: "BIG TCP inside: tshark does not decode it"),
        Row(path: "tcpdump/bigtcp-ipv6-vxlan-ipv6.pcap", tshark: 0, records: 1, reason: "BIG TCP inside: tshark does not decode it"),
        // No TCP inside (UDP, ICMP, ARP, LDP, traceroute probes, PPPoE discovery): read, nothing to record.
        Row(path: "suricata-verify/bug-5633-gre-01/gre-udp.pcap", tshark: 0, records: 0),
        Row(path: "suricata-verify/decode-erspan-typeI-02/input.pcap", tshark: 0, records: 0),
        Row(path: "suricata-verify/decode-erspan-typeII-01/input.pcap", tshark: 0, records: 0),
        Row(path: "suricata-verify/decode-nsh-type1/input.pcap", tshark: 0, records: 0),
        Row(path: "suricata-verify/decode-vntag-01/input.pcap", tshark: 0, records: 0),
        Row(path: "suricata-verify/flow-pkt-recursion/tunnel-pkt-flows.pcap", tshark: 0, records: 0),
        Row(path: "suricata-verify/geneve-decoder/input.pcap", tshark: 0, records: 0),
        Row(path: "suricata-verify/pppoe/input.pcap", tshark: 0, records: 0),
        Row(path: "suricata-verify/vxlan-decoder-01/input.pcap", tshark: 0, records: 0),
        Row(path: "suricata-verify/vxlan-decoder-02/vxlan.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/erspan-type-i-1.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/erspan-type-i-2.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/erspan-type-i-3.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/erspan-type-i-4.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/erspan-type-ii-1.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/erspan-type-ii-2.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/erspan-type-ii-3.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/erspan-type-iii-ft-0.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/erspan-type-iii-ft-7.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/gre-heapoverflow-2.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/llc-xid-heapoverflow.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/mpls-ldp-hello.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/mpls-over-udp.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/mpls-traceroute.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/nsh-over-vxlan-gpe.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/pppoe.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/pppoes.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/various_gre.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/vxlan.pcap", tshark: 0, records: 0),
        Row(path: "tcpdump/vxlan_port_8472.pcap", tshark: 0, records: 0),
        // Fuzzer-made frames: their lying headers are counted as malformed, never a trap.
        Row(path: "tcpdump/erspan-type-iii-pb-1.pcap", tshark: 0, records: 0, malformed: 1),
        Row(path: "tcpdump/gre-heapoverflow-1.pcap", tshark: 0, records: 0, malformed: 1),
        Row(path: "tcpdump/l2tp-avp-overflow.pcap", tshark: 0, records: 0, malformed: 2),
        Row(path: "tcpdump/mpls-label-heapoverflow.pcap", tshark: 0, records: 0, malformed: 1),
    ]

    @Test("every TCP conversation tshark sees gets a record, or the row says why", arguments: rows)
    func capture(row: Row) throws {
        let (linkType, records) = try CorpusDecodeTests.read(row.path)
        var batch = SegmentBatch()
        var path = TunnelPath()
        var malformed = 0
        for record in records {
            do throws(DecodeError) {
                if let segment = try Frame.decodeTCP(record.bytes.span.bytes, linkType: linkType, timestamp: record.time,
                                                     interfaceIndex: nil, tunnel: &path) {
                    batch.append(segment, tunnel: path)
                    continue
                }
            } catch {
                malformed += 1
            }
            batch.appendOtherFrame(at: record.time)
        }
        var table = ConnectionTable(configuration: TrackerConfiguration())
        var events: [Event] = []
        table.observe(batch, packetClock: true, into: &events)
        table.finish(at: records.last?.time ?? Timestamp(nanoseconds: 0), reason: .endOfInput, into: &events)
        let closes = events.compactMap { if case .close(let r) = $0 { r } else { nil } }
        #expect(closes.count == row.records, "\(row.path): \(closes.count) records")
        #expect(malformed == row.malformed)
        if row.records != row.tshark { #expect(row.reason != nil, "a count unlike tshark's needs its reason") }
        // Every record of a tunnel capture but the E-Tag, raw-IP and plain GSO ones came through a tunnel.
        let plain = ["decode-etag-01", "linktype-228", "tcpdump/gso-ipv4.pcap", "tcpdump/gso-ipv6.pcap"]
        if !plain.contains(where: row.path.contains) {
            #expect(closes.allSatisfy { $0.identity.tunnel != nil })
        }
    }
}
