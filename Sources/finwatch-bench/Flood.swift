import FinwatchCore
import FinwatchFixtures

/// One segment on each of `flows` distinct 4-tuples, 1 µs apart: the flood the memory bound is
/// stated for (README, Operations: memory bound). Sources walk 198.18.0.0/16 and then ports from
/// 1024, toward 198.19.255.1:80; every SYN (or FIN+ACK) starts a connection finwatch must track
/// or evict. The same shape as the 1,000,000-tuple test, at any size.
enum Flood {
    static func write(to path: String, flows: Int, fin: Bool) throws(BenchError) {
        let file = try OutputFile(path: path)
        var builder = PcapFileBuilder(linkType: .ethernet, nanosecond: true)
        let destination = Endpoint(ip: IPAddress(ipv4: 0xC613_FF01), port: 80)
        let start = Timestamp(seconds: 1_800_000_000)
        let flags: TCPFlags = fin ? [.fin, .ack] : .syn
        for flow in 0..<flows {
            let source = Endpoint(ip: IPAddress(ipv4: 0xC612_0000 | UInt32(flow & 0xFFFF)),
                                  port: UInt16(truncatingIfNeeded: 1024 + flow >> 16))
            let frame = FrameBuilder.tcp(source: source, destination: destination,
                                         sequence: UInt32(truncatingIfNeeded: flow &* 2_654_435_761), flags: flags)
            builder.append(frame, at: start.adding(nanoseconds: Int64(flow) * 1000))
            if flow % 50_000 == 49_999 { try file.write(builder.takeBytes()) }
        }
        try file.write(builder.takeBytes())
        try file.close()
    }
}
