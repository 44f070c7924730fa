"""The demo: post a realistic sample of leads, wait for the router, show who got which lead and why."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import httpx
import orjson

from leadflow.demo_data import DemoEvent, sample_events
from shared.normalize import lead_id_for
from shared.settings import DEV_SECRET
from shared.signatures import signed_headers

CONCURRENCY = 16
POLL_INTERVAL_S = 1.0
# The router is done when nothing has changed for this long (after every expected lead was routed).
SETTLE_S = 4.0
# Ingest answers 503 while Kafka is away and 429 when throttling: worth a few retries, not a failure.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_RETRY_DELAYS_S = (0.5, 1.0, 2.0)
STANDIN_PAGE = "http://localhost:8090/"


# Display width: East Asian wide and full-width characters take two terminal columns.


def char_width(ch: str) -> int:
    """Terminal columns one character takes: 2 for wide/full-width, 0 for combining marks, else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal columns a string takes."""
    return sum(char_width(ch) for ch in text)


def pad(text: str, width: int, *, right: bool = False) -> str:
    """Exactly ``width`` columns: truncated with an ellipsis when too wide, padded with spaces otherwise."""
    text = " ".join(text.split())  # newlines or tabs would break the row
    if display_width(text) > width:
        kept, used = [], 0
        for ch in text:
            if used + char_width(ch) > width - 1:
                break
            kept.append(ch)
            used += char_width(ch)
        text = "".join(kept) + "…"
    filler = " " * (width - display_width(text))
    return filler + text if right else text + filler


# Progress on the terminal: one line rewritten with \r; a plain final line when not a terminal.


class Progress:
    """A text progress bar, ``[#####-----] 120/260 events accepted``, redrawn in place on a terminal."""

    def __init__(self, out: TextIO, total: int, label: str, width: int = 30) -> None:
        self.out = out
        self.total = total
        self.label = label
        self.width = width
        self.tty = out.isatty()
        self._last = ""

    def line(self, done: int, note: str = "") -> str:
        """The bar for ``done`` of ``total``."""
        filled = self.width * done // self.total if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        return f"[{bar}] {done}/{self.total} {self.label}" + (f"  {note}" if note else "")

    def update(self, done: int, note: str = "") -> None:
        """Redraw in place (terminal only: a log file would get one line per update)."""
        text = self.line(done, note)
        if self.tty and text != self._last:
            # Pad over what a longer previous line left behind.
            self.out.write("\r" + text + " " * max(0, display_width(self._last) - display_width(text)))
            self.out.flush()
        self._last = text

    def finish(self, done: int, note: str = "") -> None:
        """Leave the final state on its own line."""
        self.update(done, note)
        if not self.tty:
            self.out.write(self._last)
        self.out.write("\n")
        self.out.flush()


# Posting the sample.


@dataclass
class _Posted:
    accepted: int = 0
    lead_ids: dict[str, str] = field(default_factory=dict)  # normalized email -> lead_id from ingest
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (endpoint, "status body") -> count


def _by_lead(events: Iterable[DemoEvent]) -> dict[str, list[DemoEvent]]:
    """Each person's events, oldest first, in the order people first appear."""
    leads: dict[str, list[DemoEvent]] = {}
    for event in events:
        leads.setdefault(event.email, []).append(event)
    return leads


async def _post(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str], webhook_secret: str | None
) -> httpx.Response:
    """POST with a few retries of what is transient (Kafka briefly away, throttling, a dropped connection).

    Behaviour webhooks are signed, as a marketing-automation platform would sign them (re-signed per try, so a
    retry never carries a stale timestamp).
    """
    raw = orjson.dumps(body)
    for delay in (*_RETRY_DELAYS_S, None):
        sent_headers = {**headers, "content-type": "application/json"}
        if url.endswith("/behavior") and webhook_secret:
            sent_headers |= signed_headers(webhook_secret, int(time.time()), raw)
        try:
            response = await client.post(url, content=raw, headers=sent_headers)
        except httpx.TransportError:
            if delay is None:
                raise
        else:
            if response.status_code not in _RETRY_STATUSES or delay is None:
                return response
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


async def post_events(
    client: httpx.AsyncClient,
    ingest_url: str,
    events: Sequence[DemoEvent],
    api_key: str | None,
    out: TextIO,
    webhook_secret: str | None = None,
) -> _Posted:
    """Post every event, one lead's events in order, ``CONCURRENCY`` leads at a time, with a progress bar."""
    headers = {"X-API-Key": api_key} if api_key else {}
    result = _Posted()
    progress = Progress(out, len(events), "events accepted")
    sent = 0
    leads = iter(_by_lead(events).values())

    async def worker() -> None:
        nonlocal sent
        # The workers share one iterator: each takes the next lead and posts its events in order, as a real
        # source would, so CONCURRENCY leads are in flight at a time.
        for lead_events in leads:
            for event in lead_events:
                url = f"{ingest_url.rstrip('/')}/v1/events/{event.endpoint}"
                try:
                    response = await _post(client, url, event.body, headers, webhook_secret)
                except httpx.TransportError as exc:
                    result.rejected[(event.endpoint, f"no answer: {type(exc).__name__} {exc}"[:200])] += 1
                else:
                    if response.status_code == 202:
                        result.accepted += 1
                        result.lead_ids.setdefault(event.email, response.json().get("lead_id", ""))
                    else:
                        result.rejected[(event.endpoint, f"{response.status_code} {response.text[:200]}")] += 1
                sent += 1
                failed = sent - result.accepted
                progress.update(result.accepted, f"({failed} failed)" if failed else "")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    failed = len(events) - result.accepted
    progress.finish(result.accepted, f"({failed} failed)" if failed else "")
    return result


# Waiting for the router.


@dataclass
class _Lead:
    email: str
    lead_id: str
    events: list[DemoEvent]
    expected: bool  # the sample meant it to qualify under the shipped scoring.yaml
    state: dict[str, Any] | None = None  # the router's answer; None while it answers 404

    @property
    def routed(self) -> bool:
        return bool(self.state and self.state.get("routed"))


async def _fetch(client: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    """The router's view of one lead, or None while unknown (404) or unreachable."""
    try:
        response = await client.get(url)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    data: dict[str, Any] = response.json()
    return data


async def wait_for_routing(
    client: httpx.AsyncClient,
    router_url: str,
    leads: Sequence[_Lead],
    timeout_s: float,
    out: TextIO,
) -> bool:
    """Poll the router until every expected lead is routed and all is quiet; False on timeout."""
    clock = asyncio.get_running_loop().time
    expected = [lead for lead in leads if lead.expected]
    progress = Progress(out, len(expected), "qualifying leads routed")
    limit = asyncio.Semaphore(CONCURRENCY)
    deadline = clock() + timeout_s
    last_change, previous = clock(), None

    async def refresh(lead: _Lead) -> None:
        async with limit:
            state = await _fetch(client, f"{router_url.rstrip('/')}/v1/leads/{lead.lead_id}")
        if state is not None:
            lead.state = state

    while True:
        await asyncio.gather(*(refresh(lead) for lead in leads))
        snapshot = tuple((lead.state or {}).get("updated_at") for lead in leads)
        if snapshot != previous:
            previous, last_change = snapshot, clock()
        known = sum(lead.state is not None for lead in leads)
        routed_expected = sum(lead.routed for lead in expected)
        progress.update(routed_expected, f"{known}/{len(leads)} leads known to the router")
        # Done when quiet: either the sample's qualifying leads are all routed, or the router knows every lead
        # (a tuned scoring.yaml may route a different set; waiting longer would not change it).
        if (routed_expected == len(expected) or known == len(leads)) and clock() - last_change >= SETTLE_S:
            progress.finish(routed_expected, f"{known}/{len(leads)} leads known to the router")
            return True
        if clock() >= deadline:
            progress.finish(routed_expected, f"{known}/{len(leads)} leads known — timed out after {timeout_s:g}s")
            return False
        await asyncio.sleep(POLL_INTERVAL_S)


# The table.

# What each request says a person did, and how much it tells a rep: 0 = a direct ask, 3 = barely a signal.
_LABELS = {
    ("form", "demo_request"): (0, "demo request"),
    ("form", "contact"): (0, "contact form"),
    ("form", "document_request"): (0, "document request"),
    ("form", "pricing"): (0, "pricing inquiry"),
    ("webinar", "consultation_request"): (0, "1:1 consultation"),
    ("webinar", "question"): (3, "webinar question"),
    ("webinar", "registered"): (3, "webinar sign-up"),
    ("webinar", "no_show"): (3, "webinar no-show"),
    ("form", "newsletter"): (3, "newsletter"),
    ("behavior", "unsubscribe"): (1, "unsubscribed"),
    ("behavior", "bounce"): (1, "bounced"),
}
_COUNTED = {
    "whitepaper_download": "whitepaper",
    "email_click": "click",
    "page_view": "page view",
    "email_open": "open",
}


def _label(event: DemoEvent) -> tuple[int, str] | None:
    """The tier and words for one event; None for the behaviour that is counted instead."""
    body = event.body
    if event.endpoint == "tradeshow":
        rating = body.get("rating") or "unrated"
        return (1 if rating == "hot" else 3, f"booth scan ({rating})")
    if event.endpoint == "webinar" and body.get("action") == "attended":
        return (1, f"webinar {body.get('minutes') or '?'} min")
    if event.endpoint == "behavior" and body.get("type") == "page_view" and "/pricing" in str(body.get("url")):
        return (1, "pricing page")
    if event.endpoint == "behavior" and body.get("type") in _COUNTED:
        return None
    what = str(body.get("form") or body.get("action") or body.get("type"))
    return _LABELS.get((event.endpoint, what), (3, what))


def describe_activity(events: Sequence[DemoEvent]) -> str:
    """What a person did, strongest signal first: 'demo request, pricing page, 2 page views'."""
    labels = [label for event in reversed(events) if (label := _label(event)) is not None]  # latest first
    counts = Counter(_COUNTED[str(e.body.get("type"))] for e in events if _label(e) is None)
    labels += [(2, f"{n} {word}s" if n > 1 else word) for word, n in counts.most_common()]
    if any(tier == 1 and text.startswith("webinar ") for tier, text in labels):
        labels = [item for item in labels if item[1] != "webinar sign-up"]  # attending says it already
    return ", ".join(dict.fromkeys(text for _, text in sorted(labels, key=lambda item: item[0])))


def _identity(lead: _Lead) -> tuple[str, str]:
    """The latest name and company the person typed (behaviour webhooks carry neither)."""
    name = company = ""
    for event in lead.events:
        name = str(event.body.get("name") or name)
        company = str(event.body.get("company") or company)
    return name or lead.email, company


def _sla_text(sla: dict[str, Any] | None, now: datetime) -> str:
    """'14:05 in 58m' in local time, or '09:12 12m late'."""
    if not sla or not sla.get("due_at"):
        return "—"
    due = datetime.fromisoformat(str(sla["due_at"]))
    minutes = int((due - now).total_seconds() // 60)
    span = abs(minutes)
    amount = f"{span}m" if span < 120 else f"{span // 60}h" if span < 72 * 60 else f"{span // 1440}d"
    return f"{due.astimezone():%H:%M} " + (f"in {amount}" if minutes >= 0 else f"{amount} late")


def _owner_text(state: dict[str, Any]) -> str:
    owner = state.get("owner")
    if owner:
        return str(owner.get("name") or owner.get("rep_id"))
    return f"queue: {state.get('queue') or '?'}"


def _why_text(state: dict[str, Any]) -> str:
    if state.get("why"):
        return str(state["why"])
    reasons = (state.get("score") or {}).get("reasons") or []
    top = sorted(reasons, key=lambda r: -abs(float(r.get("value") or 0)))[:3]
    return ", ".join(f"{r.get('label')} {float(r.get('value') or 0):+g}" for r in top)


_COLUMNS = (("Name", 14), ("Company", 18), ("What they did", 30), ("Score", 5), ("Rank", 4), ("Stage", 5))
_COLUMNS_AFTER = (("Owner", 16), ("SLA due", 13))


def format_row(cells: Sequence[str], widths: Sequence[int], right: Iterable[int] = ()) -> str:
    """One table row: every cell padded to its display width, two spaces between columns."""
    right_set = set(right)
    return "  ".join(
        pad(cell, width, right=i in right_set) for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )


def render_table(leads: Sequence[_Lead], now: datetime, total_width: int) -> list[str]:
    """The routed leads, rank A first and then by SLA due, one line each."""
    columns = (*_COLUMNS, *_COLUMNS_AFTER)
    fixed = sum(width for _, width in columns) + 2 * len(columns)
    widths = [width for _, width in columns] + [max(24, total_width - fixed)]
    headers = [title for title, _ in columns] + ["Why"]
    lines = [format_row(headers, widths, right={3}), format_row(["─" * w for w in widths], widths)]

    def order(lead: _Lead) -> tuple[str, str, float]:
        state = lead.state or {}
        return (str(state.get("rank")), str((state.get("sla") or {}).get("due_at") or "~"), -_total(state))

    for lead in sorted(leads, key=order):
        state = lead.state or {}
        name, company = _identity(lead)
        cells = [
            name,
            company,
            describe_activity(lead.events),
            f"{_total(state):.0f}",
            str(state.get("rank") or "?"),
            str(state.get("stage") or "?"),
            _owner_text(state),
            _sla_text(state.get("sla"), now),
            _why_text(state),
        ]
        lines.append(format_row(cells, widths, right={3}))
    return lines


def _total(state: dict[str, Any]) -> float:
    return float((state.get("score") or {}).get("total") or 0)


_RANK_MEANING = {
    "A": "rank A yet not routed: see the router's log",
    "B": "rank B: marketing follows up within the week",
    "C": "rank C: monthly nurture e-mail, no rep",
}


def not_routed_summary(leads: Iterable[_Lead]) -> list[str]:
    """Why the other leads were not routed, counted by reason."""
    reasons: Counter[str] = Counter()
    for lead in leads:
        if lead.state is None:
            reasons["not seen by the router (yet)"] += 1
            continue
        stage, rank = str(lead.state.get("stage")), str(lead.state.get("rank"))
        below = "below MQL, " if stage in ("lead", "nurture") else f"stage {stage}, "
        reasons[below + _RANK_MEANING.get(rank, f"rank {rank}")] += 1
    return [f"  {count:>4}  {reason}" for reason, count in reasons.most_common()]


def _alerts_hint() -> str:
    slack = os.environ.get("SLACK_API_URL")
    if slack:
        return f"Alerts went to the Slack API at {slack} and e-mail through SMTP_HOST: see the team channels."
    return f"Alerts: open {STANDIN_PAGE} — the local Slack and e-mail stand-in shows what each rep got."


async def _unreachable(client: httpx.AsyncClient, services: dict[str, str]) -> list[str]:
    """The services that do not answer /healthz: checked first, so a stack that is down fails in a second."""
    problems = []
    for name, url in services.items():
        try:
            response = await client.get(f"{url.rstrip('/')}/healthz", timeout=3.0)
        except httpx.TransportError as exc:
            problems.append(f"{name} at {url}: {type(exc).__name__}")
        else:
            if response.status_code != 200:
                problems.append(f"{name} at {url}: /healthz answered {response.status_code}")
    return problems


async def run_demo(
    ingest_url: str,
    router_url: str,
    *,
    api_key: str | None,
    webhook_secret: str | None = None,
    timeout_s: float = 120,
    out: TextIO = sys.stdout,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Run the demo end to end; 0 when all went through, 1 if ingest refused events, 2 on routing timeout."""
    events = sample_events()
    by_lead = _by_lead(events)
    out.write(f"LeadFlow demo: {len(by_lead)} people, {len(events)} events from forms, webinars, trade shows and")
    out.write(f" marketing automation\n  ingest {ingest_url}   router {router_url}\n\n")
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(timeout=10.0, limits=limits, transport=transport) as client:
        problems = await _unreachable(client, {"ingest": ingest_url, "router": router_url})
        if problems:
            out.write("Not answering: " + "; ".join(problems) + "\nStart the stack first: `make up`.\n")
            return 1
        posted = await post_events(client, ingest_url, events, api_key, out, webhook_secret)
        for (endpoint, problem), count in posted.rejected.most_common(10):
            out.write(f"  {count:>4} x POST /v1/events/{endpoint} -> {problem}\n")
        if not posted.accepted:
            out.write("\nIngest accepted nothing: is the API key right (INGEST_API_KEYS)?\n")
            return 1
        leads = [
            _Lead(
                email,
                posted.lead_ids.get(email) or lead_id_for(email),
                lead_events,
                any(e.qualifies for e in lead_events),
            )
            for email, lead_events in by_lead.items()
        ]
        out.write("\nWaiting for scoring and routing...\n")
        settled = await wait_for_routing(client, router_url, leads, timeout_s, out)

    now = datetime.now(UTC)
    routed = [lead for lead in leads if lead.routed]
    width = shutil.get_terminal_size((160, 24)).columns if out.isatty() else 160
    out.write(f"\n{len(routed)} of {len(leads)} leads routed to sales:\n\n")
    for line in render_table(routed, now, width):
        out.write(line.rstrip() + "\n")
    others = [lead for lead in leads if not lead.routed]
    out.write(f"\n{len(others)} leads not routed:\n")
    for line in not_routed_summary(others):
        out.write(line + "\n")
    out.write(f"\n{_alerts_hint()}\n")
    if posted.rejected:
        return 1
    return 0 if settled else 2


def main() -> None:
    """``python -m leadflow.demo``: addresses and API key from the environment."""
    keys = [key.strip() for key in os.environ.get("INGEST_API_KEYS", "").split(",") if key.strip()]
    code = asyncio.run(
        run_demo(
            os.environ.get("LEADFLOW_INGEST_URL", "http://127.0.0.1:8001"),
            os.environ.get("LEADFLOW_ROUTER_URL", "http://127.0.0.1:8003"),
            api_key=keys[0] if keys else None,
            webhook_secret=os.environ.get("WEBHOOK_SECRET", DEV_SECRET),
        )
    )
    raise SystemExit(code)


if __name__ == "__main__":
    main()
