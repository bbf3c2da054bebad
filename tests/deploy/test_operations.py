"""docs/OPERATIONS.md: its Prometheus alert rules parse and watch only what the project exports."""

import re

import yaml

from meters import metrics
from tests.deploy.conftest import PROJECT

OPERATIONS = PROJECT / "docs" / "OPERATIONS.md"


def alert_rules() -> list[dict]:
    text = OPERATIONS.read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "groups:" in b]
    return [rule for group in yaml.safe_load(block)["groups"] for rule in group["rules"]]


def exported() -> set[str]:
    """Every metric name /metrics and the workers serve (counters with their _total)."""
    names = set()
    for collector in (metrics.READINGS, metrics.POLLS, metrics.SOURCES_FAILED, metrics.RETRIES):
        names.add(f"{collector._name}_total")
    names |= {f"{metrics.POLL_SECONDS._name}_{part}" for part in ("bucket", "sum", "count")}
    names |= set(
        re.findall(r'"(exnaton_[a-z_]+)"', (PROJECT / "meters" / "metrics.py").read_text())
    )
    return names


def test_every_alert_has_an_expression_a_duration_a_severity_and_a_summary():
    rules = alert_rules()

    assert len(rules) >= 5
    for rule in rules:
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def test_alerts_name_only_metrics_the_project_exports():
    named = {name for rule in alert_rules() for name in re.findall(r"exnaton_\w+", rule["expr"])}

    assert named - exported() == set()
    assert {"exnaton_units_overdue", "exnaton_unit_lag_seconds"} <= named
