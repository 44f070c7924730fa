"""Config files are data with a schema: errors name the file, the key path and the line."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from shared.config_file import ConfigError, parse_yaml_model


class Team(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    capacity: int


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    teams: list[Team]


def test_a_wrong_type_names_the_key_path_and_its_line() -> None:
    text = "teams:\n  - id: a\n    capacity: 5\n  - id: b\n    capacity: lots\n"
    with pytest.raises(ConfigError) as error:
        parse_yaml_model(text, Config, name="routing.yaml")
    assert "routing.yaml:line 5: teams.1.capacity" in str(error.value)


def test_an_unknown_key_is_refused_with_its_line() -> None:
    text = "teams:\n  - id: a\n    capacity: 5\n    colour: red\n"
    with pytest.raises(ConfigError) as error:
        parse_yaml_model(text, Config, name="routing.yaml")
    assert "line 4: teams.0.colour" in str(error.value)


def test_invalid_yaml_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_yaml_model("teams: [\n", Config)


def test_a_top_level_list_is_refused() -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_yaml_model("- a\n- b\n", Config)


def test_a_valid_file_loads() -> None:
    assert parse_yaml_model("teams:\n  - {id: a, capacity: 3}\n", Config).teams[0].capacity == 3
