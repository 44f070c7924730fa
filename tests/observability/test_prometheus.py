"""The Prometheus config and alert rules are valid, and the alerts fire (and stay quiet) as their unit tests say."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from tests.observability.metric_names import ROOT, RULES, exposed_names, names_in, recorded_names

PROMETHEUS = ROOT / "deploy" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: apt-get install prometheus (Debian) provides it"
    return subprocess.run([promtool, *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)


def test_the_scrape_config_is_valid_and_loads_the_rules() -> None:
    # Given the compose stack's prometheus.yml
    # When promtool checks it (which also checks every rule file it names)
    result = _promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    # Then it is valid and found the rules
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_the_alert_rules_are_valid() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rule_unit_tests_pass() -> None:
    # Given synthetic series for lag, dead letters, ingest 5xx, notifier failures, SLA breaches, slow alerts
    # When promtool evaluates the rules over them
    result = _promtool("test", "rules", str(PROMETHEUS / "tests" / "leadflow.rules.test.yml"))
    # Then every expected alert fires at its time, with its labels and text, and no other does
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_the_issue_asks_for_exists() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert {
        "LeadFlowSlaBreachesRising",
        "LeadFlowConsumerLagGrowing",
        "LeadFlowDeadLetters",
        "LeadFlowIngestErrors",
        "LeadFlowNotifierFailing",
    } <= alerts


def test_the_rules_only_use_metrics_the_services_define() -> None:
    # A renamed metric would otherwise leave an alert that can never fire.
    groups = yaml.safe_load(RULES.read_text())["groups"]
    used = set().union(*(names_in(rule["expr"]) for group in groups for rule in group["rules"]))
    assert used - exposed_names() - recorded_names() == set()
