import Foundation
import Testing

/// The shipped unit, checked by systemd's own tools: `systemd-analyze verify` (syntax, unknown
/// settings) and `systemd-analyze security --offline=true` (the exposure score operators see),
/// plus the lines the contract and the hardening depend on.
@Suite("finwatch.service")
struct SystemdUnitTests {
    /// The exposure score measured for the shipped unit; a change that weakens the sandbox
    /// raises the score and fails here. Lower it when the unit gets stricter.
    static let exposureCeiling = 1.7

    /// The contract's configuration errors (sysexits): restarting cannot fix them.
    static let configurationErrorStatuses: Set<String> = ["64", "65", "66", "69", "77"]

    @Test func verify_passesWithoutWarnings() throws {
        let unit = try StagedUnit()
        let result = try runTool("systemd-analyze", ["verify", unit.path])
        #expect(result.status == 0, "systemd-analyze verify failed:\n\(result.output)")
        #expect(Self.warnings(in: result.output).isEmpty, "warnings:\n\(result.output)")
    }

    /// Proves the warning check above is not vacuous: a misspelt setting is caught.
    @Test func verify_reportsAMisspeltSetting() throws {
        let unit = try StagedUnit(edit: { $0.replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSystm=strict") })
        let result = try runTool("systemd-analyze", ["verify", unit.path])
        #expect(!Self.warnings(in: result.output).isEmpty, "no warning for ProtectSystm=:\n\(result.output)")
    }

    @Test func security_exposureIsAtMostTheMeasuredFigure() throws {
        let unit = try StagedUnit()
        let result = try runTool("systemd-analyze", ["security", "--offline=true", "--no-pager", unit.path])
        let exposure = try #require(Self.exposure(in: result.output), "no exposure line in:\n\(result.output)")
        #expect(exposure > 0)
        #expect(exposure <= Self.exposureCeiling, "exposure \(exposure):\n\(result.output)")
    }

    /// The score really moves with the sandbox: without the capability and file-system lines it
    /// must be worse, or the assertion above would prove nothing.
    @Test func security_weakerUnitScoresWorse() throws {
        let unit = try StagedUnit(edit: { text in
            text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("CapabilityBoundingSet=") && !$0.hasPrefix("ProtectSystem=") && !$0.hasPrefix("SystemCallFilter=") }
                .joined(separator: "\n")
        })
        let result = try runTool("systemd-analyze", ["security", "--offline=true", "--no-pager", unit.path])
        let exposure = try #require(Self.exposure(in: result.output))
        #expect(exposure > Self.exposureCeiling + 1)
    }

    @Test func restartPreventExitStatus_isExactlyTheConfigurationErrors() throws {
        let settings = try UnitFile.shipped().settings
        let statuses = Set(try #require(settings["RestartPreventExitStatus"]?.last).split(separator: " ").map(String.init))
        #expect(statuses == Self.configurationErrorStatuses)
        #expect(settings["Restart"] == ["on-failure"])
    }

    @Test func notifyAndWatchdog_areConfigured() throws {
        let settings = try UnitFile.shipped().settings
        #expect(settings["Type"] == ["notify"])
        #expect(settings["NotifyAccess"] == ["main"])
        #expect(settings["WatchdogSec"] == ["30s"])
        #expect(settings["TimeoutStopSec"] == ["10s"])
        #expect(settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"])
    }

    @Test func capabilities_areOnlyCaptures() throws {
        let settings = try UnitFile.shipped().settings
        #expect(settings["CapabilityBoundingSet"] == ["CAP_NET_RAW"])
        #expect(settings["AmbientCapabilities"] == ["CAP_NET_RAW"])
    }

    @Test(arguments: [
        ("DynamicUser", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"), ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"), ("ProtectClock", "yes"), ("ProtectHostname", "yes"),
        ("RestrictNamespaces", "yes"), ("RestrictRealtime", "yes"), ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"), ("MemoryDenyWriteExecute", "yes"), ("SystemCallArchitectures", "native"),
        ("RestrictAddressFamilies", "AF_PACKET AF_UNIX AF_INET AF_INET6 AF_NETLINK"),
        ("UMask", "0027"), ("LogsDirectory", "finwatch"),
        // invisible would hide the processes finwatch names in alerts; pid would hide /proc/net.
        ("ProtectProc", "default"), ("ProcSubset", "all"),
    ])
    func hardeningLine_isPresent(key: String, value: String) throws {
        #expect(try UnitFile.shipped().settings[key] == [value])
    }

    @Test func systemCallFilter_allowsSystemServiceOnly() throws {
        let filters = try #require(try UnitFile.shipped().settings["SystemCallFilter"])
        #expect(filters.first == "@system-service")
        #expect(filters.dropFirst().allSatisfy { $0.hasPrefix("~") })
    }

    /// Every option in /etc/default/finwatch is documented with the default the unit really
    /// uses, and reaches the command line.
    @Test func defaultsFile_matchesTheUnitsDefaultsAndCommandLine() throws {
        let unit = try UnitFile.shipped()
        let unitDefaults = Dictionary(
            (unit.settings["Environment"] ?? []).map { line in
                let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }, uniquingKeysWith: { _, last in last })
        let documented = try String(contentsOf: UnitFile.repository.appending(path: "systemd/finwatch.default"), encoding: .utf8)
            .split(separator: "\n")
            .filter { $0.hasPrefix("#FINWATCH_") }
            .map { line in
                let parts = line.dropFirst().split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }
        #expect(documented.count == 11)
        #expect(Dictionary(documented, uniquingKeysWith: { _, last in last }) == unitDefaults)
        let execStart = try #require(unit.settings["ExecStart"]?.last)
        for (name, _) in documented {
            #expect(execStart.contains("${\(name)}") || execStart.contains("$\(name)"), "\(name) unused")
        }
        for flag in ["--interface=", "--filter=", "--output=", "--close-wait-threshold=", "--fin-wait-2-threshold=",
                     "--last-ack-threshold=", "--time-wait=", "--max-connections=", "--stats-interval="] {
            #expect(execStart.contains(flag))
        }
        #expect(unit.settings["EnvironmentFile"] == ["-/etc/default/finwatch"])
    }

    // MARK: - Helpers

    /// Lines of `systemd-analyze` output that point at a problem in a unit.
    static func warnings(in output: String) -> [Substring] {
        output.split(separator: "\n").filter { line in
            ["unknown", "failed", "invalid", "ignoring", "deprecated", "not supported"].contains {
                line.lowercased().contains($0)
            }
        }
    }

    /// The number in "→ Overall exposure level for finwatch.service: 1.7 OK".
    static func exposure(in output: String) -> Double? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("Overall exposure level") }),
              let afterColon = line.split(separator: ":").last?.split(separator: " ").first
        else { return nil }
        return Double(afterColon)
    }
}

/// The unit copied to a temporary directory with ExecStart pointing at /bin/true: `verify`
/// checks that ExecStart's binary exists, and finwatch is not installed on a build machine.
/// Every other line is the shipped one.
private final class StagedUnit {
    let directory: URL
    var path: String { directory.appending(path: "finwatch.service").path }

    init(edit: (String) -> String = { $0 }) throws {
        let text = try String(contentsOf: UnitFile.location, encoding: .utf8)
        let staged = edit(text.replacingOccurrences(of: "ExecStart=/usr/local/bin/finwatch", with: "ExecStart=/bin/true"))
        try #require(staged.contains("ExecStart=/bin/true"))
        directory = FileManager.default.temporaryDirectory.appending(path: "finwatch-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try staged.write(to: directory.appending(path: "finwatch.service"), atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }  // best effort: a temp dir
}

/// The unit's [Service]/[Unit] settings, each key with its values in order (continuation
/// lines joined), enough to assert on single lines without a full systemd parser.
private struct UnitFile {
    let settings: [String: [String]]

    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let location = repository.appending(path: "systemd/finwatch.service")

    static func shipped() throws -> UnitFile {
        try UnitFile(text: String(contentsOf: location, encoding: .utf8))
    }

    init(text: String) {
        var settings: [String: [String]] = [:]
        var logical: [String] = []
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if pending.isEmpty && (line.hasPrefix("#") || line.hasPrefix(";") || line.isEmpty) { continue }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
            } else {
                logical.append(pending + line)
                pending = ""
            }
        }
        for line in logical where !line.hasPrefix("[") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let value = parts[1].split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            settings[String(parts[0]), default: []].append(value)
        }
        self.settings = settings
    }
}

/// Runs `tool` (found on PATH) and returns its exit status and combined output.
private func runTool(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
