#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written through stdio in large chunks; `close()` reports a failed final flush.
struct OutputFile {
    let path: String
    private let stream: UnsafeMutablePointer<FILE>

    init(path: String) throws(BenchError) {
        guard let stream = fopen(path, "wb") else {
            throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        self.path = path
        self.stream = stream
    }

    /// Appends `bytes` (stdio buffers them; the generator hands over 4 MiB at a time).
    func write(_ bytes: [UInt8]) throws(BenchError) {
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, stream) }
        guard written == bytes.count else {
            throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Flushes and closes; a full disk shows up here if not before.
    func close() throws(BenchError) {
        guard fclose(stream) == 0 else {
            throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
