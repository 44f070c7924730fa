"""The bench's team: a routing config the router accepts, with the reps spread over both teams."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.team import write_team_config
from services.router.config import load_routing_config

TEST_CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "config"


def test_the_bench_team_loads_as_a_routing_config_with_every_rep_in_a_team(tmp_path: Path) -> None:
    folder = write_team_config(TEST_CONFIG, tmp_path / "config", reps=240)

    config = load_routing_config(folder / "routing.yaml")

    assert len(config.reps) == 240
    members = Counter(team.id for team in config.teams for _ in team.members)
    assert members == {"enterprise": 60, "inside": 180}
    assert len({rep.slack_id for rep in config.reps}) == 240
    assert (folder / "scoring.yaml").read_bytes() == (TEST_CONFIG / "scoring.yaml").read_bytes()


def test_a_team_of_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        write_team_config(TEST_CONFIG, tmp_path / "config", reps=1)
