import FinwatchCore
import Foundation
import Glibc
import Testing

/// A real VXLAN tunnel between two network namespaces this suite creates (and deletes, whatever
/// happens): a veth underlay 198.18.60.1–.2, VXLAN VNI 42 on UDP 4789 over it, the overlay
/// 198.18.61.1–.2, and a real TCP connection through the kernel's stack across it. finwatch runs
/// in the server's namespace. Addresses from 198.18.0.0/15 only.
@Suite("live: a VXLAN tunnel between two namespaces", .serialized) struct TunnelLiveTests {
    static let canRun = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
        && (FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip"))

    struct Lab {
        let client: String, server: String, clientVeth: String, serverVeth: String, vxlan: String
        let directory: String

        init() throws {
            let tag = "\(getpid() % 100_000)\(Int.random(in: 0..<100))"
            (client, server) = ("fwt15c-\(tag)", "fwt15s-\(tag)")
            (clientVeth, serverVeth, vxlan) = ("fwu\(tag)c", "fwu\(tag)s", "fwx\(tag)")
            directory = try ServiceSupport.temporaryDirectory()
            do {
                try Self.ip(["netns", "add", client])
                try Self.ip(["netns", "add", server])
                try Self.ip(["-n", client, "link", "add", clientVeth, "type", "veth", "peer", "name", serverVeth, "netns", server])
                for (namespace, veth, underlay, overlay, remote) in [
                    (client, clientVeth, "198.18.60.1", "198.18.61.1", "198.18.60.2"),
                    (server, serverVeth, "198.18.60.2", "198.18.61.2", "198.18.60.1"),
                ] {
                    try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
                    try Self.ip(["-n", namespace, "addr", "add", "\(underlay)/24", "dev", veth])
                    try Self.ip(["-n", namespace, "link", "set", veth, "up"])
                    try Self.ip(["-n", namespace, "link", "add", vxlan, "type", "vxlan", "id", "42", "local", underlay,
                                 "remote", remote, "dstport", "4789", "dev", veth])
                    try Self.ip(["-n", namespace, "addr", "add", "\(overlay)/24", "dev", vxlan])
                    try Self.ip(["-n", namespace, "link", "set", vxlan, "up"])
                }
            } catch {
                remove()
                throw error
            }
        }

        func remove() {
            _ = try? ServiceSupport.tool("/usr/bin/env", ["ip", "netns", "del", client])
            _ = try? ServiceSupport.tool("/usr/bin/env", ["ip", "netns", "del", server])
            try? FileManager.default.removeItem(atPath: directory)
        }

        static func ip(_ arguments: [String]) throws {
            let status = try ServiceSupport.tool("/usr/bin/env", ["ip"] + arguments)
            guard status == 0 else { throw ServiceSupport.Failure(description: "ip \(arguments.joined(separator: " ")) exited \(status)") }
        }

        /// finwatch in the server's namespace on `interface`, once its start event is out.
        func startFinwatch(_ interface: String, output: String) throws -> FinwatchProcess {
            guard let binary = FinwatchProcess.binary else { throw ServiceSupport.Failure(description: "finwatch binary not found") }
            let finwatch = try FinwatchProcess(executable: "/usr/bin/env", [
                "ip", "netns", "exec", server, binary.path, "--interface", interface, "--no-listen", "--output", output,
            ])
            let started = ServiceSupport.waitUntil(seconds: 10) {
                ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("\"type\":\"start\"")
            }
            guard started else {
                finwatch.signal(SIGKILL)
                _ = try? finwatch.wait(seconds: 5)
                throw ServiceSupport.Failure(description: "finwatch wrote no start event within 10 s")
            }
            // libpcap's handle is active once start is written; give the kernel ring a moment.
            usleep(300_000)
            return finwatch
        }

        /// One TCP connection through the tunnel: a server in its namespace on 198.18.61.2:`port`
        /// reads to the end and closes; the client connects, sends, and closes first. Bounded.
        func connection(port: Int) throws {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            server.arguments = ["ip", "netns", "exec", self.server, "timeout", "20", "python3", "-c", """
                import socket
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("198.18.61.2", \(port))); s.listen(1); s.settimeout(15)
                c, _ = s.accept(); c.settimeout(15)
                while c.recv(4096): pass
                c.close(); s.close()
                """]
            try server.run()
            usleep(300_000)
            let status = try ServiceSupport.tool("/usr/bin/env", ["ip", "netns", "exec", client, "timeout", "20", "python3", "-c", """
                import socket, time
                for attempt in range(50):
                    try:
                        c = socket.create_connection(("198.18.61.2", \(port)), timeout=5); break
                    except OSError:
                        time.sleep(0.1)
                c.sendall(b"through the tunnel" * 10); time.sleep(0.2); c.close(); time.sleep(0.5)
                """])
            server.waitUntilExit()
            guard status == 0, server.terminationStatus == 0 else {
                throw ServiceSupport.Failure(description: "the connection failed: client \(status), server \(server.terminationStatus)")
            }
        }
    }

    /// Runs one connection with finwatch on `interface`; its events after SIGTERM.
    static func run(_ lab: Lab, interface: String, port: Int) throws -> [[String: Any]] {
        let output = lab.directory + "/events-\(interface).jsonl"
        let finwatch = try lab.startFinwatch(interface, output: output)
        defer { finwatch.signal(SIGKILL); _ = try? finwatch.wait(seconds: 5) }
        try lab.connection(port: port)
        _ = ServiceSupport.waitUntil(seconds: 5) {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("\"type\":\"close\"")
        }
        finwatch.signal(SIGTERM)
        let result = try finwatch.wait(seconds: 15)
        #expect(result.status == 0 && !result.signaled, "stderr: \(result.stderr)")
        return try ServiceSupport.events(try String(contentsOfFile: output, encoding: .utf8))
    }

    @Test("on the underlay veth: one close record, inner endpoints, the tunnel",
          .enabled(if: canRun, "needs root, iproute2 and python3"), .timeLimit(.minutes(2)))
    func underlay_oneCloseRecordWithInnerEndpointsAndTunnel() throws {
        let lab = try Lab()
        defer { lab.remove() }
        let events = try Self.run(lab, interface: lab.serverVeth, port: 8015)
        let closes = ServiceSupport.of("close", events).filter { ServiceSupport.origPort($0) != nil }
        #expect(closes.count == 1, "close records: \(closes)")
        let close = try #require(closes.first)
        #expect((close["orig"] as? [String: Any])?["ip"] as? String == "198.18.61.1")
        #expect((close["resp"] as? [String: Any])?["ip"] as? String == "198.18.61.2")
        #expect((close["resp"] as? [String: Any])?["port"] as? Int == 8015)
        #expect(close["close"] as? String == "normal")
        let tunnel = try #require(close["tunnel"] as? [[String: Any]])
        #expect(tunnel.count == 1)
        #expect(tunnel.first?["kind"] as? String == "vxlan")
        #expect(tunnel.first?["vni"] as? Int == 42)
        let outer = try #require(tunnel.first?["outer"] as? [String: Any])
        #expect(Set([outer["src"] as? String, outer["dst"] as? String]) == ["198.18.60.1", "198.18.60.2"])
    }

    @Test("on any (underlay and overlay both seen): one record, no packet counted twice",
          .enabled(if: canRun, "needs root, iproute2 and python3"), .timeLimit(.minutes(2)))
    func any_oneRecord_copiesCountedOnce() throws {
        let lab = try Lab()
        defer { lab.remove() }
        let events = try Self.run(lab, interface: "any", port: 8016)
        let closes = ServiceSupport.of("close", events).filter { ($0["resp"] as? [String: Any])?["port"] as? Int == 8016 }
        #expect(closes.count == 1, "close records: \(closes)")
        let close = try #require(closes.first)
        #expect(close["close"] as? String == "normal")
        // Every segment was captured twice (vxlan device and veth): each side's count is its own.
        let packets = try #require(close["packets"] as? [String: Int])
        let stop = try #require(events.last)
        let counted = try #require(stop["packets"] as? [String: Any])
        #expect((counted["duplicate"] as? Int ?? 0) >= packets.values.reduce(0, +),
                "each segment's second copy is a duplicate: \(counted), record \(packets)")
        #expect(close["tunnel"] != nil, "the server's endpoint sees the encapsulated form first")
    }
}
