#if canImport(Glibc)
import Glibc
#endif

/// Runs a command as a child and reports its wall time on the monotonic clock, its CPU time and its peak
/// resident set size from `wait4`'s rusage (what GNU time's %M reports, without its
/// centisecond wall clock).
enum Measurement {
    struct Result {
        var seconds: Double
        /// User plus system CPU time: less disturbed than wall time by other work on the machine.
        var cpuSeconds: Double
        var maxRSSKilobytes: Int
        var exitStatus: Int32
    }

    static func run(_ command: [String]) throws(BenchError) -> Result {
        guard let program = command.first else { throw .usage("measure needs a command after --") }
        let environment = currentEnvironment()
        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let started = Floor.monotonicSeconds()
        let spawned = posix_spawnp(&pid, program, nil, nil, &argv, &envp)
        guard spawned == 0 else {
            throw .cannotRead(path: program, reason: "cannot start: \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw .cannotRead(path: program, reason: "wait4: \(String(cString: strerror(errno)))") }
        }
        let seconds = Floor.monotonicSeconds() - started
        // WIFEXITED / WEXITSTATUS are macros Swift cannot import: the low 7 bits are the signal.
        let exitStatus: Int32 = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return Result(seconds: seconds, cpuSeconds: cpu, maxRSSKilobytes: Int(usage.ru_maxrss), exitStatus: exitStatus)
    }

    /// This process's environment, read from /proc (Swift 6 rejects the `environ` global as
    /// shared mutable state), so the child sees the same PATH and locale.
    private static func currentEnvironment() -> [String] {
        guard let file = fopen("/proc/self/environ", "rb") else { return [] }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
}
