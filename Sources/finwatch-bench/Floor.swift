import CPcap
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The floor: libpcap reading the file with a callback that only counts. No program that reads
/// through libpcap can go faster, so finwatch's rate is judged against this one.
enum Floor {
    struct Counts {
        var packets = 0
        var bytes = 0
    }

    struct Result {
        var counts: Counts
        var seconds: Double
        /// This process's CPU time over the same span: on a busy machine, closer to the truth.
        var cpuSeconds: Double
        var packetsPerSecond: Double { seconds > 0 ? Double(counts.packets) / seconds : 0 }
    }

    /// Reads `path` once, timing from opening to the last packet on the monotonic clock. Opened
    /// the way finwatch opens a file (pcap_fopen_offline on a stream with a 1 MiB stdio buffer
    /// and no stdio locking), so the floor stays a floor: libpcap's own pcap_open_offline
    /// (4 KiB reads, a lock per fread) is a third slower than that.
    static func run(path: String) throws(BenchError) -> Result {
        let started = monotonicSeconds()
        let cpuStarted = cpuSeconds()
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let stream = fopen(path, "rb") else {
            throw .cannotRead(path: path, reason: String(cString: strerror(errno)))
        }
        _ = setvbuf(stream, nil, _IOFBF, 1 << 20)
        _ = __fsetlocking(stream, Int32(FSETLOCKING_BYCALLER))
        guard let handle = pcap_fopen_offline_with_tstamp_precision(
            stream, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer)
        else {
            fclose(stream)
            throw .cannotRead(path: path, reason: String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { pcap_close(handle) }
        var counts = Counts()
        let status = withUnsafeMutablePointer(to: &counts) { countsPointer in
            countsPointer.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout<Counts>.size) { user in
                // -1 packets: everything in the file; returns 0 at end of file, -1 on error.
                pcap_dispatch(handle, -1, { user, header, _ in
                    guard let user, let header else { return }
                    user.withMemoryRebound(to: Counts.self, capacity: 1) { counts in
                        counts.pointee.packets += 1
                        counts.pointee.bytes += Int(header.pointee.caplen)
                    }
                }, user)
            }
        }
        let seconds = monotonicSeconds() - started
        let cpu = cpuSeconds() - cpuStarted
        guard status >= 0 else {
            throw .cannotRead(path: path, reason: String(cString: pcap_geterr(handle)))
        }
        return Result(counts: counts, seconds: seconds, cpuSeconds: cpu)
    }

    /// CPU time this process has used, in seconds.
    static func cpuSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Seconds on CLOCK_MONOTONIC: wall time that never jumps.
    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
