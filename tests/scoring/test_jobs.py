"""Rescoring after a model change and decay re-evaluation, on the real PostgreSQL and Kafka of the test stack.

The jobs run in this process against the stack's scoring database, narrowed to this test's own leads: a test
must not rescore (or age) the leads of every other test sharing the stack.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow import stack
from services.scoring import jobs, repository
from services.scoring.jobs import JobRunner, Reevaluator
from services.scoring.lead_update import Cause
from services.scoring.model import ScoringModel, load_scoring_model, parse_scoring_model
from services.scoring.models import outbox as outbox_table
from shared.db import create_engine, session_factory
from shared.kafka import create_producer
from shared.outbox import Outbox
from shared.settings import DEV_SECRET
from tests.conftest import StackUrls, eventually
from tests.e2e.helpers import API_KEY, lead_id, unique_person

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": API_KEY}
ADMIN = {"Authorization": f"Bearer {os.environ.get('SCORING_ADMIN_TOKEN', DEV_SECRET)}"}
FIXTURE_MODEL = stack.ROOT / "tests" / "fixtures" / "config" / "scoring.yaml"


@dataclass(frozen=True)
class Db:
    sessions: async_sessionmaker[AsyncSession]
    outbox: Outbox

    def runner(self, model: ScoringModel, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> JobRunner:
        reevaluator = Reevaluator(self.sessions, self.outbox, batch_size=50, max_passes=2, clock=clock)
        return JobRunner(self.sessions, reevaluator, lambda: model, clock=clock)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(stack_urls: StackUrls) -> AsyncIterator[Db]:
    """Scoring's database and the stack's Kafka, for running jobs in this process."""
    lay = stack.layout_for_tests()
    engine = create_engine(stack.database_url(lay), pool_size=2)
    producer: AIOKafkaProducer = create_producer(stack.kafka_bootstrap(lay), client_id="scoring-tests")
    await producer.start()
    sessions = session_factory(engine)
    outbox = Outbox(outbox_table, producer, sessions)
    try:
        yield Db(sessions, outbox)
    finally:
        await outbox.close()
        await producer.stop()
        await engine.dispose()


async def _post(http: httpx.AsyncClient, urls: StackUrls, channel: str, body: dict[str, Any]) -> None:
    response = await http.post(f"{urls.ingest}/v1/events/{channel}", json=body, headers=HEADERS)
    assert response.status_code == 202, response.text


async def _score(http: httpx.AsyncClient, urls: StackUrls, lid: str) -> dict[str, Any] | None:
    response = await http.get(f"{urls.scoring}/v1/leads/{lid}/score")
    return response.json() if response.status_code == 200 else None


async def _job(db: Db, job_id: str) -> Any:
    async with db.sessions() as session:
        return await repository.get_job(session, job_id)


async def test_a_model_change_rescores_leads_and_reports_how_many_changed_stage(
    http: httpx.AsyncClient, stack_urls: StackUrls, db: Db
) -> None:
    # Given a demo requester (75: an MQL) and a webinar attendee (50: a lead), scored by the shipped model
    demo, webinar = unique_person(), unique_person()
    await _post(http, stack_urls, "form", {**demo, "form": "demo_request"})
    await _post(http, stack_urls, "webinar", {**webinar, "webinar": "Intro", "action": "attended"})
    await eventually(lambda: _score(http, stack_urls, lead_id(demo)))
    await eventually(lambda: _score(http, stack_urls, lead_id(webinar)))
    # When the model changes (demo requests 40 → 10, webinars 15 → 30) and the leads are rescored
    text = FIXTURE_MODEL.read_text()
    text = text.replace("label: Demo request, points: 40", "label: Demo request, points: 10")
    text = text.replace("label: Webinar attended, points: 15", "label: Webinar attended, points: 30")
    changed = parse_scoring_model(text, version="tuned-v2")
    job_id = await db.runner(changed).run(Cause.MODEL, [lead_id(demo), lead_id(webinar)])
    # Then the job reports both leads as having changed stage
    job = await _job(db, job_id)
    assert (job.state, job.scanned, job.changed_stage, job.changed_rank_or_stage) == ("done", 2, 2, 2)
    # And each lead's score is the new model's, with its version
    demo_score, webinar_score = (
        await _score(http, stack_urls, lead_id(demo)),
        await _score(http, stack_urls, lead_id(webinar)),
    )
    assert demo_score is not None
    assert webinar_score is not None
    assert (demo_score["total"], demo_score["stage"], demo_score["model_version"]) == (45, "nurture", "tuned-v2")
    assert (webinar_score["total"], webinar_score["stage"]) == (65, "mql")


async def test_a_page_read_a_chunk_of_leads_at_a_time_rescores_every_lead(
    http: httpx.AsyncClient, stack_urls: StackUrls, db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three demo requesters (75 each: MQLs), and histories read one lead at a time
    people = [unique_person() for _ in range(3)]
    for person in people:
        await _post(http, stack_urls, "form", {**person, "form": "demo_request"})
    for person in people:
        await eventually(lambda p=person: _score(http, stack_urls, lead_id(p)))
    monkeypatch.setattr(jobs, "HISTORY_CHUNK", 1)
    # When a model that values demo requests at 10 rescores them, in one page
    text = FIXTURE_MODEL.read_text().replace("label: Demo request, points: 40", "label: Demo request, points: 10")
    job_id = await db.runner(parse_scoring_model(text, version="chunked-v2")).run(
        Cause.MODEL, [lead_id(p) for p in people]
    )
    # Then each of the three was rescored from its events under the new model
    job = await _job(db, job_id)
    assert (job.state, job.scanned, job.changed_stage) == ("done", 3, 3)
    for person in people:
        score = await _score(http, stack_urls, lead_id(person))
        assert score is not None
        assert (score["total"], score["stage"], score["model_version"]) == (45, "nurture", "chunked-v2")


async def test_a_lead_that_became_an_mql_on_rescoring_is_routed(
    http: httpx.AsyncClient, stack_urls: StackUrls, db: Db
) -> None:
    # Given a webinar attendee of 50, below the MQL bar, so not routed
    person = unique_person()
    await _post(http, stack_urls, "webinar", {**person, "webinar": "Intro", "action": "attended"})
    await eventually(lambda: _score(http, stack_urls, lead_id(person)))
    # When a model with an MQL bar of 45 is rescored
    lowered = parse_scoring_model(FIXTURE_MODEL.read_text().replace("mql: 60", "mql: 45"), version="lower-bar")
    job_id = await db.runner(lowered).run(Cause.MODEL, [lead_id(person)])
    assert (await _job(db, job_id)).published == 1

    # Then the published update reaches the router, which routes the new MQL
    async def routed() -> dict[str, Any] | None:
        response = await http.get(f"{stack_urls.router}/v1/leads/{lead_id(person)}")
        body: dict[str, Any] = response.json() if response.status_code == 200 else {}
        return body if body.get("routed") else None

    lead = await eventually(routed)
    assert lead["stage"] == "mql"


async def test_decay_moves_an_mql_down_to_nurture_and_publishes_it_once(
    http: httpx.AsyncClient, stack_urls: StackUrls, db: Db
) -> None:
    # Given a hot rank-A MQL of 75 (a VP's demo request)
    person = unique_person()
    await _post(http, stack_urls, "form", {**person, "form": "demo_request"})
    await eventually(lambda: _score(http, stack_urls, lead_id(person)))
    model = load_scoring_model(FIXTURE_MODEL)
    later = datetime.now(UTC) + timedelta(days=100)
    # When the periodic re-evaluation runs 100 days later (the demo request is worth 18.5 by then)
    job_id = await db.runner(model, clock=lambda: later).run(Cause.DECAY, [lead_id(person)])
    # Then the lead went down and the change was published once
    job = await _job(db, job_id)
    assert (job.went_down, job.changed_stage, job.published) == (1, 1, 1)
    score = await _score(http, stack_urls, lead_id(person))
    assert score is not None
    assert (score["stage"], score["temperature"], score["rank"]) == ("nurture", "warm", "C")
    assert score["stage_history"][-1] | {"at": None} == {
        "from_stage": "mql", "to_stage": "nurture", "event_id": None, "at": None
    }  # fmt: skip
    # And running it again publishes nothing: nothing more crossed
    again = await db.runner(model, clock=lambda: later).run(Cause.DECAY, [lead_id(person)])
    assert (await _job(db, again)).published == 0


async def test_admin_endpoints_refuse_a_missing_or_wrong_token(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given the scoring service
    # When the model reload is called without a token and with a wrong one
    missing = await http.post(f"{stack_urls.scoring}/v1/admin/model/reload")
    wrong = await http.post(f"{stack_urls.scoring}/v1/admin/model/reload", headers={"Authorization": "Bearer nope"})
    # Then both are refused with 401 and a Bearer challenge
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_a_reload_starts_a_rescore_whose_status_can_be_followed(
    http: httpx.AsyncClient, stack_urls: StackUrls
) -> None:
    # Given the scoring service with its model file unchanged
    # When the model is reloaded through the admin endpoint
    response = await http.post(f"{stack_urls.scoring}/v1/admin/model/reload", headers=ADMIN)
    # Then a rescore job starts under the same version, and its status reaches done
    assert response.status_code == 202
    started = response.json()
    assert started["model_changed"] is False

    async def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = (await http.get(f"{stack_urls.scoring}{started['status_url']}", headers=ADMIN)).json()
        return job if job["state"] != "running" else None

    job = await eventually(finished)
    assert (job["state"], job["model_version"]) == ("done", started["model_version"])


async def test_a_re_evaluation_can_be_started_for_some_leads(http: httpx.AsyncClient, stack_urls: StackUrls) -> None:
    # Given a freshly scored lead
    person = unique_person()
    await _post(http, stack_urls, "form", {**person, "form": "document_request"})
    await eventually(lambda: _score(http, stack_urls, lead_id(person)))
    # When a re-evaluation of that lead is started now
    response = await http.post(
        f"{stack_urls.scoring}/v1/admin/reevaluate", json={"lead_ids": [lead_id(person)]}, headers=ADMIN
    )
    assert response.status_code == 202

    # Then it scans that one lead and finds nothing crossed
    async def finished() -> dict[str, Any] | None:
        url = f"{stack_urls.scoring}{response.json()['status_url']}"
        job: dict[str, Any] = (await http.get(url, headers=ADMIN)).json()
        return job if job["state"] == "done" else None

    job = await eventually(finished)
    assert (job["scanned"], job["published"]) == (1, 0)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/admin/jobs/job_00000000000000000000", None),
        ("GET", "/v1/admin/jobs/not-a-job", None),
        ("POST", "/v1/admin/reevaluate", {"lead_ids": ["someone@example.com"]}),
        ("POST", "/v1/admin/reevaluate", {"lead_ids": []}),
    ],
)
async def test_bad_admin_requests_get_a_clear_4xx(
    http: httpx.AsyncClient, stack_urls: StackUrls, method: str, path: str, body: Any
) -> None:
    # Given an unknown job, a malformed job id, a lead id that is not one, and an empty list
    # When asked for
    response = await http.request(method, f"{stack_urls.scoring}{path}", json=body, headers=ADMIN)
    # Then the answer is a 404 or 422 naming the problem, never a 500
    assert response.status_code in (404, 422)
    assert "error" in response.json()
