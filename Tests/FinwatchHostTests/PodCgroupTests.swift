import FinwatchCore
import FinwatchHost
import Testing

/// The pod behind a process from /proc/PID/cgroup, in the shapes the kubelet's two cgroup drivers
/// and the three runtimes really write (cgroup v2 and v1), and what is not a pod.
@Suite("Kubernetes pod from cgroup") struct PodCgroupTests {
    static let uid = "8e2a1e0c-5c4e-4d4b-9a7f-3c1e2d9b7a10"
    static let uidUnderscored = "8e2a1e0c_5c4e_4d4b_9a7f_3c1e2d9b7a10"
    static let id = "1b6e5c3c4a0f2d8e7b9a1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b3c4d5e6f"

    struct Shape: Sendable, CustomTestStringConvertible {
        var name: String
        var cgroup: String
        var testDescription: String { name }
    }

    static let shapes: [Shape] = [
        Shape(name: "containerd, systemd driver, v2, burstable",
              cgroup: "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice/cri-containerd-\(id).scope\n"),
        Shape(name: "containerd, cgroupfs driver, v2, besteffort",
              cgroup: "0::/kubepods/besteffort/pod\(uid)/\(id)\n"),
        Shape(name: "CRI-O, systemd driver, v2, besteffort",
              cgroup: "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidUnderscored).slice/crio-\(id).scope\n"),
        Shape(name: "CRI-O, cgroupfs driver, v2",
              cgroup: "0::/kubepods/burstable/pod\(uid)/crio-\(id)\n"),
        Shape(name: "Docker, systemd driver, v2, guaranteed",
              cgroup: "0::/kubepods.slice/kubepods-pod\(uidUnderscored).slice/docker-\(id).scope\n"),
        Shape(name: "Docker, cgroupfs driver, v1 (every hierarchy)",
              cgroup: """
              12:memory:/kubepods/pod\(uid)/\(id)
              4:cpu,cpuacct:/kubepods/pod\(uid)/\(id)
              1:name=systemd:/kubepods/pod\(uid)/\(id)
              0::/

              """),
        Shape(name: "containerd, systemd driver, v1 hybrid",
              cgroup: """
              5:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice/cri-containerd-\(id).scope
              1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice/cri-containerd-\(id).scope
              0::/

              """),
        Shape(name: "kubelet in a slice of its own (kind)",
              cgroup: "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod\(uidUnderscored).slice/cri-containerd-\(id).scope\n"),
        Shape(name: "a sub-group inside the container (systemd in the container)",
              cgroup: "0::/kubepods.slice/kubepods-pod\(uidUnderscored).slice/cri-containerd-\(id).scope/init.scope\n"),
    ]

    @Test("each runtime and driver names the pod and the container", arguments: shapes)
    func podAndContainer(shape: Shape) {
        #expect(PodCgroup(cgroup: shape.cgroup) == PodCgroup(podUID: Self.uid, containerID: Self.id))
    }

    @Test func crioConmon_namesThePod_notAContainer() {
        let text = "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(Self.uidUnderscored).slice/crio-conmon-\(Self.id).scope\n"
        #expect(PodCgroup(cgroup: text) == PodCgroup(podUID: Self.uid, containerID: nil))
    }

    @Test func podSandboxGroupItself_namesThePod() {
        #expect(PodCgroup(cgroup: "0::/kubepods/burstable/pod\(Self.uid)\n") == PodCgroup(podUID: Self.uid, containerID: nil))
    }

    @Test("not in a pod: nil", arguments: [
        "0::/system.slice/nginx.service\n",
        "0::/\n",
        "0::/user.slice/user-1000.slice/session-3.scope\n",
        "0::/system.slice/docker-1b6e5c3c4a0f2d8e7b9a1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b3c4d5e6f.scope\n",   // Docker without Kubernetes
        "0::/kubepods.slice/kubepods-burstable.slice\n",   // the QoS group, no pod
        "0::/system.slice/pod8e2a1e0c-5c4e-4d4b-9a7f-3c1e2d9b7a10\n",   // looks like a pod, not under kubepods
        "",
    ])
    func notAPod(text: String) {
        #expect(PodCgroup(cgroup: text) == nil)
    }

    @Test func malformedUID_isNotAPod() {
        #expect(PodCgroup(cgroup: "0::/kubepods/burstable/pod8e2a1e0c-5c4e-4d4b-9a7f-3c1e2d9b7a1z/\(Self.id)\n") == nil)
        #expect(PodCgroup(cgroup: "0::/kubepods/burstable/pod8e2a1e0c5c4e4d4b9a7f3c1e2d9b7a10/\(Self.id)\n") == nil)
    }

    @Test func upperCaseUID_isNormalisedToLowerCase() {
        #expect(PodCgroup(cgroup: "0::/kubepods/pod\(Self.uid.uppercased())/\(Self.id)\n")?.podUID == Self.uid)
    }

    @Test func podLogDirectory_splitsNamespaceNameAndUID() {
        let entry = PodLogDirectory(directoryName: "payments_api-7c9f8d6b5-x2kqz_\(Self.uid)")
        #expect(entry?.namespace == "payments")
        #expect(entry?.name == "api-7c9f8d6b5-x2kqz")
        #expect(entry?.uid == Self.uid)
    }

    @Test("not a pod log directory", arguments: ["payments_api", "_api_\(uid)", "a_b_c_\(uid)", "payments_api_not-a-uid", ".", "lost+found"])
    func notAPodLogDirectory(name: String) {
        #expect(PodLogDirectory(directoryName: name) == nil)
    }
}
