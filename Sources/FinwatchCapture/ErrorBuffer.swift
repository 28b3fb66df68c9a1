import CPcap

/// libpcap's PCAP_ERRBUF_SIZE message buffer, and its text up to the NUL.
struct ErrorBuffer {
    var bytes = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))

    var text: String {
        String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
