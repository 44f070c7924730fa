"""The console's pages and actions: thin handlers over queries, HTTP clients and the pure views."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.router.config import RoutingConfig
from services.router.console import queries, views
from services.router.console.auth import COOKIE, Session, csrf_ok, session_for
from services.router.console.clients import ActionResult, ConsoleClients
from services.router.console.gauges import refresh_forever
from services.router.console.settings import ConsoleSettings, get_console_settings
from services.router.domain import check_rep, effective_rep

HERE = Path(__file__).parent
STATIC = {"htmx.min.js": "text/javascript", "console.css": "text/css"}
LEAD_ID = r"^ld_[0-9a-f]{24}$"
REP_ID = r"^[A-Za-z0-9_.\-]{1,64}$"

# Names, companies and reasons come from people and config files: escape everything, always.
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
)
_env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=True)
_env.filters["when"] = lambda value: value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"
templates = Jinja2Templates(env=_env)

# No inline script or style anywhere: the policy lets the browser refuse whatever an escaping bug might let in.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class ConsoleState:
    """What the console holds for the app's lifetime."""

    settings: ConsoleSettings
    clients: ConsoleClients


@asynccontextmanager
async def console_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the HTTP clients and start the business gauges; runs inside the router's own lifespan."""
    settings: ConsoleSettings = getattr(app.state, "console_settings", None) or get_console_settings()
    clients = ConsoleClients(
        scoring_url=settings.scoring_url,
        notifier_url=settings.notifier_url,
        router_url=settings.router_url,
        timeout_s=settings.http_timeout_s,
    )
    app.state.console = ConsoleState(settings, clients)
    gauges = asyncio.create_task(
        refresh_forever(app.state.sessions, lambda: app.state.routing, settings.gauge_refresh_s),
        name="router-console-gauges",
    )
    try:
        yield
    finally:
        gauges.cancel()
        with suppress(asyncio.CancelledError):
            await gauges
        await clients.close()


router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False, lifespan=console_lifespan)


def _state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def _config(request: Request) -> RoutingConfig:
    config: RoutingConfig = request.app.state.routing
    return config


def _now() -> datetime:
    return datetime.now(UTC)


def _session(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    auth = request.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return session_for(token, _state(request).settings)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status, headers=SECURITY_HEADERS)


def _login(request: Request, message: str | None = None, status: int = 401) -> Response:
    return _page(request, "login.html", {"message": message, "next": _safe_next(request.url.path)}, status)


def _safe_next(path: str | None) -> str:
    # Only ever redirect inside the console: never to another site named in a parameter.
    if path and path.startswith("/console/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/console/queue"


def _token_redirect(request: Request) -> Response | None:
    """A link carrying ?token= signs in and reloads without it, so the token leaves the address bar and history."""
    token = request.query_params.get("token")
    if token is None:
        return None
    if session_for(token, _state(request).settings) is None:
        return _login(request, "That token is not valid.")
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    target = request.url.path + ("?" + urlencode(rest) if rest else "")
    response = RedirectResponse(target, status_code=303)
    _set_cookie(response, token, _state(request).settings)
    return response


def _set_cookie(response: Response, token: str, settings: ConsoleSettings) -> None:
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=settings.cookie_secure, path="/console", max_age=43200
    )


def _base(request: Request, session: Session, **context: Any) -> dict[str, Any]:
    config = _config(request)
    return {
        "session": session,
        "teams": config.teams,
        "refresh_s": _state(request).settings.queue_refresh_s,
        **context,
    }


# ------------------------------------------------------------------ sign-in


@router.get("")
@router.get("/")
async def console_home(request: Request) -> Response:
    """The queue is the console's front page (a ?token= link keeps its token through the redirect)."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/console/queue{query}", status_code=303)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """htmx (vendored from the npm package htmx.org) and the stylesheet: nothing is loaded from a CDN."""
    if name not in STATIC:
        return Response(status_code=404)
    return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The sign-in form."""
    return _page(request, "login.html", {"message": None, "next": _safe_next(request.query_params.get("next"))})


@router.post("/login")
async def login(request: Request, token: str = Form(max_length=512), next: str = Form(default="")) -> Response:
    """Exchange a token for the session cookie."""
    if session_for(token, _state(request).settings) is None:
        return _page(request, "login.html", {"message": "That token is not valid.", "next": _safe_next(next)}, 401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_cookie(response, token, _state(request).settings)
    return response


@router.post("/logout")
async def logout() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# ------------------------------------------------------------------ queue


@router.get("/queue")
async def queue_page(
    request: Request, team: str | None = Query(default=None, max_length=64), partial: bool = False
) -> Response:
    """Open leads per rep, overdue first; ``?team=`` filters, ``?partial=1`` renders just the table (htmx)."""
    redirect = _token_redirect(request)
    if redirect is not None:
        return redirect
    session = _session(request)
    if session is None:
        return _login(request)
    config = _config(request)
    team_id = team or None
    if team_id is not None and team_id not in {t.id for t in config.teams}:
        return _page(request, "error.html", _base(request, session, message=f"No team {team_id!r}."), 404)
    now = _now()
    async with request.app.state.sessions() as db:
        rows = await queries.queue(db, team_id=team_id, limit=_state(request).settings.queue_page_size)
    items = [
        {
            **row,
            "owner_name": _rep_name(config, row["owner_rep_id"]),
            "countdown": views.countdown(row["sla_due_at"], row["sla_status"], now),
        }
        for row in views.order_queue(rows, now)
    ]
    context = _base(request, session, items=items, team=team_id, now=now)
    return _page(request, "queue_table.html" if partial else "queue.html", context)


def _rep_name(config: RoutingConfig, rep_id: str | None) -> str | None:
    if rep_id is None:
        return None
    rep = config.rep(rep_id)
    return rep.name if rep else rep_id


# ------------------------------------------------------------------ lead


@router.get("/leads/{lead_id}")
async def lead_page(request: Request, lead_id: str = PathParam(pattern=LEAD_ID)) -> Response:
    """Timeline, score explanation, stage history, routing trace and notifications of one lead."""
    redirect = _token_redirect(request)
    if redirect is not None:
        return redirect
    session = _session(request)
    if session is None:
        return _login(request)
    async with request.app.state.sessions() as db:
        detail = await queries.lead_detail(db, lead_id)
    if detail is None:
        return _page(request, "error.html", _base(request, session, message="The router has not seen this lead."), 404)
    clients = _state(request).clients
    score, notifications = await asyncio.gather(clients.score(lead_id), clients.notifications(lead_id))
    return _page(request, "lead.html", _base(request, session, **_lead_context(request, detail, score, notifications)))


def _lead_context(request: Request, detail: queries.LeadDetail, score: Any, notifications: Any) -> dict[str, Any]:
    config = _config(request)
    lead = detail.lead
    snapshot = detail.snapshot
    reasons = (score.data or {}).get("reasons") if score.data else None
    entries: list[tuple[datetime | None, str, str]] = []
    for activity in snapshot.get("recent_activity") or []:
        entries.append(
            (_dt(activity.get("occurred_at")), "event", f"{activity.get('kind')} ({activity.get('channel')})")
        )
    for step in (score.data or {}).get("stage_history") or []:
        entries.append((_dt(step.get("at")), "stage", f"{step.get('from_stage')} → {step.get('to_stage')}"))
    for decision in detail.decisions:
        owner = _rep_name(config, decision.get("rep_id")) or decision.get("queue_id") or "nobody"
        entries.append((decision.get("decided_at"), "routing", f"{decision.get('kind')}: {owner}"))
    for note in notifications.data or []:
        entries.append(
            (
                _dt(note.get("sent_at") or note.get("created_at")),
                "alert",
                f"{note.get('medium')} {note.get('kind')}: {note.get('status')}",
            )
        )
    team_id = lead.get("team_id")
    team = next((t for t in config.teams if t.id == team_id), None)
    candidates = [config.rep(r) for r in (team.members if team else [])] or list(config.reps)
    return {
        "lead": lead,
        "person": detail.person,
        "owner_name": _rep_name(config, lead.get("owner_rep_id")),
        "countdown": views.countdown(lead.get("sla_due_at"), lead.get("sla_status"), _now()),
        "score": score,
        "reasons": reasons if reasons is not None else lead.get("reasons") or [],
        "notifications": notifications,
        "decisions": detail.decisions,
        "timeline": views.timeline(entries),
        "reassign_to": [r for r in candidates if r is not None and r.id != lead.get("owner_rep_id")],
        "message": request.query_params.get("message"),
    }


def _dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


# ------------------------------------------------------------------ teams


@router.get("/teams")
async def teams_page(request: Request) -> Response:
    """Every team's page is one click away; the first team is shown."""
    redirect = _token_redirect(request)
    if redirect is not None:
        return redirect
    if _session(request) is None:
        return _login(request)
    return RedirectResponse(f"/console/teams/{_config(request).teams[0].id}", status_code=303)


@router.get("/teams/{team_id}")
async def team_page(request: Request, team_id: str = PathParam(max_length=64)) -> Response:
    """Load vs capacity, availability, SLA compliance, conversion by channel and rank, MQL → SQL vs target."""
    redirect = _token_redirect(request)
    if redirect is not None:
        return redirect
    session = _session(request)
    if session is None:
        return _login(request)
    config = _config(request)
    team = next((t for t in config.teams if t.id == team_id), None)
    if team is None:
        return _page(request, "error.html", _base(request, session, message=f"No team {team_id!r}."), 404)
    now = _now()
    async with request.app.state.sessions() as db:
        loads = await queries.loads(db)
        overrides = await queries.overrides(db)
        figures = await queries.team_figures(db, team_id)
    reps = []
    for rep_id in team.members:
        rep = config.rep(rep_id)
        if rep is None:
            continue
        effective = effective_rep(rep, overrides.get(rep_id))
        load = loads.get(rep_id, 0)
        availability = check_rep(effective, now=now, open_leads=load, excluded=False, shift_required=True)
        reps.append(
            {
                "rep": effective,
                "load": load,
                "percent": views.load_percent(load, effective.capacity),
                "available": availability.eligible,
                "why_not": availability.skipped_because,
                "local_now": now.astimezone(ZoneInfo(effective.timezone)).strftime("%a %H:%M"),
            }
        )
    context = _base(
        request,
        session,
        team=team,
        reps=reps,
        sla=views.sla_compliance(figures.sla_status),
        sla_status=figures.sla_status,
        mql_sql=views.mql_to_sql(figures.stages, _state(request).settings.mql_to_sql_target),
        by_rank=views.conversion_bars(figures.by_rank, order=("A", "B", "C")),
        by_channel=views.conversion_bars(figures.by_channel),
        message=request.query_params.get("message"),
    )
    return _page(request, "team.html", context)


# ------------------------------------------------------------------ manager actions


def _manager(request: Request, csrf: str) -> Session | Response:
    session = _session(request)
    if session is None:
        return _login(request)
    if not session.can_act:
        return _page(request, "error.html", _base(request, session, message="Only managers can do this."), 403)
    if not csrf_ok(session, csrf):
        return _page(request, "error.html", _base(request, session, message="The form expired: reload the page."), 403)
    return session


def _after(request: Request, back: str, result: ActionResult) -> Response:
    if request.headers.get("hx-request"):
        # 200 even when the router refused: htmx only swaps 2xx answers in, and the text says what happened.
        return _page(request, "action_result.html", {"result": result})
    return RedirectResponse(f"{back}?{urlencode({'message': result.message})}", status_code=303)


@router.post("/leads/{lead_id}/reassign")
async def reassign(
    request: Request,
    lead_id: str = PathParam(pattern=LEAD_ID),
    rep_id: str = Form(pattern=REP_ID),
    reason: str = Form(default="", max_length=500),
    csrf: str = Form(max_length=128),
) -> Response:
    """Hand a lead to another rep through the router's API (managers only)."""
    session = _manager(request, csrf)
    if not isinstance(session, Session):
        return session
    if _config(request).rep(rep_id) is None:
        return _page(request, "error.html", _base(request, session, message=f"No rep {rep_id!r}."), 404)
    result = await _state(request).clients.reassign(lead_id, rep_id, reason.strip() or "reassigned by a manager")
    return _after(request, f"/console/leads/{lead_id}", result)


@router.post("/reps/{rep_id}/out-of-office")
async def out_of_office(
    request: Request,
    rep_id: str = PathParam(pattern=REP_ID),
    start: str = Form(max_length=32),
    end: str = Form(max_length=32),
    csrf: str = Form(max_length=128),
) -> Response:
    """Add an absence (in the rep's own time zone) through PUT /v1/reps/{id} (managers only)."""
    session = _manager(request, csrf)
    if not isinstance(session, Session):
        return session
    rep = _config(request).rep(rep_id)
    if rep is None:
        return _page(request, "error.html", _base(request, session, message=f"No rep {rep_id!r}."), 404)
    zone = ZoneInfo(rep.timezone)
    try:
        window = {
            "start": datetime.fromisoformat(start).replace(tzinfo=zone),
            "end": datetime.fromisoformat(end).replace(tzinfo=zone),
        }
    except ValueError:
        return _page(request, "error.html", _base(request, session, message="Dates must be YYYY-MM-DDTHH:MM."), 422)
    if window["end"] <= window["start"]:
        return _page(request, "error.html", _base(request, session, message="The end must be after the start."), 422)
    clients = _state(request).clients
    current = await clients.rep(rep_id)
    # PUT replaces the list: keep the absences the rep already has (runtime ones first, else routing.yaml's).
    known = (current.data or {}).get("out_of_office") if isinstance(current.data, dict) else None
    existing = (
        [{"start": _dt(w["start"]), "end": _dt(w["end"])} for w in known]
        if known
        else [{"start": w.start, "end": w.end} for w in rep.out_of_office]
    )
    windows = [w for w in existing if w["start"] and w["end"]] + [window]
    result = await clients.out_of_office(rep_id, windows)  # type: ignore[arg-type]
    team = rep.team
    return _after(request, f"/console/teams/{team}", result)
