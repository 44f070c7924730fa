#!/usr/bin/env bash
# Re-vendor the JSON schemas in this folder (run by a maintainer when a pinned version below changes; the test and
# CI only read the result). Everything comes from package registries:
#   Kubernetes  the kubernetes-validate wheel (PyPI), which ships kubeconform-layout schemas per Kubernetes release
#   KEDA        the CRD YAML inside the github.com/kedacore/keda/v2 Go module
#   Prometheus  the CRD YAML inside the github.com/prometheus-operator/prometheus-operator Go module
#   Strimzi     generated from the io.strimzi:api classes (Maven Central) with Strimzi's own io.strimzi:crd-generator,
#               the very tool that writes the CRDs Strimzi releases; it needs Java 21+ (JAVA=/path/to/java)
set -euo pipefail

KUBERNETES_VALIDATE_VERSION="1.37.0"
KUBERNETES_VERSION="v1.33.0"
KEDA_VERSION="v2.21.0"
PROMETHEUS_OPERATOR_VERSION="v0.85.0"
STRIMZI_VERSION="1.2.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
python="${root}/.venv/bin/python"
java="${JAVA:-java}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

echo "▸ kubernetes-validate ${KUBERNETES_VALIDATE_VERSION} (Kubernetes ${KUBERNETES_VERSION} schemas)"
"${python}" -m pip download --quiet --no-deps -d "${work}" "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}"

echo "▸ KEDA ${KEDA_VERSION} and Prometheus operator ${PROMETHEUS_OPERATOR_VERSION} CRDs (Go modules)"
keda="$(go mod download -json "github.com/kedacore/keda/v2@${KEDA_VERSION}" | "${python}" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
promop="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION}" | "${python}" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"

echo "▸ Strimzi ${STRIMZI_VERSION} CRDs (generated from io.strimzi:api with io.strimzi:crd-generator)"
cat >"${work}/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>io.leadflow</groupId><artifactId>strimzi-crds</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>${STRIMZI_VERSION}</version>
      <exclusions><exclusion><groupId>io.strimzi</groupId><artifactId>test</artifactId></exclusion></exclusions></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>${STRIMZI_VERSION}</version>
      <exclusions><exclusion><groupId>io.strimzi</groupId><artifactId>test</artifactId></exclusion></exclusions></dependency>
  </dependencies>
</project>
POM
(cd "${work}" && mvn --quiet --batch-mode dependency:build-classpath -Dmdep.outputFile=classpath.txt)
"${java}" -cp "$(cat "${work}/classpath.txt")" io.strimzi.crdgenerator.CrdGenerator \
  --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
  "io.strimzi.api.kafka.model.kafka.Kafka=${work}/strimzi-kafka.yaml" \
  "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=${work}/strimzi-kafkanodepool.yaml" \
  "io.strimzi.api.kafka.model.topic.KafkaTopic=${work}/strimzi-kafkatopic.yaml"

rm -rf "${here}/kubernetes" "${here}/crds"
"${python}" "${here}/vendor.py" --out "${here}" \
  --kubernetes-wheel "${work}/kubernetes_validate-${KUBERNETES_VALIDATE_VERSION}-py3-none-any.whl" \
  --kubernetes-version "${KUBERNETES_VERSION}" \
  --crd "${work}/strimzi-kafka.yaml" --crd "${work}/strimzi-kafkanodepool.yaml" --crd "${work}/strimzi-kafkatopic.yaml" \
  --crd "${keda}/config/crd/bases/keda.sh_scaledobjects.yaml" \
  --crd "${keda}/config/crd/bases/keda.sh_triggerauthentications.yaml" \
  --crd "${promop}/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
