"""The demo's sample data, its table layout, and a run against stand-in ingest and router answers."""

from __future__ import annotations

import io
import json
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leadflow import demo
from leadflow.demo import display_width, format_row, pad, run_demo
from leadflow.demo_data import ENDPOINTS, DemoEvent, sample_events
from services.ingest.domain import to_lead_event
from services.ingest.schemas import BehaviorEvent, FormEvent, TradeshowEvent, WebinarEvent
from services.scoring.domain import compute_score, merge_profile
from services.scoring.model import load_scoring_model
from shared.events import FORM_KINDS, Channel, LeadEvent, Rank
from shared.normalize import company_key, email_domain, lead_id_for, normalize_email
from shared.settings import REPO_ROOT

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SAMPLE = sample_events(seed=7, now=NOW)
_SCHEMAS: dict[str, type[FormEvent] | type[WebinarEvent] | type[TradeshowEvent] | type[BehaviorEvent]] = {
    "form": FormEvent,
    "webinar": WebinarEvent,
    "tradeshow": TradeshowEvent,
    "behavior": BehaviorEvent,
}


def _people(events: list[DemoEvent]) -> set[str]:
    return {normalize_email(event.body["email"]) for event in events}


def test_the_same_seed_and_time_give_the_same_sample() -> None:
    assert sample_events(seed=7, now=NOW) == SAMPLE


def test_another_seed_gives_another_sample_with_other_event_ids() -> None:
    other = sample_events(seed=8, now=NOW)
    assert other != SAMPLE
    assert not {e.body["event_id"] for e in other} & {e.body["event_id"] for e in SAMPLE}


def test_event_ids_are_unique_so_a_rerun_is_deduplicated() -> None:
    ids = [event.body["event_id"] for event in SAMPLE]
    assert len(ids) == len(set(ids))
    later = sample_events(seed=7, now=NOW + timedelta(hours=3))
    assert [e.body["event_id"] for e in later] == ids


def test_about_two_hundred_distinct_people_by_normalized_email() -> None:
    assert 190 <= len(_people(SAMPLE)) <= 210
    assert all(event.email == normalize_email(event.body["email"]) for event in SAMPLE)


def test_every_body_is_accepted_by_the_ingest_schema_of_its_endpoint() -> None:
    for event in SAMPLE:
        _SCHEMAS[event.endpoint].model_validate_json(json.dumps(event.body))


def test_every_endpoint_form_webinar_action_rating_and_behaviour_occurs() -> None:
    assert {event.endpoint for event in SAMPLE} == set(ENDPOINTS)
    seen = defaultdict(set)
    for event in SAMPLE:
        for key in ("form", "action", "rating", "type"):
            if key in event.body and event.body[key] is not None:
                seen[(event.endpoint, key)].add(event.body[key])
    assert seen[("form", "form")] == set(FORM_KINDS)
    assert seen[("webinar", "action")] == {
        "registered",
        "attended",
        "no_show",
        "question",
        "consultation_request",
    }
    assert seen[("tradeshow", "rating")] == {"hot", "warm", "cold"}
    assert seen[("behavior", "type")] == {
        "email_open", "email_click", "page_view", "whitepaper_download", "unsubscribe", "bounce"
    }  # fmt: skip
    assert any("/pricing" in event.body["url"] for event in SAMPLE if event.body.get("type") == "page_view")


def test_half_the_people_write_japanese_and_some_type_full_width() -> None:
    japanese = {e.email for e in SAMPLE if any(unicodedata.east_asian_width(c) == "W" for c in e.body.get("name", ""))}
    assert 90 <= len(japanese) <= 110
    full_width = [e.body["email"] for e in SAMPLE if not e.body["email"].isascii()]
    assert full_width
    assert all(normalize_email(email).isascii() for email in full_width)


def test_everything_happened_in_the_past_weeks_with_a_time_zone() -> None:
    moments = [datetime.fromisoformat(event.body["occurred_at"]) for event in SAMPLE]
    assert all(m.tzinfo is not None and NOW - timedelta(days=60) < m < NOW for m in moments)
    assert moments == sorted(moments)


def test_several_people_share_a_company_spelled_differently() -> None:
    people, spellings = defaultdict(set), defaultdict(set)
    for event in SAMPLE:
        if event.body.get("company"):
            key = company_key(event.body["company"])
            people[key].add(event.email)
            spellings[key].add(event.body["company"])
    assert any(len(people[key]) >= 3 and len(spellings[key]) >= 3 for key in people)


def test_some_people_use_free_mail() -> None:
    domains = {email_domain(email) for email in _people(SAMPLE)}
    assert domains & {"gmail.com", "yahoo.co.jp", "yahoo.com"}


def test_a_quarter_to_a_third_of_the_people_are_meant_to_qualify() -> None:
    qualifying = {event.email for event in SAMPLE if event.qualifies}
    assert 0.25 <= len(qualifying) / len(_people(SAMPLE)) <= 0.35


def test_a_japanese_and_an_english_row_pad_to_the_same_display_width() -> None:
    widths = [12, 20, 6]
    japanese = format_row(["田中　太郎", "株式会社サンプル商事ホールディングス", "A"], widths)
    english = format_row(["Jennifer Anderson-Smith", "Acme Robotics Inc.", "A"], widths)
    assert display_width(japanese) == display_width(english) == sum(widths) + 2 * (len(widths) - 1)
    # The last column starts at the same display column in both rows.
    assert display_width(japanese[: japanese.rindex("A")]) == display_width(english[: english.rindex("A")])


def test_pad_truncates_wide_text_with_an_ellipsis_and_never_splits_a_wide_character() -> None:
    assert pad("株式会社サンプル", 7) == "株式会…"
    assert pad("ＴＡＮＡＫＡ", 6) == "ＴＡ… "
    assert display_width(pad("ｸﾞﾛｰﾊﾞﾙ", 10)) == 10
    assert pad("42", 5, right=True) == "   42"


class _FakeStack:
    """Ingest and router answers: ingest accepts everything, the router routes the leads meant to qualify."""

    def __init__(self, reject_endpoint: str | None = None) -> None:
        self.reject_endpoint = reject_endpoint
        self.by_event_id = {event.body["event_id"]: event for event in sample_events()}
        self.seen: dict[str, DemoEvent] = {}
        self.api_keys: set[str | None] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        if request.method == "POST":
            self.api_keys.add(request.headers.get("x-api-key"))
            endpoint = request.url.path.rsplit("/", 1)[-1]
            if endpoint == self.reject_endpoint:
                return httpx.Response(422, json={"error": "validation_failed"})
            event = self.by_event_id[json.loads(request.content)["event_id"]]
            self.seen[lead_id_for(event.email)] = event
            return httpx.Response(202, json={"event_id": event.body["event_id"], "lead_id": lead_id_for(event.email)})
        lead_id = request.url.path.rsplit("/", 1)[-1]
        if lead_id not in self.seen:
            return httpx.Response(404, json={"error": "unknown lead"})
        routed = self.seen[lead_id].qualifies
        return httpx.Response(
            200,
            json={
                "lead_id": lead_id,
                "score": {"total": 72.5 if routed else 12, "fit": 30, "intent": 42.5, "reasons": []},
                "rank": "A" if routed else "C",
                "temperature": "hot" if routed else "cold",
                "stage": "mql" if routed else "lead",
                "routed": routed,
                "owner": {"rep_id": "rep-sato", "name": "佐藤 健一", "team": "enterprise"} if routed else None,
                "queue": None,
                "sla": {"kind": "rank_a", "due_at": "2099-01-01T10:00:00+00:00", "status": "open"} if routed else None,
                "why": "Demo request 40; decision maker 15" if routed else None,
                "trace": {},
                "updated_at": "2026-11-23T10:00:00+00:00",
            },
        )


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "SETTLE_S", 0.0)
    monkeypatch.setattr(demo, "POLL_INTERVAL_S", 0.0)
    monkeypatch.delenv("SLACK_API_URL", raising=False)


async def test_the_demo_posts_everything_waits_for_routing_and_prints_the_routed_leads() -> None:
    stack, out = _FakeStack(), io.StringIO()
    code = await run_demo("http://ingest", "http://router", api_key="k1", out=out, transport=httpx.MockTransport(stack))
    text = out.getvalue()
    routed = sum(1 for event in stack.seen.values() if event.qualifies)
    assert code == 0
    assert stack.api_keys == {"k1"}
    assert f"{len(stack.seen)}/{len(stack.seen)} leads known" in text
    assert f"{routed} of {len(stack.seen)} leads routed" in text
    assert text.count("佐藤 健一") == routed
    assert f"{len(stack.seen) - routed}  below MQL, rank C" in text
    assert "http://localhost:8090/" in text


async def test_the_demo_reports_refused_events_with_status_and_body_and_fails() -> None:
    out = io.StringIO()
    code = await run_demo(
        "http://ingest", "http://router", api_key=None, out=out,
        transport=httpx.MockTransport(_FakeStack(reject_endpoint="tradeshow")),
    )  # fmt: skip
    assert code == 1
    assert "POST /v1/events/tradeshow -> 422" in out.getvalue()
    assert "validation_failed" in out.getvalue()


def test_the_leads_meant_to_qualify_are_exactly_those_the_shipped_scoring_model_routes() -> None:
    # Given the sample run through ingest's normalization and the shipped scoring.yaml
    model = load_scoring_model(REPO_ROOT / "config" / "scoring.yaml")
    channels = {"form": Channel.WEB_FORM, "webinar": Channel.WEBINAR, "tradeshow": Channel.TRADESHOW}
    events: defaultdict[str, list[LeadEvent]] = defaultdict(list)
    meant: defaultdict[str, bool] = defaultdict(bool)
    for event in SAMPLE:
        body = _SCHEMAS[event.endpoint].model_validate(event.body)
        channel = channels.get(event.endpoint, Channel.BEHAVIOR)
        events[event.email].append(to_lead_event(channel, body, received_at=NOW, source="demo"))
        meant[event.email] |= event.qualifies
    # When each lead is scored
    qualified = {}
    for email, lead_events in events.items():
        score = compute_score(merge_profile(lead_events), lead_events, model, NOW)
        qualified[email] = score.rank == Rank.A or score.total >= model.thresholds.mql
    # Then the demo waits for exactly the leads the model routes (rank A or MQL)
    assert qualified == meant


async def test_the_demo_stops_at_once_when_the_stack_is_down() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    out = io.StringIO()
    code = await run_demo(
        "http://ingest", "http://router", api_key=None, out=out, transport=httpx.MockTransport(refuse)
    )
    assert code == 1
    assert "ingest at http://ingest: ConnectError" in out.getvalue()
    assert "make up" in out.getvalue()
