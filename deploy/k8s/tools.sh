#!/usr/bin/env bash
# Install the two tools the manifest test needs, pinned, into .cache/bin: kustomize (renders the overlays) and
# kubeconform (validates them against the schemas vendored in deploy/k8s/schemas/). Needs Go and the Go module
# proxy, nothing else; idempotent: a tool already at its pinned version is not rebuilt.
set -euo pipefail

KUSTOMIZE_VERSION="v5.8.1"
KUBECONFORM_VERSION="v0.8.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${root}/.cache/bin"
mkdir -p "${bin}"

if ! command -v go >/dev/null 2>&1; then
  echo "✘ deploy/k8s/tools.sh needs Go (https://go.dev/doc/install) to build kustomize and kubeconform" >&2
  exit 2
fi

# A stamp per tool records the version it was built at, so a bumped pin rebuilds and an unchanged one is instant.
install_tool() {
  local name="$1" module="$2" version="$3"
  local stamp="${bin}/.${name}.version"
  if [ -x "${bin}/${name}" ] && [ "$(cat "${stamp}" 2>/dev/null)" = "${version}" ]; then
    echo "▸ ${name} ${version}: already in .cache/bin"
    return
  fi
  echo "▸ ${name} ${version}: go install ${module}@${version}"
  # CGO off: both are pure Go, and a static binary does not care which libc the machine has.
  GOBIN="${bin}" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install "${module}@${version}"
  echo "${version}" >"${stamp}"
}

install_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "${KUSTOMIZE_VERSION}"
install_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "${KUBECONFORM_VERSION}"
