import CPcap
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `finwatch-bench inject FILE --interface IFACE [--rate PPS]`: sends every frame of a capture
/// file out of an interface with pcap_inject, as fast as it can or paced to `rate` frames a
/// second, for the live benchmark (Benchmarks/live.sh runs it inside a network namespace of its
/// own, onto a veth pair, and finwatch captures on the peer). Prints what it sent and how fast.
enum Inject {
    struct Result {
        var sent = 0
        var failed = 0
        var seconds = 0.0
    }

    static func run(path: String, interface: String, rate: Int?) throws(BenchError) -> Result {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let file = pcap_open_offline(path, &errorBuffer) else {
            throw .cannotRead(path: path, reason: text(errorBuffer))
        }
        defer { pcap_close(file) }
        guard let out = pcap_open_live(interface, 65535, 0, 100, &errorBuffer) else {
            throw .cannotWrite(path: interface, reason: text(errorBuffer))
        }
        defer { pcap_close(out) }

        var result = Result()
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let started = Floor.monotonicSeconds()
        let interval = rate.map { 1.0 / Double($0) }
        while pcap_next_ex(file, &header, &data) == 1 {
            guard let header, let data else { continue }
            if let interval {
                // Paced: frame n leaves at start + n × interval (spinning: sleeps are too coarse).
                let due = started + Double(result.sent + result.failed) * interval
                while Floor.monotonicSeconds() < due {}
            }
            if pcap_inject(out, data, Int(header.pointee.caplen)) < 0 { result.failed += 1 } else { result.sent += 1 }
        }
        result.seconds = Floor.monotonicSeconds() - started
        return result
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
