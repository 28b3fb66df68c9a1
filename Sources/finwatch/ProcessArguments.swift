import Glibc

/// The command line finwatch parses. Swift's `CommandLine` on Linux finds argv through the
/// environment block; a library preloaded to rewrite the environment before `main` (libfaketime,
/// which the clock-step test runs finwatch under) leaves it the program's name alone, and
/// finwatch would quietly run its default. /proc/self/cmdline is the kernel's copy.
enum ProcessArguments {
    /// The arguments after the program's name.
    static func current() -> [String] {
        let fromSwift = Array(CommandLine.arguments.dropFirst())
        guard fromSwift.isEmpty, let kernel = kernelCopy(), kernel.count > 1 else { return fromSwift }
        return Array(kernel.dropFirst())
    }

    private static func kernelCopy() -> [String]? {
        let descriptor = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        guard bytes.last == 0 else { return nil }
        return bytes.dropLast().split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
    }
}
