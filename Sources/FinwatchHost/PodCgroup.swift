/// The Kubernetes pod and container a process runs in, from the text of `/proc/PID/cgroup`: the
/// kubelet puts every container in a cgroup under `kubepods`, named after the pod's UID, with the
/// container runtime's ID as the leaf. Pure: the executable reads the files.
///
/// The shapes, by kubelet cgroup driver and runtime (QoS level `burstable`/`besteffort`, or none
/// for guaranteed pods):
/// - systemd driver: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/`
///   then `cri-containerd-<id>.scope` (containerd), `crio-<id>.scope` (CRI-O), `docker-<id>.scope` (Docker)
/// - cgroupfs driver: `/kubepods/burstable/pod<uid>/<id>` (containerd, Docker), `…/pod<uid>/crio-<id>` (CRI-O)
/// - the kubelet nested in a systemd slice of its own (kind, some distributions):
///   `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod<uid>.slice/…`
package struct PodCgroup: Sendable, Equatable {
    /// The pod's UID in its usual form, `0f0e8f1e-2c3b-4d5e-9f8a-1b2c3d4e5f6a`.
    package var podUID: String
    /// The runtime's container ID (64 hex digits), nil for the pod's own cgroup (no container).
    package var containerID: String?

    package init(podUID: String, containerID: String?) {
        self.podUID = podUID
        self.containerID = containerID
    }

    /// From `/proc/PID/cgroup`: cgroup v2's `0::` line first, then any v1 hierarchy. nil when
    /// the process is not in a Kubernetes pod.
    package init?(cgroup text: String) {
        var paths: [Substring] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty { paths.insert(parts[2], at: 0) } else { paths.append(parts[2]) }
        }
        for path in paths {
            if let found = Self(path: path) {
                self = found
                return
            }
        }
        return nil
    }

    /// From one cgroup path.
    package init?(path: Substring) {
        let segments = path.split(separator: "/")
        guard segments.contains(where: { $0.hasPrefix("kubepods") || $0.hasPrefix("kubelet-kubepods") }),
              let podIndex = segments.lastIndex(where: { Self.podUID(inSegment: $0) != nil }),
              let uid = Self.podUID(inSegment: segments[podIndex]) else { return nil }
        podUID = uid
        containerID = podIndex + 1 < segments.count ? Self.containerID(inSegment: segments[podIndex + 1]) : nil
    }

    /// `pod<uid>` (cgroupfs) or `…-pod<uid with _>.slice` (systemd) → the UID with dashes.
    static func podUID(inSegment segment: Substring) -> String? {
        var name = segment
        if name.hasSuffix(".slice") { name = name.dropLast(".slice".count) }
        guard name.count >= 39 else { return nil }
        let uid = name.suffix(36)
        let head = name.dropLast(36)
        guard head.hasSuffix("pod") else { return nil }
        let before = head.dropLast(3)
        guard before.isEmpty || before.hasSuffix("-") else { return nil }
        var out = ""
        for (index, character) in uid.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard character == "-" || character == "_" else { return nil }
                out.append("-")
            } else {
                guard character.isHexDigit else { return nil }
                out.append(character)
            }
        }
        return out.lowercased()
    }

    /// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`, `crio-<id>` or a bare
    /// `<id>` → the 64-hex-digit ID; nil otherwise (crio-conmon-…, a sub-group of the container).
    static func containerID(inSegment segment: Substring) -> String? {
        var name = segment
        if name.hasSuffix(".scope") { name = name.dropLast(".scope".count) }
        for prefix in ["cri-containerd-", "crio-", "docker-", "cri-dockerd-"] where name.hasPrefix(prefix) {
            name = name.dropFirst(prefix.count)
            break
        }
        guard name.count == 64, name.allSatisfy(\.isHexDigit) else { return nil }
        return String(name)
    }
}

/// The kubelet's pod log directories, `/var/log/pods/<namespace>_<name>_<uid>`: the pod's name and
/// namespace by UID, without an API client. Neither a namespace nor a pod name may contain `_`
/// (DNS labels and subdomains), so the three parts split cleanly.
package struct PodLogDirectory: Sendable, Equatable {
    package var namespace: String
    package var name: String
    package var uid: String

    package init?(directoryName: String) {
        let parts = directoryName.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty,
              let uid = PodCgroup.podUID(inSegment: "pod" + parts[2]) else { return nil }
        namespace = String(parts[0])
        name = String(parts[1])
        self.uid = uid
    }
}
