import Foundation
import Testing

/// The deploy/ files are checked with the tools their engines ship (promtool) where the machine
/// has them, and otherwise parsed as YAML (python3's yaml module) and checked for what matters.
@Suite("deploy/ files") struct DeployTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let deploy = root.appendingPathComponent("deploy")

    struct Run {
        var status: Int32
        var output: String
    }

    /// Runs `tool` with `arguments` in `directory`, output and errors together; nil if not installed.
    static func run(_ tool: String, _ arguments: [String], in directory: URL = deploy) throws -> Run? {
        let path = ["/usr/bin", "/usr/local/bin", "/bin"].map { "\($0)/\(tool)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    static var promtoolMissing: Bool { (try? run("promtool", ["--version"])) == nil }

    /// A YAML file's documents as JSON (python3 -c yaml.safe_load_all), so the test can look inside.
    static func yamlDocuments(_ relativePath: String) throws -> [[String: Any]] {
        let script = "import json,sys,yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"
        let run = try #require(try run("python3", ["-c", script, deploy.appendingPathComponent(relativePath).path]),
                               "python3 is needed to parse YAML")
        try #require(run.status == 0, "\(relativePath) is not valid YAML: \(run.output)")
        let documents = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [Any]
        return try #require(documents?.compactMap { $0 as? [String: Any] })
    }

    @Test(.disabled(if: DeployTests.promtoolMissing, "promtool not installed (Debian package `prometheus`): rules not checked"))
    func prometheusRules_passPromtoolCheck() throws {
        let result = try #require(try Self.run("promtool", ["check", "rules", "prometheus/finwatch-alerts.yml"]))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS: 7 rules found"))
    }

    @Test(.disabled(if: DeployTests.promtoolMissing, "promtool not installed (Debian package `prometheus`): rules not unit-tested"))
    func prometheusRules_fireWhenTheirUnitTestsSay() throws {
        let result = try #require(try Self.run("promtool", ["test", "rules", "finwatch-alerts.test.yml"],
                                               in: Self.deploy.appendingPathComponent("prometheus")))
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func prometheusRules_coverEveryAlertTheIssueAsksFor() throws {
        let text = try String(contentsOf: Self.deploy.appendingPathComponent("prometheus/finwatch-alerts.yml"), encoding: .utf8)
        for needle in [#"alert="close_wait_lingering""#, #"alert="fin_wait_2_lingering""#, #"alert="last_ack_lingering""#,
                       #"finwatch_closes_total{close=~"reset.*"}"#, "finwatch_capture_drops_total", #"up{job="finwatch"} == 0"#,
                       "for: 5m", "finwatch_ephemeral_ports_used"] {
            #expect(text.contains(needle), "missing \(needle)")
        }
    }

    @Test func vector_readsTheEventsParsesJSONAndShipsToALogStore() throws {
        let config = try #require(try Self.yamlDocuments("vector/vector.yaml").first)
        let sources = try #require(config["sources"] as? [String: [String: Any]])
        let source = try #require(sources["finwatch_events"])
        #expect(source["type"] as? String == "file")
        #expect((source["include"] as? [String])?.contains("/var/log/finwatch/events.jsonl") == true)

        let transforms = try #require(config["transforms"] as? [String: [String: Any]])
        let parsed = try #require(transforms["finwatch_parsed"])
        #expect(parsed["type"] as? String == "remap")
        #expect(parsed["inputs"] as? [String] == ["finwatch_events"])
        #expect((parsed["source"] as? String)?.contains("parse_json!") == true)

        let sinks = try #require(config["sinks"] as? [String: [String: Any]])
        let sink = try #require(sinks["loki"])
        #expect(["loki", "elasticsearch"].contains(sink["type"] as? String ?? ""))
        #expect(sink["inputs"] as? [String] == ["finwatch_parsed"])
        let labels = try #require(sink["labels"] as? [String: String])
        // Loki indexes labels: nothing unbounded (uid, address, port) may become one.
        #expect(!labels.values.contains { $0.contains("uid") || $0.contains("ip") || $0.contains("port") })
    }

    @Test func daemonSet_hasTheEssentials() throws {
        let documents = try Self.yamlDocuments("kubernetes/finwatch-daemonset.yaml")
        let daemonSet = try #require(documents.first { $0["kind"] as? String == "DaemonSet" })
        let spec = try #require((((daemonSet["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"]) as? [String: Any])
        #expect(spec["hostNetwork"] as? Bool == true)
        #expect(spec["hostPID"] as? Bool == true)
        #expect((spec["securityContext"] as? [String: Any])?["runAsNonRoot"] as? Bool == true)
        let container = try #require((spec["containers"] as? [[String: Any]])?.first)
        let security = try #require(container["securityContext"] as? [String: Any])
        #expect(security["readOnlyRootFilesystem"] as? Bool == true)
        let capabilities = try #require(security["capabilities"] as? [String: [String]])
        #expect(capabilities["drop"] == ["ALL"])
        #expect(capabilities["add"]?.contains("NET_RAW") == true)
        #expect(capabilities["add"]?.contains("NET_ADMIN") == false)  // no promiscuous mode asked for
        let limits = try #require((container["resources"] as? [String: Any])?["limits"] as? [String: Any])
        #expect(limits["memory"] != nil && limits["cpu"] != nil)
        let ports = try #require(container["ports"] as? [[String: Any]])
        #expect(ports.contains { $0["containerPort"] as? Int == 9465 && $0["name"] as? String == "metrics" })
        let liveness = try #require((container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])
        #expect(liveness["path"] as? String == "/healthz")
        let arguments = try #require(container["args"] as? [String])
        #expect(arguments.contains { $0.hasPrefix("--listen=") && $0.hasSuffix(":9465") })
    }
}
