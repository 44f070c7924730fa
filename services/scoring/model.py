"""The scoring model: the schema of ``scoring.yaml``, every number a sales team can tune."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.config_file import file_version, load_yaml_model, parse_yaml_model
from shared.events import EventKind


def fold(value: object) -> str:
    """NFKC, case-folded and stripped: how config values and event values are compared."""
    return unicodedata.normalize("NFKC", str(value)).casefold().strip()


class _Strict(BaseModel):
    # forbid unknown keys: a typo in scoring.yaml must fail loudly, not silently score nothing
    model_config = ConfigDict(frozen=True, extra="forbid")


class DetailCondition(_Strict):
    """A test on one ``details`` value of an event: one of some values, or a regex searched in it."""

    key: str
    one_of: tuple[str, ...] = ()
    matches: str | None = None
    or_absent: bool = Field(default=False, description="Whether an event without the key passes.")

    @field_validator("one_of", mode="before")
    @classmethod
    def _one_value_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("matches")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _exactly_one_test(self) -> DetailCondition:
        if bool(self.one_of) == (self.matches is not None):
            raise ValueError("give exactly one of 'one_of' or 'matches'")
        return self

    def holds(self, details: dict[str, Any]) -> bool:
        """True when the event's details pass this condition."""
        value = details.get(self.key)
        if value is None or value == "":
            return self.or_absent
        if self.matches is not None:
            return self._pattern.search(str(value)) is not None
        return fold(value) in self._folded_options

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(self.matches or "", flags=re.IGNORECASE)

    @cached_property
    def _folded_options(self) -> frozenset[str]:
        return frozenset(fold(option) for option in self.one_of)


class EventMatch(_Strict):
    """An event kind, optionally narrowed by conditions on its details; a bare kind name is accepted."""

    kind: EventKind
    when: tuple[DetailCondition, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _bare_kind(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    def matches_event(self, kind: EventKind, details: dict[str, Any]) -> bool:
        """True when an event of ``kind`` with ``details`` is one of these."""
        return kind == self.kind and all(condition.holds(details) for condition in self.when)


class MatchSet:
    """Any of some event matches, looked up by the event's kind: what rank and temperature ask of every event.

    ``matches`` answers exactly as ``any(m.matches_event(kind, details) for m in matches)`` would, without trying
    the matches of other kinds.
    """

    __slots__ = ("_bare", "_narrowed")

    def __init__(self, matches: Iterable[EventMatch]) -> None:
        bare: set[EventKind] = set()
        narrowed: dict[EventKind, list[tuple[DetailCondition, ...]]] = {}
        for match in matches:
            if match.when:
                narrowed.setdefault(match.kind, []).append(match.when)
            else:
                bare.add(match.kind)
        self._bare = frozenset(bare)
        self._narrowed = {kind: tuple(whens) for kind, whens in narrowed.items()}

    def matches(self, kind: EventKind, details: dict[str, Any]) -> bool:
        """True when an event of ``kind`` with ``details`` is one of these."""
        if kind in self._bare:
            return True
        whens = self._narrowed.get(kind, ())
        return any(all(condition.holds(details) for condition in when) for when in whens)


class Cap(_Strict):
    """At most ``points`` from one rule within any ``window_days`` (rolling window ending at each event)."""

    points: float = Field(gt=0)
    window_days: float = Field(gt=0)


class IntentRule(EventMatch):
    """Points for one kind of behaviour; the first rule in the list that matches an event scores it."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    points: float
    decays: bool = Field(description="Whether the points halve with age; a bounce stays a bounce.")
    cap: Cap | None = None

    @model_validator(mode="after")
    def _caps_limit_gains(self) -> IntentRule:
        if self.cap is not None and self.points <= 0:
            raise ValueError("a cap limits positive points; this rule's points are not positive")
        return self


class IntentRules(_Strict):
    half_life_days: float = Field(gt=0)
    rules: tuple[IntentRule, ...]

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: tuple[IntentRule, ...]) -> tuple[IntentRule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules

    # The rules of each kind, in file order: a rule of another kind can never match, and every lead's recompute
    # asks this for each of its events, so only the few candidates of the event's own kind are tried.
    # (A cached_property, not a private attribute: pydantic's private attribute lookup is slow on a hot path.)
    @cached_property
    def _by_kind(self) -> dict[EventKind, tuple[IntentRule, ...]]:
        by_kind: dict[EventKind, list[IntentRule]] = {}
        for rule in self.rules:
            by_kind.setdefault(rule.kind, []).append(rule)
        return {kind: tuple(rules) for kind, rules in by_kind.items()}

    def rule_for(self, kind: EventKind, details: dict[str, Any]) -> IntentRule | None:
        """The first rule matching an event, or None when the event scores nothing."""
        for rule in self._by_kind.get(kind, ()):
            if not rule.when or all(condition.holds(details) for condition in rule.when):
                return rule
        return None


class SeniorityPoints(_Strict):
    decision_maker: float
    manager: float
    staff: float
    unknown: float


class EmployeeBand(_Strict):
    """Companies with ``min`` to ``max`` employees, inclusive; no ``max`` means no upper bound."""

    min: int = Field(ge=0)
    max: int | None = None
    points: float

    @model_validator(mode="after")
    def _ordered(self) -> EmployeeBand:
        if self.max is not None and self.max < self.min:
            raise ValueError("max is below min")
        return self

    def contains(self, employees: int) -> bool:
        """True when a company of ``employees`` falls in this band."""
        return employees >= self.min and (self.max is None or employees <= self.max)


class TargetIndustries(_Strict):
    points: float
    names: tuple[str, ...]

    @field_validator("names")
    @classmethod
    def _folded(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(fold(name) for name in names)


class EmailDomainRule(_Strict):
    """Points for an email domain in a list (subdomains included) or ending with a suffix."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    points: float
    domains: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()

    @field_validator("domains", "suffixes")
    @classmethod
    def _folded(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(fold(value) for value in values)

    def matches_domain(self, domain: str) -> bool:
        """True when ``domain`` (already folded) is covered by this rule."""
        # the domain or one of its parent domains is listed (the same as comparing with every listed entry)
        listed = self._listed
        if domain in listed or any(domain[at + 1 :] in listed for at, char in enumerate(domain) if char == "."):
            return True
        return any(domain.endswith(suffix) for suffix in self.suffixes)

    @cached_property
    def _listed(self) -> frozenset[str]:
        return frozenset(self.domains)


class FitRules(_Strict):
    seniority: SeniorityPoints
    employee_bands: tuple[EmployeeBand, ...]
    target_industries: TargetIndustries
    countries: dict[str, float] = Field(default_factory=dict)
    email_domains: tuple[EmailDomainRule, ...] = ()

    @field_validator("employee_bands")
    @classmethod
    def _bands_do_not_overlap(cls, bands: tuple[EmployeeBand, ...]) -> tuple[EmployeeBand, ...]:
        ordered = sorted(bands, key=lambda band: band.min)
        for lower, upper in pairwise(ordered):
            if lower.max is None or lower.max >= upper.min:
                raise ValueError(f"the bands starting at {lower.min} and {upper.min} overlap")
        return bands

    @field_validator("countries")
    @classmethod
    def _folded_countries(cls, countries: dict[str, float]) -> dict[str, float]:
        return {fold(name): points for name, points in countries.items()}


class Thresholds(_Strict):
    mql: float
    sql: float

    @model_validator(mode="after")
    def _sql_above_mql(self) -> Thresholds:
        if self.sql < self.mql:
            raise ValueError("the sql threshold is below the mql threshold")
        return self


class Engagement(_Strict):
    """Repeated engagement: at least ``min_count`` matching events within any ``window_days``."""

    kinds: tuple[EventMatch, ...]
    min_count: int = Field(ge=1)
    window_days: float = Field(gt=0)

    @cached_property
    def kind_set(self) -> MatchSet:
        return MatchSet(self.kinds)


class RankRules(_Strict):
    recency_days: float = Field(gt=0)
    a: tuple[EventMatch, ...]
    b: tuple[EventMatch, ...]
    b_engagement: Engagement

    @cached_property
    def a_set(self) -> MatchSet:
        return MatchSet(self.a)

    @cached_property
    def b_set(self) -> MatchSet:
        return MatchSet(self.b)


class TemperatureRules(_Strict):
    hot_days: float = Field(gt=0)
    warm_days: float = Field(gt=0)
    hot: tuple[EventMatch, ...]
    warm: tuple[EventMatch, ...]

    @cached_property
    def hot_set(self) -> MatchSet:
        return MatchSet(self.hot)

    @cached_property
    def warm_or_hot_set(self) -> MatchSet:
        # a buying signal past the hot window still shows interest: it counts as warm
        return MatchSet((*self.hot, *self.warm))


class ScoringFile(_Strict):
    """What ``scoring.yaml`` holds."""

    decimals: int = Field(ge=0, description="Rounding of totals and reason values.")
    thresholds: Thresholds
    fit: FitRules
    intent: IntentRules
    rank: RankRules
    temperature: TemperatureRules


class Memo:
    """A bounded memo of pure results under one model, emptied when full (no eviction bookkeeping)."""

    __slots__ = ("_values", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._values: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        return self._values.get(key)

    def put(self, key: Any, value: Any) -> None:
        if len(self._values) >= self.max_size:
            self._values.clear()
        self._values[key] = value


class ScoringModel(ScoringFile):
    """A loaded scoring model; ``version`` is the short hash of the file it came from."""

    version: str

    # What the model says about one event or one profile does not depend on the lead's other events, and every
    # recompute asks it again for each event in the lead's history: worked out once, kept with the model (a
    # reloaded model starts empty). Sizes bound the memory: ~300 bytes an event shape, ~1 KB a profile (3 + 4 MB
    # full; twice that took the service past its RSS budget at 100,000 leads).
    @cached_property
    def event_memo(self) -> Memo:
        return Memo(10_000)

    @cached_property
    def fit_memo(self) -> Memo:
        return Memo(4_000)


def parse_scoring_model(text: str, version: str = "inline", *, name: str = "<scoring.yaml>") -> ScoringModel:
    """Parse scoring YAML text; raises ConfigError naming the key path and line of each problem."""
    return _versioned(parse_yaml_model(text, ScoringFile, name=name), version)


def load_scoring_model(path: Path) -> ScoringModel:
    """Load a scoring.yaml file, versioned by its content hash; raises ConfigError."""
    return _versioned(load_yaml_model(path, ScoringFile), file_version(path))


def _versioned(parsed: ScoringFile, version: str) -> ScoringModel:
    # the sections are already validated models; pydantic keeps model instances as they are
    return ScoringModel.model_validate({**dict(parsed), "version": version})
