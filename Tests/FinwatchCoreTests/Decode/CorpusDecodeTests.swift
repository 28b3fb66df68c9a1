import FinwatchCore
import Foundation
import Testing

/// Third-party captures from the repository's copy of the corpus (Tests/Corpus), decoded frame by frame.
@Suite("Corpus captures") struct CorpusDecodeTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Corpus")

    /// A link type finwatch does not decode (NFLOG in the corpus).
    struct UnsupportedLinkType: Error { var value: Int32 }

    /// One record of a classic pcap file.
    struct Record { var time: Timestamp; var bytes: [UInt8] }

    /// A minimal classic-pcap reader (either byte order, µs or ns): enough to feed the decoder.
    static func read(_ path: String) throws -> (LinkType, [Record]) {
        let data = [UInt8](try Data(contentsOf: corpus.appendingPathComponent(path)))
        func u32(_ offset: Int, _ bigEndian: Bool) -> UInt32 {
            let v = UInt32(data[offset]) << 24 | UInt32(data[offset + 1]) << 16 | UInt32(data[offset + 2]) << 8 | UInt32(data[offset + 3])
            return bigEndian ? v : v.byteSwapped
        }
        let magic = u32(0, true)
        let bigEndian = magic == 0xA1B2_C3D4 || magic == 0xA1B2_3C4D
        let nanosecond = magic == 0xA1B2_3C4D || magic == 0x4D3C_B2A1
        // The top bits of the link-type field may carry FCS information (pcap-savefile(5)).
        let rawLinkType = Int32(u32(20, bigEndian) & 0x03FF_FFFF)
        guard let linkType = LinkType(rawValue: rawLinkType) else { throw UnsupportedLinkType(value: rawLinkType) }
        var records: [Record] = []
        var offset = 24
        while offset + 16 <= data.count {
            let length = Int(u32(offset + 8, bigEndian))
            let fraction = Int64(u32(offset + 4, bigEndian)) * (nanosecond ? 1 : 1000)
            let time = Timestamp(seconds: Int64(u32(offset, bigEndian)), nanoseconds: fraction)
            guard offset + 16 + length <= data.count else { break }
            records.append(Record(time: time, bytes: Array(data[(offset + 16)..<(offset + 16 + length)])))
            offset += 16 + length
        }
        return (linkType, records)
    }

    enum Outcome: Equatable { case segment(TCPSegment), skipped, error(DecodeError) }

    static func decode(_ path: String) throws -> [Outcome] {
        let (linkType, records) = try read(path)
        return records.map { record in
            do throws(DecodeError) {
                let segment = try Frame.decodeTCP(record.bytes.span.bytes, linkType: linkType, timestamp: record.time, interfaceIndex: nil)
                return segment.map(Outcome.segment) ?? .skipped
            } catch {
                return .error(error)
            }
        }
    }

    static func segments(_ outcomes: [Outcome]) -> [TCPSegment] {
        outcomes.compactMap { if case .segment(let s) = $0 { s } else { nil } }
    }

    /// (file, frames, TCP frames): the others are ARP, ICMPv6 or GRE and must be skipped, not errors.
    @Test("every TCP frame decodes, the rest are skipped", arguments: [
        ("zeek/snap-tcp.pcap", 8, 8), ("zeek/http-qinq-0.pcap", 14, 14), ("zeek/http-vlan-0.pcap", 14, 14),
        ("suricata-verify/decode-sll2-01/input.pcap", 5, 5), ("tcpdump/mptcp-v1.pcap", 20, 20), ("tcpdump/mptcp-tcprst.pcap", 2, 2),
        ("tcpdump/tcp-handshake-nano.pcap", 3, 3), ("zeek/redis/set.pcap", 12, 12), ("tcpdump/pptp.pcap", 23, 22),
        ("zeek/chksums/ip6-hoa-tcp-good-chksum.pcap", 1, 1), ("zeek/chksums/ip6-route0-tcp-good-chksum.pcap", 1, 1),
        ("tcpdump/tcp_rst_diag_payload.pcap", 1, 1), ("tcpdump/print-flags.pcap", 10, 10),
    ])
    func allTCP(path: String, frames: Int, tcp: Int) throws {
        let outcomes = try Self.decode(path)
        #expect(outcomes.count == frames)
        #expect(Self.segments(outcomes).count == tcp)
        #expect(outcomes.filter { $0 == .skipped }.count == frames - tcp)
    }

    @Test func bigTCPIPv4_totalLengthZero_decodesFromTheCapture() throws {
        let segment = try #require(Self.segments(try Self.decode("tcpdump/bigtcp-ipv4.pcap")).first)
        #expect(segment.payloadLength > 65_535)
        #expect(segment.isTruncated == false)
    }

    @Test func bigTCPIPv6_jumboOption_decodes() throws {
        let segment = try #require(Self.segments(try Self.decode("tcpdump/bigtcp-ipv6-hbh.pcap")).first)
        #expect(segment.source.isIPv6)
        #expect(segment.payloadLength > 65_535)
    }

    @Test func tsoCapture_decodes() throws {
        let segment = try #require(Self.segments(try Self.decode("tcpdump/ipv4_tcp_http_xml_tso.pcap")).first)
        #expect(segment.payloadLength > 0)
    }

    @Test func urgent11MalformedOption_stillDecodesTheSegments() throws {
        let outcomes = try Self.decode("suricata-verify/issue-3341-tcphdr-01/urgent11_cve_2019_12260.pcap")
        #expect(outcomes.count == 10)
        #expect(Self.segments(outcomes).count == 8)                 // the other two are ARP
        #expect(Self.segments(outcomes).first?.flags == .syn)        // the SYN with the bad TCP-AO length
    }

    @Test func atomicFragmentsCarryTCP() throws {
        let segments = Self.segments(try Self.decode("zeek/ipv6-http-atomic-frag.pcap"))
        #expect(segments.count == 36)                                // plus two ICMPv6 neighbour messages
        #expect(segments.contains { $0.flags.contains(.fin) })
    }

    @Test("hostile headers give their own error", arguments: [
        ("tcpdump/LINKTYPE_IPV4_invalid.pcap", DecodeError.badIPVersion(6)),
        ("tcpdump/LINKTYPE_IPV6_invalid.pcap", .badIPVersion(4)),
        ("tcpdump/ipv4_invalid_total_length_2.pcap", .badTotalLength(19)),
    ])
    func hostile(path: String, error: DecodeError) throws {
        #expect(try Self.decode(path) == [.error(error)])
    }

    @Test func ipv4IHLBelowMinimum_isBadIHL() throws {
        let outcomes = try Self.decode("tcpdump/ipv4_invalid_hdr_length.pcap")
        guard case .error(.badIHL(let words)) = try #require(outcomes.first) else {
            Issue.record("expected badIHL, got \(outcomes)"); return
        }
        #expect(words < 5)
    }

    @Test func fragmentedSYN_firstFragmentWithoutWholeHeaderIsSkipped() throws {
        let outcomes = try Self.decode("zeek/ipv4/fragmented-syn.pcap")
        #expect(!outcomes.contains { if case .error = $0 { true } else { false } })
    }

    @Test("no corpus pcap traps the decoder")
    func everyClassicPcap() throws {
        let files = try #require(FileManager.default.enumerator(atPath: Self.corpus.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".cap") }
        var frames = 0
        for file in files {
            do {
                frames += try Self.decode(file).count
            } catch is UnsupportedLinkType {
                continue                                            // NFLOG: not a link type finwatch captures on
            }
        }
        #expect(frames > 300)
    }
}
