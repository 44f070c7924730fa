"""The provisioned Grafana dashboard: two rows, the provisioned datasource, and only metrics that exist."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.observability.metric_names import ROOT, exposed_names, names_in, recorded_names

GRAFANA = ROOT / "deploy" / "grafana"


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAFANA / "dashboards" / "leadflow.json").read_text())
    return data


def test_the_dashboard_has_a_pipeline_health_row_and_a_business_row() -> None:
    rows = [p["title"] for p in _dashboard()["panels"] if p["type"] == "row"]
    assert rows == ["Pipeline health", "Business"]


def test_every_panel_queries_the_provisioned_prometheus_datasource() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    panels = [p for p in _dashboard()["panels"] if p["type"] != "row"]
    assert panels
    assert {p["datasource"]["uid"] for p in panels} == {uid}
    assert all(t["datasource"]["uid"] == uid for p in panels for t in p["targets"])


def test_the_dashboard_only_uses_metrics_the_services_define() -> None:
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]
    used = set().union(*(names_in(e) for e in exprs))
    assert used - exposed_names() - recorded_names() == set()


def test_the_dashboard_provider_points_where_compose_mounts_the_dashboards() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "leadflow.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in mounts


def test_panel_ids_are_unique() -> None:
    ids = [p["id"] for p in _dashboard()["panels"]]
    assert len(ids) == len(set(ids))
