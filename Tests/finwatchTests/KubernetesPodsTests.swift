@testable import finwatch
import Foundation
import Testing

/// KubernetesPods against a pod log directory laid out as the kubelet does, in a temporary
/// directory of the test's own, and against this host's own /proc/self/cgroup.
@Suite("Kubernetes pod names") struct KubernetesPodsTests {
    static let uid = "8e2a1e0c-5c4e-4d4b-9a7f-3c1e2d9b7a10"
    static let id = "1b6e5c3c4a0f2d8e7b9a1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b3c4d5e6f"
    static let cgroup = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8e2a1e0c_5c4e_4d4b_9a7f_3c1e2d9b7a10.slice/cri-containerd-\(id).scope\n"

    static func podsDirectory(_ entries: [String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("finwatch-pods-\(UUID().uuidString)")
        for entry in entries {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(entry).appendingPathComponent("app"),
                                                    withIntermediateDirectories: true)
        }
        return directory
    }

    @Test func podInTheLogDirectory_isNamedWithItsNamespaceAndContainer() throws {
        let directory = try Self.podsDirectory(["kube-system_coredns-5d78c9869d-8xkqp_0f0e8f1e-2c3b-4d5e-9f8a-1b2c3d4e5f6a",
                                                "payments_api-7c9f8d6b5-x2kqz_\(Self.uid)"])
        defer { try? FileManager.default.removeItem(at: directory) }
        let pods = KubernetesPods(logDirectory: directory.path)
        #expect(pods.pod(cgroup: Self.cgroup) == .init(namespace: "payments", name: "api-7c9f8d6b5-x2kqz", uid: Self.uid, containerID: Self.id))
    }

    @Test func podStartedAfterTheListing_isFoundOnceRelisted() throws {
        let directory = try Self.podsDirectory([])
        defer { try? FileManager.default.removeItem(at: directory) }
        let pods = KubernetesPods(logDirectory: directory.path, relistAfter: .zero)
        #expect(pods.pod(cgroup: Self.cgroup) == nil)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("payments_api-0_\(Self.uid)"),
                                                withIntermediateDirectories: true)
        #expect(pods.pod(cgroup: Self.cgroup)?.name == "api-0")
    }

    @Test func unknownUID_withinTheRelistInterval_doesNotListAgain() throws {
        let directory = try Self.podsDirectory([])
        defer { try? FileManager.default.removeItem(at: directory) }
        let pods = KubernetesPods(logDirectory: directory.path, relistAfter: .seconds(3600))
        #expect(pods.pod(cgroup: Self.cgroup) == nil)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("payments_api-0_\(Self.uid)"),
                                                withIntermediateDirectories: true)
        #expect(pods.pod(cgroup: Self.cgroup) == nil, "listed again within the interval")
    }

    @Test func missingLogDirectory_namesNoPod_withoutError() {
        let pods = KubernetesPods(logDirectory: "/nonexistent/finwatch-test/pods")
        #expect(pods.pod(cgroup: Self.cgroup) == nil)
    }

    /// This test process runs on the host, not in a pod: its own cgroup names none.
    @Test func thisProcess_isNotInAPod() throws {
        let text = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        #expect(KubernetesPods().pod(cgroup: text) == nil)
    }
}
