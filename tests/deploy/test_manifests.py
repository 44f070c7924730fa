"""The Kubernetes manifests: every overlay renders, validates against the Kubernetes and CRD schemas offline, and
keeps the promises the services rely on (topics of the contract, lag-based scaling per consumer group, probes)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from services.notifier.settings import default_consumer_groups
from services.router.settings import RouterSettings
from services.scoring.settings import ScoringSettings
from shared.events import Topics
from tests.deploy.conftest import OVERLAYS, ROOT, Rendered, kubeconform

# What each consumer service reads: the (topic, group) pairs its app.py consumes, as its settings name them.
CONSUMERS = {
    "scoring": {(Topics.EVENTS, ScoringSettings.model_fields["consumer_group"].default)},
    "router": {(Topics.SCORED, RouterSettings.model_fields["consumer_group"].default)},
    "notifier": {(topic, group) for topic, group, _ in default_consumer_groups()},
}
SERVICES = ("ingest", "scoring", "router", "notifier")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_validates_against_the_kubernetes_and_crd_schemas(
    overlay: str, rendered: dict[str, Rendered], k8s_tools: Path
) -> None:
    # Given the overlay rendered by kustomize
    manifests = rendered[overlay].text
    # When kubeconform checks it strictly against the vendored schemas
    done = kubeconform(k8s_tools, manifests)
    # Then every object is valid, and none was skipped for want of a schema
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("kind", "name", "mutate"),
    [
        ("Deployment", "scoring", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readynessProbe={})),
        ("KafkaTopic", "lead-events-v1", lambda d: d["spec"].update(partitions="six")),
        ("Kafka", "leadflow", lambda d: d["spec"]["kafka"].update(replicas=3)),
        ("ScaledObject", "router", lambda d: d["spec"]["triggers"][0]["metadata"].update(lagThreshold=200)),
    ],
)
def test_the_schemas_reject_a_mistake_in_a_manifest(
    kind: str, name: str, mutate: object, rendered: dict[str, Rendered], k8s_tools: Path
) -> None:
    # Given one rendered object with a mistake kubectl apply or the operator would refuse
    obj = copy.deepcopy(rendered["prod"].one(kind, name))  # the rendering is shared by the whole session
    assert callable(mutate)
    mutate(obj)
    # When it is validated
    done = kubeconform(k8s_tools, yaml.safe_dump(obj))
    # Then the validation fails, naming the object
    assert done.returncode != 0
    assert f"{kind} {name} is invalid" in done.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_of_the_event_contract_is_a_kafka_topic_with_six_partitions(
    overlay: str, rendered: dict[str, Rendered]
) -> None:
    # Given the overlay's KafkaTopic resources
    topics = {t["spec"]["topicName"]: t for t in rendered[overlay].of_kind("KafkaTopic")}
    # Then each topic of shared/events.py is declared, on the cluster the manifests create, with six partitions
    assert sorted(topics) == sorted(Topics.ALL)
    for topic in topics.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "leadflow"
        assert topic["spec"]["partitions"] == 6


def test_production_topics_survive_one_broker_down_without_losing_an_acknowledged_event(
    rendered: dict[str, Rendered],
) -> None:
    # Given the production overlay
    prod = rendered["prod"]
    # Then every topic has three replicas and needs two in sync for acks=all, on at least three brokers
    for topic in prod.of_kind("KafkaTopic"):
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
    brokers = [p for p in prod.of_kind("KafkaNodePool") if "broker" in p["spec"]["roles"]]
    assert sum(p["spec"]["replicas"] for p in brokers) >= 3
    config = prod.one("Kafka", "leadflow")["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == 2
    assert config["unclean.leader.election.enable"] is False


def test_the_dev_cluster_runs_one_kafka_node_whose_topics_fit_on_it(rendered: dict[str, Rendered]) -> None:
    # Given the dev overlay
    dev = rendered["dev"]
    # Then one node is both controller and broker, and no topic asks for more replicas than that node
    (pool,) = dev.of_kind("KafkaNodePool")
    assert pool["spec"]["replicas"] == 1
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    for topic in dev.of_kind("KafkaTopic"):
        assert topic["spec"]["replicas"] == 1
        assert topic["spec"]["config"]["min.insync.replicas"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(CONSUMERS))
def test_each_consumer_scales_on_the_lag_of_its_own_group_up_to_the_partition_count(
    overlay: str, service: str, rendered: dict[str, Rendered]
) -> None:
    # Given the consumer's ScaledObject and the topics it reads
    scaled = rendered[overlay].one("ScaledObject", service)
    groups = CONSUMERS[service]
    topics = {topic for topic, _ in groups}
    partitions = [
        t["spec"]["partitions"] for t in rendered[overlay].of_kind("KafkaTopic") if t["spec"]["topicName"] in topics
    ]
    # Then it scales its own Deployment on the lag of each group it reads a topic in, never beyond one pod a partition
    assert scaled["spec"]["scaleTargetRef"]["name"] == service
    triggers = scaled["spec"]["triggers"]
    assert {(t["metadata"]["topic"], t["metadata"]["consumerGroup"]) for t in triggers} == groups
    for trigger in triggers:
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["bootstrapServers"] == "leadflow-kafka-bootstrap:9092"
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    assert scaled["spec"]["maxReplicaCount"] <= min(partitions)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingest_scales_on_cpu_and_nothing_pins_an_autoscaled_replica_count(
    overlay: str, rendered: dict[str, Rendered]
) -> None:
    # Given the overlay
    out = rendered[overlay]
    # When ingest's HorizontalPodAutoscaler is read
    hpa = out.one("HorizontalPodAutoscaler", "ingest")
    # Then it targets CPU utilisation, and no Deployment sets replicas an apply would reset under the autoscalers
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ingest"
    assert all("replicas" not in d["spec"] for d in out.of_kind("Deployment"))


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_probed_runs_unprivileged_and_has_a_disruption_budget(
    overlay: str, service: str, rendered: dict[str, Rendered]
) -> None:
    # Given the service's Deployment
    out = rendered[overlay]
    pod = out.one("Deployment", service)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    # Then readiness asks /readyz and liveness /healthz on the port the Service targets
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert out.one("Service", service)["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    # And it runs as the image's non-root user, with no way to gain privileges, requests and memory limit set
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    # And a node drain takes at most one of its pods at a time
    budget = out.one("PodDisruptionBudget", service)
    assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": service}
    # And Prometheus finds its /metrics
    annotations = out.one("Deployment", service)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(container["ports"][0]["containerPort"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_is_committed_only_referenced(overlay: str, rendered: dict[str, Rendered]) -> None:
    # Given the rendered overlay
    out = rendered[overlay]
    # Then it creates no Secret, and every credential comes from a secretKeyRef
    assert out.of_kind("Secret") == []
    refs = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for kind in ("Deployment", "Job")
        for obj in out.of_kind(kind)
        for env in obj["spec"]["template"]["spec"]["containers"][0].get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert refs == {"leadflow-database", "leadflow-ingest", "leadflow-notifier"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_models_configmap_carries_the_repository_config_files_unchanged(
    overlay: str, rendered: dict[str, Rendered]
) -> None:
    # Given the generated ConfigMap the services mount at LEADFLOW_CONFIG_DIR
    config = rendered[overlay].one("ConfigMap", "leadflow-config")
    # Then it holds config/scoring.yaml and config/routing.yaml byte for byte, under a content-hashed name
    for name in ("scoring.yaml", "routing.yaml"):
        assert config["data"][name] == (ROOT / "config" / name).read_text()
    assert config["metadata"]["name"] != "leadflow-config"


def test_production_scrapes_through_a_service_monitor_on_the_named_http_port(rendered: dict[str, Rendered]) -> None:
    # Given the production overlay
    prod = rendered["prod"]
    # When its ServiceMonitor is read
    monitor = prod.one("ServiceMonitor", "leadflow")
    # Then it selects every LeadFlow Service by label, each of which exposes the port it scrapes
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [s for s in prod.of_kind("Service") if selector.items() <= s["metadata"]["labels"].items()]
    assert sorted(s["metadata"]["name"] for s in services) == sorted(SERVICES)
    assert all(s["spec"]["ports"][0]["name"] == monitor["spec"]["endpoints"][0]["port"] for s in services)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migration_job_runs_the_image_migrate_mode_once(overlay: str, rendered: dict[str, Rendered]) -> None:
    # Given the migration Job
    job = rendered[overlay].one("Job", "leadflow-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    # Then it runs the same image as the services in its migrate mode, and is not restarted in place on failure
    services_image = rendered[overlay].one("Deployment", "scoring")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == services_image["image"]
    assert container["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
