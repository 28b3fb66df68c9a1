#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser

/// `finwatch status`: asks a running finwatch what it sees now.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the connections a running finwatch sees stuck half-closed.")

    /// The daemon's default --listen.
    static let defaultAddress = "127.0.0.1:9465"

    @Option(help: "Where the running finwatch listens (its --listen), ADDR:PORT.")
    var address: String = Status.defaultAddress

    @Flag(help: "Print /connections' JSON as is.")
    var json = false

    func run() async throws {
        let outcome = Status.report(address: address, json: json)
        if !outcome.output.isEmpty { print(outcome.output, terminator: "") }
        if !outcome.error.isEmpty {
            let line = Array((outcome.error + "\n").utf8)
            _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
        if outcome.status != 0 { throw ExitCode(outcome.status) }
    }

    /// What `finwatch status` prints and exits with; the command's whole logic, testable without
    /// a process: 0 and the table (or JSON), 64 for a bad address, 69 when nothing answers.
    static func report(address: String, json: Bool) -> (status: Int32, output: String, error: String) {
        guard let target = StatusAddress(address) else {
            return (64, "", "invalid --address \"\(address)\": expected ADDR:PORT, e.g. \(defaultAddress) or [::1]:9465")
        }
        let response: HTTPResponseBytes
        do {
            response = try HTTPResponseBytes.get(target, path: "/connections")
        } catch {
            return (69, "", "no finwatch answering on \(address) (is the service running? `systemctl status finwatch`)")
        }
        guard response.status == 200, let report = ConnectionsReport.decode(response.body) else {
            return (69, "", "something answers on \(address) but not as finwatch does (HTTP \(response.status) on /connections); is --address right?")
        }
        if json { return (0, String(decoding: response.body, as: UTF8.self), "") }
        return (0, table(report), "")
    }

    /// The human view: one row per stuck side, newest problem first (the order /connections sends).
    static func table(_ report: ConnectionsReport) -> String {
        var lines: [String] = []
        let firing = report.connections.filter(\.alertFiring).count
        if !report.capturing { lines.append("warning: finwatch is not capturing now (see `journalctl -u finwatch`)") }
        if report.connections.isEmpty {
            lines.append("no connections stuck half-closed")
            return lines.joined(separator: "\n") + "\n"
        }
        let noun = report.connections.count == 1 ? "side" : "sides"
        lines.append("\(report.connections.count) \(noun) stuck half-closed, \(firing) alert\(firing == 1 ? "" : "s") firing")
        // A POD column (namespace/name) only where some process runs in a Kubernetes pod.
        let pods = report.connections.contains { $0.process?.pod != nil }
        var rows = [["STATE", "AGE", "ALERT", "SIDE", "ENDPOINT", "PEER", "PID", "COMMAND", "UNIT"] + (pods ? ["POD"] : [])]
        for row in report.connections {
            rows.append([
                row.state, age(milliseconds: row.ageMs), row.alertFiring ? "firing" : "-", row.side,
                row.endpoint.text, row.peer.text,
                row.process.map { String($0.pid) } ?? "-",
                row.process.map { $0.kernelConfirmed ? $0.comm : "\($0.comm)?" } ?? "-",
                row.process?.unit ?? "-",
            ] + (pods ? [row.process?.pod.map { "\($0.namespace)/\($0.name)" } ?? "-"] : []))
        }
        // Laid out into one buffer: thousands of rows of padded Strings joined twice cost more
        // than reading the whole answer. Widths in Characters, counted once per cell.
        let counts = rows.map { row in row.map(Self.width) }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in counts { for (column, count) in row.enumerated() { widths[column] = max(widths[column], count) } }
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * (widths.reduce(0, +) + 2 * widths.count) + 256)
        for line in lines { out += line.utf8; out.append(UInt8(ascii: "\n")) }
        for (row, rowCounts) in zip(rows, counts) {
            for (column, cell) in row.enumerated() {
                out += cell.utf8
                if column < row.count - 1 {
                    out += repeatElement(UInt8(ascii: " "), count: widths[column] - rowCounts[column] + 2)
                }
            }
            out.append(UInt8(ascii: "\n"))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A cell's width on a terminal: its Characters (bytes, for ASCII, which most cells are).
    private static func width(_ cell: String) -> Int {
        cell.utf8.allSatisfy { $0 < 0x80 } ? cell.utf8.count : cell.count
    }

    /// `850ms`, `42s`, `4m12s`, `3h05m`, `2d04h`: two units at most, enough to read at a glance.
    static func age(milliseconds: Double) -> String {
        let ms = Int64(max(0, milliseconds))
        if ms < 1_000 { return "\(ms)ms" }
        let seconds = ms / 1_000
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3_600 { return "\(seconds / 60)m\(two(seconds % 60))s" }
        if seconds < 86_400 { return "\(seconds / 3_600)h\(two(seconds / 60 % 60))m" }
        return "\(seconds / 86_400)d\(two(seconds / 3_600 % 24))h"
    }
}

/// `--address`: `127.0.0.1:9465`, `[::1]:9465` or `localhost:9465`.
struct StatusAddress: Equatable {
    var host: String
    var port: UInt16

    init?(_ text: String) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = UInt16(portPart), port > 0 else { return nil }
        host = String(hostPart)
        self.port = port
    }
}

/// The least HTTP/1.1 client that does the job: one GET with `Connection: close` over a plain
/// socket, read to EOF. A full client library would be most of the binary for one request.
struct HTTPResponseBytes {
    var status: Int
    var body: [UInt8]

    /// Why no answer came: all of them mean "no finwatch answering" to the user.
    enum Failure: Error { case resolve, connect(Int32), io(Int32), malformed }

    /// GETs `path` from `target`, giving up after `timeout` on connect and on each read.
    static func get(_ target: StatusAddress, path: String, timeoutMilliseconds: Int32 = 3_000) throws(Failure) -> HTTPResponseBytes {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(target.host, String(target.port), &hints, &list) == 0, let first = list else { throw .resolve }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = ECONNREFUSED
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let socketDescriptor = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard socketDescriptor >= 0 else { lastError = errno; continue }
            defer { close(socketDescriptor) }
            if let error = connect(socketDescriptor, info.pointee.ai_addr, info.pointee.ai_addrlen, timeoutMilliseconds) {
                lastError = error
                continue
            }
            return try exchange(on: socketDescriptor, host: target, path: path)
        }
        throw .connect(lastError)
    }

    /// Non-blocking connect bounded by poll: a filtered port must not hang `status` for minutes.
    private static func connect(_ descriptor: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t,
                                _ timeoutMilliseconds: Int32) -> Int32? {
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        if Glibc.connect(descriptor, address, length) != 0 {
            guard errno == EINPROGRESS else { return errno }
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            guard poll(&poller, 1, timeoutMilliseconds) == 1 else { return ETIMEDOUT }
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &size)
            if error != 0 { return error }
        }
        _ = fcntl(descriptor, F_SETFL, flags)
        var timeout = timeval(tv_sec: Int(timeoutMilliseconds / 1_000), tv_usec: Int(timeoutMilliseconds % 1_000) * 1_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return nil
    }

    private static func exchange(on descriptor: Int32, host: StatusAddress, path: String) throws(Failure) -> HTTPResponseBytes {
        let hostHeader = host.host.contains(":") ? "[\(host.host)]:\(host.port)" : "\(host.host):\(host.port)"
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nAccept: application/json\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 { if errno == EINTR { continue }; throw .io(errno) }
            sent += count
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var expected: Int?
        while bytes.count < 64 << 20 {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            if count < 0 { if errno == EINTR { continue }; throw .io(errno) }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            // Done once Content-Length's bytes are in: the server's close can come a few hundred
            // ms after its last byte, and `status` must not wait for it.
            if expected == nil { expected = completeLength(bytes) }
            if let expected, bytes.count >= expected { break }
        }
        return try parse(bytes)
    }

    /// The whole response's length once its head is in: by Content-Length, or past any size
    /// when there is none (chunked, or a body to EOF); nil while the head is incomplete.
    static func completeLength(_ bytes: [UInt8]) -> Int? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let headEnd = bytes.firstRange(of: separator) else { return nil }
        let head = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self)
        for line in head.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == "content-length",
                  let length = Int(line[line.index(after: colon)...].trimmingCharacters(in: " \t")) else { continue }
            return headEnd.upperBound + length
        }
        return headEnd.upperBound + (1 << 40)   // no length: to EOF
    }

    /// Status line, headers, then a body by Content-Length, chunked, or to EOF.
    static func parse(_ bytes: [UInt8]) throws(Failure) -> HTTPResponseBytes {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let headEnd = bytes.firstRange(of: separator) else { throw .malformed }
        let head = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else { throw .malformed }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
        }
        var body = Array(bytes[headEnd.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            body = try dechunk(body)
        } else if let length = headers["content-length"].flatMap(Int.init) {
            guard body.count >= length else { throw .malformed }
            body = Array(body.prefix(length))
        }
        return HTTPResponseBytes(status: status, body: body)
    }

    private static func dechunk(_ bytes: [UInt8]) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        let crlf: [UInt8] = [13, 10]
        while index < bytes.count {
            guard let lineEnd = bytes[index...].firstRange(of: crlf) else { throw .malformed }
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: " "), radix: 16) else { throw .malformed }
            if size == 0 { return out }
            let start = lineEnd.upperBound
            guard start + size <= bytes.count else { throw .malformed }
            out.append(contentsOf: bytes[start..<(start + size)])
            index = start + size + 2
        }
        throw .malformed
    }
}

private extension StringProtocol {
    /// Trims any of `characters` from both ends (no Foundation needed for this one).
    func trimmingCharacters(in characters: String) -> String {
        let set = Set(characters)
        guard let first = firstIndex(where: { !set.contains($0) }), let last = lastIndex(where: { !set.contains($0) }) else { return "" }
        return String(self[first...last])
    }
}
