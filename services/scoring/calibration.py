"""Calibration: what sales outcomes say each scoring rule is worth. Pure: values in, a report out.

Each lead with a sales outcome becomes one sample: its rule *activations* as of the moment sales first judged
it (a fit rule that fired counts 1, an intent event counts its decayed share, so ``score = Σ points × x``)
and whether it converted. An L2-regularised logistic regression on those features gives each rule a weight in
log-odds; dividing by the log-odds one current point is worth (a one-feature fit on the current score) puts
the suggestion in the same currency as today's points and thresholds. Suggestions only: a person edits the
YAML.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from services.scoring.domain import compute_score, merge_profile
from services.scoring.model import ScoringModel
from shared.events import Channel, EventKind, LeadEvent, Rank

Vector = npt.NDArray[np.float64]

# The latest of these decides the label; the first of them is when sales judged the lead.
POSITIVE = frozenset({EventKind.SALES_WON, EventKind.SALES_ACCEPTED})
NEGATIVE = frozenset({EventKind.SALES_LOST, EventKind.SALES_REJECTED})


@dataclass(frozen=True)
class Sample:
    """One lead with an outcome: rule activations when sales first judged it, and whether it converted."""

    lead_id: str
    features: Mapping[str, float]
    score: float
    rank: Rank
    channel: Channel
    converted: bool


@dataclass(frozen=True)
class RuleInfo:
    """A rule of the current model as the report lists it."""

    rule: str
    label: str
    points: float


def _order(event: LeadEvent) -> tuple[datetime, str]:
    return (event.occurred_at, event.event_id)


def _probe(model: ScoringModel) -> ScoringModel:
    # A rule worth 0 points gives no reason, so it would never show up as a feature: score with every such
    # rule worth 1 to see where it fires (its current points stay 0 in the report).
    rules = tuple(r.model_copy(update={"points": 1.0}) if r.points == 0 else r for r in model.intent.rules)
    seniority = model.fit.seniority.model_copy(
        update={k: 1.0 for k, v in model.fit.seniority.model_dump().items() if v == 0}
    )
    return model.model_copy(
        update={
            "intent": model.intent.model_copy(update={"rules": rules}),
            "fit": model.fit.model_copy(update={"seniority": seniority}),
        }
    )


def rule_catalog(model: ScoringModel) -> list[RuleInfo]:
    """Every rule of the model with its current points, in the order the YAML lists them."""
    fit = model.fit
    rules = [
        RuleInfo(f"fit.seniority.{name}", f"Seniority: {name}", points)
        for name, points in fit.seniority.model_dump().items()
    ]
    rules += [
        RuleInfo(
            f"fit.employees.{b.min}_{'plus' if b.max is None else b.max}",
            f"{b.min}{'+' if b.max is None else f'–{b.max}'} employees",
            b.points,
        )
        for b in fit.employee_bands
    ]
    rules.append(RuleInfo("fit.industry.target", "Target industry", fit.target_industries.points))
    rules += [RuleInfo(f"fit.country.{c}", f"Country {c}", p) for c, p in fit.countries.items()]
    rules += [RuleInfo(f"fit.email.{r.id}", r.label, r.points) for r in fit.email_domains]
    rules += [RuleInfo(f"intent.{r.id}", r.label, r.points) for r in model.intent.rules]
    return rules


def sample_of(events: Sequence[LeadEvent], model: ScoringModel) -> Sample | None:
    """The lead's sample, or None when sales never accepted, rejected, won or lost it."""
    ordered = sorted(events, key=_order)
    outcomes = [e for e in ordered if e.kind in POSITIVE or e.kind in NEGATIVE]
    if not outcomes:
        return None
    judged = outcomes[0]
    # only what was known when sales first judged the lead: later activity would leak the outcome
    before = [e for e in ordered if _order(e) < _order(judged)]
    result = compute_score(merge_profile(before), before, _probe(model), judged.occurred_at)
    features: dict[str, float] = defaultdict(float)
    for reason in result.reasons:
        features[reason.rule] += reason.value / reason.points
    current = {info.rule: info.points for info in rule_catalog(model)}
    sources = [e.channel for e in ordered if e.channel is not Channel.FEEDBACK]
    return Sample(
        lead_id=ordered[0].lead_id,
        features=dict(features),
        score=round(sum(current.get(rule, 0.0) * x for rule, x in features.items()), model.decimals),
        rank=result.rank,
        channel=sources[0] if sources else Channel.FEEDBACK,
        converted=outcomes[-1].kind in POSITIVE,
    )


# ---- the statistics ---------------------------------------------------------------------------------------


def fit_logistic(x: Vector, y: Vector, *, l2: float, max_iter: int = 100, tol: float = 1e-9) -> tuple[float, Vector]:
    """L2-regularised logistic regression by Newton's method; returns (intercept, weights).

    The intercept is not penalised. The objective is convex, so Newton converges in a few steps.
    """
    n, k = x.shape
    design = np.hstack([np.ones((n, 1)), x])
    penalty = np.full(k + 1, l2)
    penalty[0] = 0.0
    beta = np.zeros(k + 1)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        gradient = design.T @ (y - p) - penalty * beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        # lstsq, not solve: a rule that never fires leaves a singular Hessian when l2 is 0
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        beta = beta + step
        if float(np.max(np.abs(step))) < tol:
            break
    return float(beta[0]), beta[1:]


def auc(scores: Vector, labels: Vector) -> float | None:
    """Area under the ROC curve (ties count half); None without both classes."""
    positives, negatives = scores[labels == 1], scores[labels == 0]
    if len(positives) == 0 or len(negatives) == 0:
        return None
    # Mann–Whitney: the chance that a random converter outscores a random non-converter
    greater = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(positives) * len(negatives)))


def is_held_out(lead_id: str, fraction: float) -> bool:
    """A stable split by lead id: the same leads are held out on every run."""
    bucket = int.from_bytes(hashlib.sha256(lead_id.encode()).digest()[:8], "big") / 2**64
    return bucket < fraction


# ---- the report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSuggestion:
    rule: str
    label: str
    current: float
    suggested: float | None  # None: too few leads where the rule fired to say anything
    weight: float | None  # log-odds per activation
    leads: int  # training leads where the rule fired


@dataclass(frozen=True)
class Conversion:
    group: str
    leads: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.leads if self.leads else 0.0


@dataclass(frozen=True)
class CalibrationReport:
    samples: int
    train: int
    held_out: int
    converted: int
    rules: list[RuleSuggestion]
    by_channel: list[Conversion]
    by_rank: list[Conversion]
    auc_current: float | None
    auc_suggested: float | None
    logodds_per_point: float | None  # what one current point is worth; None when the current score says nothing
    current_mql: float
    suggested_mql: float | None  # the MQL bar that keeps its conversion odds under the suggested points
    notes: list[str]


class NotEnoughData(ValueError):
    """Too few leads with outcomes (or only one kind of outcome) to fit anything."""


def _conversion(samples: Sequence[Sample], key: str) -> list[Conversion]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for sample in samples:
        groups[str(getattr(sample, key).value)].append(sample.converted)
    return [Conversion(group, len(v), sum(v)) for group, v in sorted(groups.items())]


def calibrate(
    samples: Sequence[Sample],
    catalog: Sequence[RuleInfo],
    *,
    holdout: float,
    l2: float,
    min_support: int,
    mql: float,
) -> CalibrationReport:
    """Fit the rules' weights on the training leads; compare current and suggested on the held-out ones."""
    train = [s for s in samples if not is_held_out(s.lead_id, holdout)]
    held = [s for s in samples if is_held_out(s.lead_id, holdout)]
    if len({s.converted for s in train}) < 2:
        raise NotEnoughData(
            f"{len(train)} training leads with outcomes and not both converted and not converted: nothing to fit"
        )
    names = [info.rule for info in catalog]
    column = {name: i for i, name in enumerate(names)}

    def matrix(rows: Sequence[Sample]) -> Vector:
        x = np.zeros((len(rows), len(names)))
        for i, sample in enumerate(rows):
            for rule, value in sample.features.items():
                if rule in column:
                    x[i, column[rule]] = value
        return x

    x_train, y_train = matrix(train), np.array([s.converted for s in train], dtype=float)
    intercept, weights = fit_logistic(x_train, y_train, l2=l2)
    # what one current point is worth in log-odds: a one-feature fit on today's score
    current_intercept, (slope,) = fit_logistic(np.array([[s.score] for s in train]), y_train, l2=0.0)
    notes: list[str] = []
    support = (x_train != 0).sum(axis=0)
    suggested_mql: float | None = None
    if slope > 1e-9:
        per_point: float | None = float(slope)
        scale = 1.0 / slope
        # the bar at which a lead converts as often under the suggestion as at today's MQL bar: points are
        # relative (the regression's intercept absorbs a baseline), so the bar moves with them
        suggested_mql = round(mql + (current_intercept - intercept) / slope)
    else:
        per_point = None
        # today's score does not rank converters above the rest: keep the largest rule's size instead
        largest_weight = float(np.max(np.abs(weights))) or 1.0
        scale = max((abs(info.points) for info in catalog), default=1.0) / largest_weight
        notes.append("the current score does not predict conversion; suggestions are scaled to today's largest rule")
    rules = [
        RuleSuggestion(
            rule=info.rule,
            label=info.label,
            current=info.points,
            suggested=round(float(weights[i]) * scale) if support[i] >= min_support else None,
            weight=float(weights[i]) if support[i] >= min_support else None,
            leads=int(support[i]),
        )
        for i, info in enumerate(catalog)
    ]
    labels = np.array([s.converted for s in held], dtype=float)
    auc_current = auc(np.array([s.score for s in held]), labels) if held else None
    auc_suggested = auc(matrix(held) @ weights, labels) if held else None
    if auc_current is None:
        notes.append("the held-out leads lack converted or non-converted ones: no AUC (hold out more, or wait)")
    return CalibrationReport(
        samples=len(samples),
        train=len(train),
        held_out=len(held),
        converted=sum(s.converted for s in samples),
        rules=rules,
        by_channel=_conversion(samples, "channel"),
        by_rank=_conversion(samples, "rank"),
        auc_current=auc_current,
        auc_suggested=auc_suggested,
        logodds_per_point=per_point,
        current_mql=mql,
        suggested_mql=suggested_mql,
        notes=notes,
    )


def render(report: CalibrationReport) -> str:
    """The report as text for a terminal."""

    def pct(c: Conversion) -> str:
        return f"{c.group:<14} {c.leads:>7} {c.converted:>9} {100 * c.rate:>7.1f}%"

    def num(value: float | None, fmt: str = "{:.3f}") -> str:
        return "—" if value is None else fmt.format(value)

    lines = [
        f"Leads with a sales outcome: {report.samples} ({report.converted} converted); "
        f"trained on {report.train}, held out {report.held_out}",
        "",
        f"{'rule':<36} {'current':>8} {'suggested':>10} {'leads':>7}  label",
    ]
    for r in report.rules:
        suggested = "—" if r.suggested is None else f"{r.suggested:+.0f}"
        lines.append(f"{r.rule:<36} {r.current:>+8.0f} {suggested:>10} {r.leads:>7}  {r.label}")
    lines += ["", f"{'channel':<14} {'leads':>7} {'converted':>9} {'rate':>8}"]
    lines += [pct(c) for c in report.by_channel]
    lines += ["", f"{'rank':<14} {'leads':>7} {'converted':>9} {'rate':>8}"]
    lines += [pct(c) for c in report.by_rank]
    lines += [
        "",
        f"AUC on held-out leads: current {num(report.auc_current)}, suggested {num(report.auc_suggested)}",
        f"one current point = {num(report.logodds_per_point, '{:.4f}')} log-odds of converting",
        f"MQL bar: current {report.current_mql:.0f}, suggested {num(report.suggested_mql, '{:.0f}')} "
        "(the bar at which leads convert as often under the suggested points)",
    ]
    lines += [f"note: {note}" for note in report.notes]
    lines.append("Suggestions only: edit scoring.yaml, then reload (POST /v1/admin/model/reload or SIGHUP).")
    return "\n".join(lines)
