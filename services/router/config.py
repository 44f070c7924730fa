"""The schema of ``routing.yaml``: teams, reps, territory rules, the fallback queue, triggers and SLA windows.

Cross-references (a rule naming a team, a team naming a rep, the catch-all default rule) are checked here,
so a bad file fails at start-up with the key path and line instead of misrouting leads at run time.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.config_file import file_version, load_yaml_model, parse_yaml_model
from shared.events import Channel, EventKind, Rank, SlaKind, Stage

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)")
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_duration(value: Any) -> timedelta:
    """A window written as "1h", "24h", "7d", "1h30m", or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration must be like '1h', '24h', '7d' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if not text or _DURATION_PART.sub("", text).strip():
            raise ValueError(f"{value!r} is not a duration like '1h', '24h', '7d' or a number of seconds")
        seconds = sum(float(num) * _DURATION_UNITS[unit] for num, unit in _DURATION_PART.findall(text))
    else:
        raise ValueError("a duration must be like '1h', '24h', '7d' or a number of seconds")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


def _parse_clock(value: Any) -> time:
    # YAML 1.1 reads an unquoted 18:00 as the base-60 integer 1080; refuse it rather than guess.
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ValueError('write the time as a quoted "HH:MM" string, e.g. "18:00"')
    match = _CLOCK.match(value.strip())
    if not match:
        raise ValueError(f'{value!r} is not a time like "09:00"')
    return time(int(match.group(1)), int(match.group(2)))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Clock = Annotated[time, BeforeValidator(_parse_clock)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"
    LEAST_LOADED = "least_loaded"


class Segment(StrEnum):
    ENTERPRISE = "enterprise"
    MID = "mid"
    SMB = "smb"


class Manager(_Config):
    name: str
    email: str
    slack_id: str


class Team(_Config):
    id: str
    name: str
    manager: Manager
    slack_channel: str | None = None
    strategy: Strategy = Strategy.ROUND_ROBIN
    members: list[str] = Field(min_length=1, description="Rep ids in rotation order.")

    @field_validator("members")
    @classmethod
    def _members_unique(cls, members: list[str]) -> list[str]:
        duplicates = sorted({m for m in members if members.count(m) > 1})
        if duplicates:
            raise ValueError(f"listed more than once: {', '.join(duplicates)}")
        return members


class WorkingHours(_Config):
    days: list[Weekday] = Field(min_length=1)
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _not_empty(self) -> WorkingHours:
        # end < start is an overnight shift; equal bounds would be an empty (or ambiguous 24 h) shift.
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class OutOfOffice(_Config):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> OutOfOffice:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Rep(_Config):
    id: str
    name: str
    email: str
    slack_id: str
    team: str = Field(description="Home team: its manager is the escalation contact.")
    timezone: str
    locale: Literal["en", "ja"] = "en"
    working_hours: WorkingHours | None = Field(
        default=None, description="Omit for a rep who is always on shift (on call, follow the sun)."
    )
    out_of_office: list[OutOfOffice] = Field(default_factory=list)
    capacity: int = Field(ge=0, description="Most open leads at once.")
    weight: int = Field(default=1, ge=1)
    active: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}, e.g. 'Asia/Tokyo'") from None
        return value


class RepOverride(_Config):
    """Runtime changes to a rep (PUT /v1/reps/{id}) layered over routing.yaml; None keeps the file's value."""

    active: bool | None = None
    capacity: int | None = Field(default=None, ge=0)
    out_of_office: list[OutOfOffice] | None = None


class Conditions(_Config):
    """Everything must hold for a rule to match; an empty set of conditions matches every lead."""

    rank: list[Rank] | None = None
    stage: list[Stage] | None = None
    channel: list[Channel] | None = None
    country: list[str] | None = None
    region: list[str] | None = None
    segment: list[Segment] | None = None
    employees_min: int | None = Field(default=None, ge=0)
    employees_max: int | None = Field(default=None, ge=0)
    industry: list[str] | None = None
    score_min: float | None = None

    @field_validator("country")
    @classmethod
    def _upper_countries(cls, value: list[str] | None) -> list[str] | None:
        return [c.strip().upper() for c in value] if value is not None else None

    @model_validator(mode="after")
    def _one_size_test(self) -> Conditions:
        if self.segment is not None and (self.employees_min is not None or self.employees_max is not None):
            raise ValueError("use either segment or employees_min/employees_max, not both")
        if (
            self.employees_min is not None
            and self.employees_max is not None
            and self.employees_min > self.employees_max
        ):
            raise ValueError("employees_min is greater than employees_max")
        return self

    @property
    def is_empty(self) -> bool:
        return all(value is None for value in self.model_dump().values())


class Rule(_Config):
    id: str
    description: str = ""
    when: Conditions = Field(default_factory=Conditions)
    team: str
    strategy: Strategy | None = Field(default=None, description="Overrides the team's strategy.")


class FallbackQueue(_Config):
    id: str
    name: str
    manager: Manager
    slack_channel: str


class AccountMatch(_Config):
    enabled: bool = True


class SeminarFollowUp(_Config):
    """A webinar attendee gets a thank-you with material, sent for the lead's owner (see docs/routing.md)."""

    enabled: bool = True


class Triggers(_Config):
    on_mql: bool = True
    rank_a_kinds: list[EventKind] = Field(min_length=1)


class SegmentBounds(_Config):
    enterprise_min: int = Field(ge=1, description="Employees at which a company is enterprise.")
    mid_min: int = Field(ge=1, description="Employees at which a company is mid-market; below is smb.")

    @model_validator(mode="after")
    def _ordered(self) -> SegmentBounds:
        if self.mid_min >= self.enterprise_min:
            raise ValueError("mid_min must be below enterprise_min")
        return self


class Sla(_Config):
    windows: dict[SlaKind, Duration]
    reminders_at: list[float] = Field(description="Fractions of the window at which to remind the owner.")
    follow_up_target: int = Field(ge=1)

    @field_validator("windows")
    @classmethod
    def _every_kind(cls, windows: dict[SlaKind, timedelta]) -> dict[SlaKind, timedelta]:
        missing = [kind.value for kind in SlaKind if kind not in windows]
        if missing:
            raise ValueError(f"missing a window for: {', '.join(missing)}")
        return windows

    @field_validator("reminders_at")
    @classmethod
    def _fractions(cls, values: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in values):
            raise ValueError("each reminder is a fraction of the window, strictly between 0 and 1")
        return sorted(set(values))


class RoutingConfig(_Config):
    """routing.yaml: who can own a lead, which team gets which lead, and how fast they must act."""

    regions: dict[str, str] = Field(default_factory=dict, description="Country code → region.")
    segments: SegmentBounds
    teams: list[Team] = Field(min_length=1)
    reps: list[Rep] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1, description="First match wins; the last must be a catch-all.")
    fallback_queue: FallbackQueue
    account_match: AccountMatch = Field(default_factory=AccountMatch)
    seminar_follow_up: SeminarFollowUp = Field(default_factory=SeminarFollowUp)
    triggers: Triggers
    sla: Sla

    _version: str = PrivateAttr(default="inline")
    _teams: dict[str, Team] = PrivateAttr(default_factory=dict)
    _reps: dict[str, Rep] = PrivateAttr(default_factory=dict)

    @field_validator("regions")
    @classmethod
    def _upper_region_keys(cls, regions: dict[str, str]) -> dict[str, str]:
        return {country.strip().upper(): region for country, region in regions.items()}

    @model_validator(mode="after")
    def _cross_references(self) -> RoutingConfig:
        problems = _cross_reference_problems(self)
        if problems:
            # Raised with precise locations so parse_yaml_model can name the line of each one.
            raise ValidationError.from_exception_data(
                "RoutingConfig",
                [
                    InitErrorDetails(type=PydanticCustomError("routing_config", msg), loc=loc, input=None)
                    for loc, msg in problems
                ],
            )
        self._teams = {team.id: team for team in self.teams}
        self._reps = {rep.id: rep for rep in self.reps}
        return self

    @property
    def version(self) -> str:
        """The short hash of the file this came from ("inline" when parsed from text)."""
        return self._version

    def team(self, team_id: str) -> Team:
        """The team with this id (KeyError if unknown)."""
        return self._teams[team_id]

    def rep(self, rep_id: str) -> Rep | None:
        """The rep with this id, or None when routing.yaml does not know them."""
        return self._reps.get(rep_id)


def _cross_reference_problems(config: RoutingConfig) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    id_lists = {
        "teams": [team.id for team in config.teams],
        "reps": [rep.id for rep in config.reps],
        "rules": [rule.id for rule in config.rules],
    }
    for field, ids in id_lists.items():
        for index, item_id in enumerate(ids):
            if item_id in ids[:index]:
                problems.append(((field, index, "id"), f"duplicate id {item_id!r}"))
    team_ids = {team.id for team in config.teams}
    rep_ids = {rep.id for rep in config.reps}
    known_regions = set(config.regions.values())
    for t_index, team in enumerate(config.teams):
        for m_index, member in enumerate(team.members):
            if member not in rep_ids:
                problems.append((("teams", t_index, "members", m_index), f"unknown rep {member!r}"))
    for r_index, rep in enumerate(config.reps):
        if rep.team not in team_ids:
            problems.append((("reps", r_index, "team"), f"unknown team {rep.team!r}"))
    last = len(config.rules) - 1
    for index, rule in enumerate(config.rules):
        if rule.team not in team_ids:
            problems.append((("rules", index, "team"), f"rule {rule.id!r} names unknown team {rule.team!r}"))
        for region in rule.when.region or []:
            if region not in known_regions:
                problems.append((("rules", index, "when", "region"), f"region {region!r} is not a value in regions"))
        if rule.when.is_empty and index != last:
            later = ", ".join(r.id for r in config.rules[index + 1 :])
            problems.append(
                (("rules", index), f"catch-all rule {rule.id!r} is not last, so these never match: {later}")
            )
    if not config.rules[last].when.is_empty:
        problems.append(
            (("rules", last), f"the last rule ({config.rules[last].id!r}) must be a default: no conditions")
        )
    return problems


def parse_routing_config(text: str, version: str = "inline") -> RoutingConfig:
    """Parse routing.yaml text; ConfigError names the key path and line of each problem."""
    config = parse_yaml_model(text, RoutingConfig, name="routing.yaml")
    config._version = version
    return config


def load_routing_config(path: Path) -> RoutingConfig:
    """Load routing.yaml from disk, versioned by its content hash."""
    config = load_yaml_model(path, RoutingConfig)
    config._version = file_version(path)
    return config
