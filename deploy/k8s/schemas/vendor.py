"""Write the JSON schemas kubeconform validates LeadFlow's manifests against, so the test needs no network.

Two sources, both from package registries (``vendor.sh`` fetches them and calls this script):

* Kubernetes kinds: the ``kubernetes-validate`` wheel (PyPI) ships kubeconform's own layout for each Kubernetes
  release, with every kind's ``$ref`` pointing into one shared ``_definitions.json``. We keep only the kinds the
  manifests use and make each one standalone (its reachable definitions inlined under ``$defs``), so the vendored
  tree stays small and kubeconform resolves no reference outside the file.
* Custom resources: the CRD YAML of Strimzi, KEDA and the Prometheus operator. Each served version's
  ``openAPIV3Schema`` becomes ``crds/<group>/<kind>_<version>.json``, made strict the way kubeconform's
  ``openapi2jsonschema`` does it (unknown fields are errors, except where the CRD preserves unknown fields).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

# The Kubernetes kinds LeadFlow's manifests use, named as kubeconform names schema files. A new kind in a manifest
# needs a line here (the manifest test fails with "could not find schema" until it has one).
KUBERNETES_KINDS = (
    "configmap-v1",
    "namespace-v1",
    "secret-v1",
    "service-v1",
    "serviceaccount-v1",
    "deployment-apps-v1",
    "job-batch-v1",
    "horizontalpodautoscaler-autoscaling-v2",
    "networkpolicy-networking-v1",
    "poddisruptionbudget-policy-v1",
)

# Kind files point into the shared file; definitions inside it point at their neighbours with a local reference.
_DEFS_REF = re.compile(r"^(?:/api/_definitions\.json)?#/\$defs/(.+)$")


def _standalone(kind_schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Inline into one schema every definition it reaches, rewriting references to point inside it."""
    needed: dict[str, Any] = {}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and (match := _DEFS_REF.match(value)):
                    name = match.group(1)
                    if name not in needed:
                        needed[name] = None  # reserve first: definitions are recursive (JSONSchemaProps)
                        needed[name] = rewrite(definitions[name])
                    out[key] = f"#/$defs/{name}"
                else:
                    out[key] = rewrite(value)
            return out
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    schema = rewrite(kind_schema)
    schema.pop("$id", None)
    schema["$defs"] = dict(sorted(needed.items()))
    return schema


def vendor_kubernetes(wheel: Path, version: str, out: Path) -> list[Path]:
    """Copy the listed kinds of one Kubernetes release out of the kubernetes-validate wheel, standalone."""
    prefix = f"kubernetes_validate/kubernetes-json-schema/{version}-local-strict/"
    written = []
    with zipfile.ZipFile(wheel) as zf:
        definitions = json.loads(zf.read(prefix + "_definitions.json"))["$defs"]
        target = out / "kubernetes" / version
        target.mkdir(parents=True, exist_ok=True)
        for kind in KUBERNETES_KINDS:
            schema = _standalone(json.loads(zf.read(f"{prefix}{kind}.json")), definitions)
            path = target / f"{kind}.json"
            path.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
            written.append(path)
    return written


def _strict(node: Any) -> Any:
    """openapi2jsonschema's rules: int-or-string as oneOf, nullable as a null type, unknown fields refused."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _strict(value) for key, value in node.items()}
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node.pop("anyOf", None)
        node["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if node.pop("nullable", False) and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node


def vendor_crd(crd_file: Path, out: Path) -> list[Path]:
    """Turn every served version of each CRD in a YAML file into a strict JSON schema."""
    written = []
    for doc in yaml.safe_load_all(crd_file.read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec["versions"]:
            if not version.get("served", True) or "schema" not in version:
                continue
            schema = _strict(version["schema"]["openAPIV3Schema"])
            schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            target = out / "crds" / group
            target.mkdir(parents=True, exist_ok=True)
            path = target / f"{kind.lower()}_{version['name']}.json"
            path.write_text(json.dumps(schema, indent=1) + "\n")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Vendor the Kubernetes and CRD schemas into deploy/k8s/schemas/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-wheel", type=Path, required=True, help="kubernetes_validate-*.whl")
    parser.add_argument("--kubernetes-version", default="v1.33.0")
    parser.add_argument("--crd", type=Path, action="append", default=[], help="a CRD YAML file (repeatable)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    written = vendor_kubernetes(args.kubernetes_wheel, args.kubernetes_version, args.out)
    for crd in args.crd:
        written += vendor_crd(crd, args.out)
    for path in written:
        print(f"▸ {path.relative_to(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
