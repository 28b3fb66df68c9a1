@testable import finwatch
import FinwatchCore
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

    static func alert(pod: PodName?) -> AlertEvent {
        let identity = ConnectionIdentity(uid: "C7", orig: Endpoint(ip: IPAddress("198.18.0.1")!, port: 40022),
                                          resp: Endpoint(ip: IPAddress("198.18.0.2")!, port: 8080), handshakeSeen: true)
        var alert = AlertEvent(time: Timestamp(seconds: 1_795_572_251, nanoseconds: 0), identity: identity,
                               alert: .closeWaitLingering, status: .firing, side: .resp,
                               since: Timestamp(seconds: 1_795_572_191, nanoseconds: 0),
                               duration: 60_000_000_000, threshold: 60_000_000_000)
        alert.process = ProcessInfo(pid: 4242, comm: "gunicorn", unit: nil, kernelConfirmed: true, pod: pod)
        return alert
    }

    @Test func alertOfAProcessInAPod_namesThePod_withinItsReservedLength() {
        let widest = PodName(namespace: String(repeating: "n", count: 63), name: String(repeating: "\u{1}", count: 253))
        for pod in [PodName(namespace: "payments", name: "api-7c9f8d6b5-x2kqz"), widest] {
            let event = Event.alert(Self.alert(pod: pod))
            var bytes: [UInt8] = []
            event.appendJSONLine(to: &bytes)
            #expect(bytes.count <= event.maximumJSONLength)
        }
        let line = Event.alert(Self.alert(pod: PodName(namespace: "payments", name: "api-7c9f8d6b5-x2kqz"))).jsonLine
        #expect(line.contains(#""process":{"pid":4242,"comm":"gunicorn","unit":null,"kernel_confirmed":true,"pod":{"namespace":"payments","name":"api-7c9f8d6b5-x2kqz"}}"#))
    }

    @Test func alertOfAProcessOutsideAPod_hasNoPodField() {
        #expect(!Event.alert(Self.alert(pod: nil)).jsonLine.contains("pod"))
    }

    static func report(pod: ConnectionsReport.Pod?) -> ConnectionsReport {
        let address = ConnectionsReport.Address(ip: "10.0.0.5", port: 8080)
        let row = ConnectionsReport.Row(
            uid: "C1", communityId: "1:x", orig: address, resp: address, side: "resp", state: "CLOSE_WAIT",
            states: .init(orig: "FIN_WAIT_2", resp: "CLOSE_WAIT"), endpoint: address, peer: address,
            since: "t", ageMs: 252_000, alertFiring: true,
            process: .init(pid: 4242, comm: "gunicorn", unit: nil, kernelConfirmed: true, pod: pod))
        return ConnectionsReport(time: "t", capturing: true, connections: [row])
    }

    @Test func statusTable_hasAPodColumn_onlyWhenAProcessIsInAPod() {
        let withPod = Status.table(Self.report(pod: .init(namespace: "payments", name: "api-0"))).split(separator: "\n")
        #expect(withPod[1].hasSuffix("UNIT  POD"))
        #expect(withPod[2].hasSuffix("payments/api-0"))
        let without = Status.table(Self.report(pod: nil)).split(separator: "\n")
        #expect(without[1].hasSuffix("UNIT"))
        #expect(!without[1].contains("POD"))
    }

    @Test func connectionsJSON_carriesThePod() {
        let json = String(decoding: Self.report(pod: .init(namespace: "payments", name: "api-0")).encoded(), as: UTF8.self)
        #expect(json.contains(#""pod":{"name":"api-0","namespace":"payments"}"#))
        #expect(!String(decoding: Self.report(pod: nil).encoded(), as: UTF8.self).contains("pod"))
    }
}
