"""Fixtures for the deployment tests: the pinned kustomize and kubeconform, and each overlay rendered once."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"
BIN = ROOT / ".cache" / "bin"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.33.0"  # the release whose schemas deploy/k8s/schemas/vendor.sh vendored
# kubeconform's templates for where a kind's schema lives: the layout vendor.py writes.
KUBERNETES_SCHEMAS = str(
    SCHEMAS / "kubernetes" / "{{ .NormalizedKubernetesVersion }}" / "{{ .ResourceKind }}{{ .KindSuffix }}.json"
)
CRD_SCHEMAS = str(SCHEMAS / "crds" / "{{ .Group }}" / "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json")


@dataclass(frozen=True)
class Rendered:
    overlay: str
    text: str
    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every rendered object of one kind."""
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        """The rendered object of this kind whose name is, or starts with (hashed ConfigMaps), ``name``."""
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        found = found or [d for d in self.of_kind(kind) if d["metadata"]["name"].startswith(f"{name}-")]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name}, found {len(found)}"
        return found[0]


@pytest.fixture(scope="session")
def k8s_tools() -> Path:
    """kustomize and kubeconform at their pinned versions (tools.sh builds them once with Go, then is instant)."""
    done = subprocess.run(["bash", str(K8S / "tools.sh")], capture_output=True, text=True, check=False, timeout=280)
    assert done.returncode == 0, f"deploy/k8s/tools.sh failed:\n{done.stdout}\n{done.stderr}"
    return BIN


def kubeconform(tools: Path, manifests: str) -> subprocess.CompletedProcess[str]:
    """Validate manifests (YAML on stdin) offline against the vendored Kubernetes and CRD schemas."""
    return subprocess.run(
        [
            str(tools / "kubeconform"),
            "-strict",
            "-summary",
            "-kubernetes-version", KUBERNETES_VERSION,
            "-schema-location", KUBERNETES_SCHEMAS,
            "-schema-location", CRD_SCHEMAS,
            "-",
        ],
        input=manifests,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )  # fmt: skip


def render(tools: Path, overlay: str) -> Rendered:
    """kustomize build of one overlay; the base reads config/ outside its folder, hence the load restrictor off."""
    done = subprocess.run(
        [
            str(tools / "kustomize"),
            "build",
            "--load-restrictor",
            "LoadRestrictionsNone",
            str(K8S / "overlays" / overlay),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, f"kustomize build {overlay} failed:\n{done.stderr}"
    return Rendered(overlay, done.stdout, [d for d in yaml.safe_load_all(done.stdout) if d])


@pytest.fixture(scope="session")
def rendered(k8s_tools: Path) -> dict[str, Rendered]:
    """Every overlay, rendered once for the whole session."""
    return {overlay: render(k8s_tools, overlay) for overlay in OVERLAYS}
