"""deploy/kubernetes: the PodMonitor scrapes the DaemonSet's pods as the rules expect them
(job="finwatch"), and the namespace's Pod Security level admits what the DaemonSet asks for."""
from __future__ import annotations

from pathlib import Path

import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def daemonset_and_namespace():
    docs = documents("finwatch-daemonset.yaml")
    [ds] = [d for d in docs if d["kind"] == "DaemonSet"]
    [ns] = [d for d in docs if d["kind"] == "Namespace"]
    return ds, ns


def test_podMonitor_selectsTheDaemonSetsPods_onItsMetricsPort():
    ds, ns = daemonset_and_namespace()
    [pm] = documents("finwatch-podmonitor.yaml")
    assert pm["apiVersion"] == "monitoring.coreos.com/v1" and pm["kind"] == "PodMonitor"
    assert pm["metadata"]["namespace"] == ns["metadata"]["name"] == ds["metadata"]["namespace"]
    assert pm["spec"]["namespaceSelector"]["matchNames"] == [ns["metadata"]["name"]]
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    for key, value in pm["spec"]["selector"]["matchLabels"].items():
        assert pod_labels.get(key) == value, f"the PodMonitor selects {key}={value}, the pods carry {pod_labels}"
    ports = {p["name"]: p["containerPort"] for c in ds["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    [endpoint] = pm["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    # deploy/prometheus's rules select job="finwatch": the job label comes from this pod label.
    assert pod_labels[pm["spec"]["jobLabel"]] == "finwatch"


def test_namespacePodSecurity_admitsHostNetworkHostPIDAndCapabilities():
    ds, ns = daemonset_and_namespace()
    spec = ds["spec"]["template"]["spec"]
    needs_privileged = spec.get("hostNetwork") or spec.get("hostPID") or any(
        set(c["securityContext"]["capabilities"].get("add", [])) - {"NET_BIND_SERVICE"} for c in spec["containers"])
    labels = ns["metadata"].get("labels", {})
    assert needs_privileged
    assert labels.get("pod-security.kubernetes.io/enforce") == "privileged", labels


def test_daemonSet_mountsThePodLogDirectoriesReadOnly():
    """KubernetesPods names pods from /var/log/pods: the host's, read-only, nothing else of the host."""
    ds, _ = daemonset_and_namespace()
    spec = ds["spec"]["template"]["spec"]
    host_paths = {v["name"]: v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v}
    assert host_paths == {"pod-logs": "/var/log/pods"}
    [mount] = [m for c in spec["containers"] for m in c.get("volumeMounts", []) if m["name"] == "pod-logs"]
    assert mount["mountPath"] == "/var/log/pods" and mount["readOnly"] is True
