import FinwatchCore
import FinwatchHost
import FoundationEssentials
import Synchronization

/// Names the Kubernetes pod a process runs in, without an API client: the pod's UID and container
/// from `/proc/PID/cgroup` (PodCgroup), its namespace and name from the kubelet's pod log
/// directories on the node (`/var/log/pods/<namespace>_<name>_<uid>`, mounted read-only into the
/// DaemonSet). The directory is listed again only for a UID not seen yet (a new pod), and at most
/// once per `relistAfter`, so a process outside any pod or a pod without logs costs nothing more.
final class KubernetesPods: Sendable {
    struct Pod: Sendable, Equatable {
        var namespace: String
        var name: String
        var uid: String
        var containerID: String?
    }

    private struct Listing {
        var byUID: [String: PodLogDirectory] = [:]
        var listedAt: ContinuousClock.Instant?
    }

    private let logDirectory: String
    private let relistAfter: Duration
    private let listing = Mutex(Listing())

    init(logDirectory: String = "/var/log/pods", relistAfter: Duration = .seconds(1)) {
        self.logDirectory = logDirectory
        self.relistAfter = relistAfter
    }

    /// The pod of a process whose `/proc/PID/cgroup` reads `cgroup`; nil outside a pod, or when
    /// the node's pod log directory does not name its UID (not mounted, or the pod is gone).
    func pod(cgroup: String) -> Pod? {
        guard let found = PodCgroup(cgroup: cgroup) else { return nil }
        let entry: PodLogDirectory? = listing.withLock { listing in
            if let known = listing.byUID[found.podUID] { return known }
            let now = ContinuousClock.now
            if let last = listing.listedAt, now - last < relistAfter { return nil }
            listing.listedAt = now
            listing.byUID = Self.list(logDirectory)
            return listing.byUID[found.podUID]
        }
        guard let entry else { return nil }
        return Pod(namespace: entry.namespace, name: entry.name, uid: entry.uid, containerID: found.containerID)
    }

    /// Every pod log directory's entry by UID; empty when the directory cannot be read.
    private static func list(_ directory: String) -> [String: PodLogDirectory] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var byUID: [String: PodLogDirectory] = [:]
        for name in names {
            if let entry = PodLogDirectory(directoryName: name) { byUID[entry.uid] = entry }
        }
        return byUID
    }
}
