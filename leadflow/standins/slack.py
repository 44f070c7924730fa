"""A local stand-in for the Slack Web API: checks what Slack checks and keeps what it accepts.

Mount point: point the notifier at ``SLACK_API_URL=http://host:port/api/``. It answers like Slack does,
HTTP 200 with ``{"ok": false, "error": "..."}`` for every refusal, so the notifier's error handling is
exercised as it would be in production.

Control endpoints (not part of Slack) for tests and demos:

* ``POST /_standin/faults`` queues a fault for the next API calls, e.g. ``{"mode": "429", "retry_after": 1,
  "count": 2}``, ``{"mode": "500", "count": 3}``, ``{"mode": "hang", "seconds": 5, "count": 1}`` or
  ``{"mode": "error", "error": "channel_not_found", "count": 1}``. Faults apply in order, each to ``count``
  calls. A hang delays the call and then handles it normally, as a slow Slack that still posts would.
* ``GET`` / ``DELETE /_standin/faults`` reads or clears the queue.
* ``GET /_standin/slack/messages`` (``?channel=``) lists accepted messages, oldest first;
  ``DELETE`` forgets them.
* ``GET /_standin/slack/views`` lists the modals opened with ``views.open``.

Besides ``chat.postMessage`` and ``chat.update`` it answers ``views.open`` (checks the trigger and the view as
Block Kit), ``conversations.open`` (a user's DM is ``D`` + the user id's tail; messages posted "to the user"
are in it) and ``conversations.history`` (newest first, ``oldest`` / ``latest`` / ``inclusive``, cursor paging,
``metadata`` only with ``include_all_metadata``). Read methods take form-encoded or JSON arguments.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

_CHANNEL = re.compile(r"^[UCGDW][A-Z0-9]{2,}$")
# Slack's own limits: blocks per message and characters of top-level text.
_MAX_BLOCKS = 50
_MAX_TEXT = 40_000
_BOT_ID = "B0STANDIN"
_MODAL_BLOCKS = frozenset({"section", "divider", "image", "actions", "context", "input", "header", "rich_text"})


class FaultSpec(BaseModel):
    """One injected fault: what to answer and for how many API calls."""

    mode: Literal["429", "500", "502", "503", "hang", "error"]
    count: int = Field(default=1, ge=1)
    retry_after: int = Field(default=1, ge=0)
    seconds: float = Field(default=5.0, ge=0)
    error: str = "internal_error"


# Messages kept before the oldest are forgotten: a benchmark posts ~100,000 of ~15 KB each, which held 1.5 GB
# (50,000 still held 680 MB). A test or a demo posts a few hundred.
MAX_MESSAGES = 20_000


@dataclass
class SlackState:
    """What the stand-in remembers: accepted messages (the latest ``max_messages``) and the fault queue."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    faults: list[FaultSpec] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)
    max_messages: int = MAX_MESSAGES
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def remember(self, message: dict[str, Any]) -> None:
        """Keep an accepted message; past ``max_messages`` the oldest tenth is forgotten at once (amortized)."""
        self.messages.append(message)
        if len(self.messages) > self.max_messages:
            del self.messages[: len(self.messages) - self.max_messages * 9 // 10]

    def next_ts(self) -> str:
        """A message timestamp unique within this stand-in, shaped like Slack's ("1700000000.000001")."""
        return f"{int(time.time())}.{next(self._seq):06d}"

    def take_fault(self) -> FaultSpec | None:
        """Consume one use of the fault at the head of the queue, if any."""
        if not self.faults:
            return None
        head = self.faults[0]
        if head.count <= 1:
            self.faults.pop(0)
        else:
            self.faults[0] = head.model_copy(update={"count": head.count - 1})
        return head


class _Refusal(Exception):
    """Slack's way of saying no: HTTP 200 with ok=false and an error string."""

    def __init__(self, error: str, detail: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail


def create_slack_app(token: str, *, state: SlackState | None = None) -> FastAPI:
    """Build the Slack stand-in app accepting ``Bearer <token>``."""
    app = FastAPI(title="LeadFlow Slack stand-in", docs_url=None, redoc_url=None)
    app.state.slack = state or SlackState()
    app.include_router(slack_router(token, app.state.slack))
    return app


def slack_router(token: str, state: SlackState) -> APIRouter:
    """The Web API methods and the control endpoints, to mount on any app."""
    router = APIRouter()

    @router.post("/api/chat.postMessage")
    async def post_message(request: Request) -> Response:
        fault = await _apply_fault(state)
        if fault is not None:
            return fault
        try:
            body = await _checked_body(request, token)
            channel = _checked_channel(body)
            text, blocks = _checked_content(body)
            _checked_metadata(body)
        except _Refusal as refusal:
            return _refused(refusal)
        ts = state.next_ts()
        message = _stored(body, channel=channel, ts=ts, text=text, blocks=blocks, method="chat.postMessage")
        state.remember(message)
        return _ok({"channel": channel, "ts": ts, "message": _as_slack_message(message)})

    @router.post("/api/chat.update")
    async def update(request: Request) -> Response:
        fault = await _apply_fault(state)
        if fault is not None:
            return fault
        try:
            body = await _checked_body(request, token)
            channel = _checked_channel(body)
            ts = body.get("ts")
            if not isinstance(ts, str) or not ts:
                raise _Refusal("message_not_found")
            index = next(
                (i for i, m in enumerate(state.messages) if _in_conversation(m, channel) and m["ts"] == ts), None
            )
            if index is None:
                raise _Refusal("message_not_found")
            text, blocks = _checked_content(body)
        except _Refusal as refusal:
            return _refused(refusal)
        previous = state.messages[index]
        updated = _stored(body, channel=previous["channel"], ts=ts, text=text, blocks=blocks, method="chat.update")
        updated["metadata"] = previous.get("metadata")
        updated["edits"] = previous.get("edits", 0) + 1
        state.messages[index] = updated
        return _ok({"channel": channel, "ts": ts, "text": text, "message": _as_slack_message(updated)})

    @router.post("/api/views.open")
    async def open_view(request: Request) -> Response:
        fault = await _apply_fault(state)
        if fault is not None:
            return fault
        try:
            body = await _checked_body(request, token)
            trigger = body.get("trigger_id")
            if not isinstance(trigger, str) or not trigger:
                raise _Refusal("invalid_trigger_id")
            view = _checked_view(body.get("view"))
        except _Refusal as refusal:
            return _refused(refusal)
        opened = {"id": f"V{len(state.views) + 1:08d}", "trigger_id": trigger, **view}
        state.views.append(opened)
        return _ok({"view": opened})

    @router.post("/api/conversations.open")
    async def open_conversation(request: Request) -> Response:
        fault = await _apply_fault(state)
        if fault is not None:
            return fault
        try:
            args = await _checked_args(request, token)
            users = str(args.get("users") or "")
            if not _CHANNEL.match(users) or users[0] not in "UW":
                raise _Refusal("user_not_found")
        except _Refusal as refusal:
            return _refused(refusal)
        return _ok({"channel": {"id": _dm_of(users)}})

    @router.api_route("/api/conversations.history", methods=["GET", "POST"])
    async def history(request: Request) -> Response:
        fault = await _apply_fault(state)
        if fault is not None:
            return fault
        try:
            args = await _checked_args(request, token)
            channel = _checked_channel(args)
            page = _history_page(state.messages, channel, args)
        except _Refusal as refusal:
            return _refused(refusal)
        return _ok(page)

    @router.get("/_standin/slack/views")
    async def list_views() -> dict[str, Any]:
        return {"views": state.views}

    @router.get("/_standin/slack/messages")
    async def list_messages(channel: str | None = None) -> dict[str, Any]:
        messages = [m for m in state.messages if channel is None or m["channel"] == channel]
        return {"messages": messages}

    @router.delete("/_standin/slack/messages")
    async def clear_messages() -> dict[str, Any]:
        state.messages.clear()
        return {"ok": True}

    @router.post("/_standin/faults")
    async def add_fault(spec: FaultSpec) -> dict[str, Any]:
        state.faults.append(spec)
        return {"faults": [f.model_dump() for f in state.faults]}

    @router.get("/_standin/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": [f.model_dump() for f in state.faults]}

    @router.delete("/_standin/faults")
    async def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"ok": True}

    return router


async def _apply_fault(state: SlackState) -> Response | None:
    # Taken before any waiting, so a client that gives up on a hang still uses up the fault.
    fault = state.take_fault()
    if fault is None:
        return None
    if fault.mode == "hang":
        await asyncio.sleep(fault.seconds)
        return None
    if fault.mode == "429":
        return JSONResponse(
            {"ok": False, "error": "ratelimited"},
            status_code=429,
            headers={"Retry-After": str(fault.retry_after)},
        )
    if fault.mode == "error":
        return _refused(_Refusal(fault.error))
    return JSONResponse({"ok": False, "error": "internal_error"}, status_code=int(fault.mode))


def _checked_token(request: Request, token: str) -> None:
    # Slack checks the token before it looks at the payload.
    authorization = request.headers.get("authorization")
    if not authorization:
        raise _Refusal("not_authed")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or credential.strip() != token:
        raise _Refusal("invalid_auth")


async def _checked_args(request: Request, token: str) -> dict[str, Any]:
    """Arguments of a read method: query string, form-encoded body or JSON, as Slack accepts them."""
    _checked_token(request, token)
    args: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type == "application/json":
            return args | await _checked_body(request, token)
        if content_type == "application/x-www-form-urlencoded":
            form = await request.form()
            args |= {k: v for k, v in form.items() if isinstance(v, str)}
        elif content_type:
            raise _Refusal("invalid_post_type")
    return args


def _dm_of(user: str) -> str:
    return "D" + user[1:]


def _in_conversation(message: dict[str, Any], channel: str) -> bool:
    # A message posted "to a user" lives in the bot's DM with them.
    stored = message["channel"]
    return stored == channel or (stored[0] in "UW" and _dm_of(stored) == channel)


def _history_page(messages: list[dict[str, Any]], channel: str, args: dict[str, Any]) -> dict[str, Any]:
    """One page of a conversation, newest first, the way conversations.history pages it."""
    try:
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else float("inf")
        limit = max(1, min(int(args.get("limit") or 100), 999))
        offset = int(args.get("cursor") or 0)
    except ValueError as exc:
        raise _Refusal("invalid_arguments", str(exc)) from exc
    inclusive = str(args.get("inclusive", "")).lower() in {"1", "true"}
    with_metadata = str(args.get("include_all_metadata", "")).lower() in {"1", "true"}

    def within(ts: float) -> bool:
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest

    found = [m for m in messages if _in_conversation(m, channel) and within(float(m["ts"]))]
    found.sort(key=lambda m: float(m["ts"]), reverse=True)
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    out = []
    for stored in page:
        item = _as_slack_message(stored)
        if with_metadata and stored.get("metadata") is not None:
            item["metadata"] = stored["metadata"]
        out.append(item)
    return {
        "messages": out,
        "has_more": more,
        "response_metadata": {"next_cursor": str(offset + limit) if more else ""},
    }


async def _checked_body(request: Request, token: str) -> dict[str, Any]:
    _checked_token(request, token)
    content_type = request.headers.get("content-type")
    if not content_type:
        raise _Refusal("missing_post_type")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise _Refusal("invalid_post_type", f"unsupported Content-Type {content_type!r}; send application/json")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise _Refusal("invalid_json", str(exc)) from exc
    if not isinstance(body, dict):
        raise _Refusal("json_not_object")
    return body


def _checked_channel(body: dict[str, Any]) -> str:
    channel = body.get("channel")
    if not isinstance(channel, str) or not _CHANNEL.match(channel):
        raise _Refusal("channel_not_found")
    return channel


def _checked_content(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
    text = body.get("text")
    blocks = body.get("blocks")
    if isinstance(blocks, str):
        # Slack also takes blocks as a JSON-encoded string (form-encoded clients send them that way).
        try:
            blocks = orjson.loads(blocks)
        except orjson.JSONDecodeError as exc:
            raise _Refusal("invalid_blocks_format", str(exc)) from exc
    if text is not None and not isinstance(text, str):
        raise _Refusal("invalid_arguments", "text must be a string")
    if not text and not blocks:
        raise _Refusal("no_text")
    if text is not None and len(text) > _MAX_TEXT:
        raise _Refusal("msg_too_long")
    if blocks is not None:
        _validate_blocks(blocks)
    return text, blocks


def _checked_metadata(body: dict[str, Any]) -> None:
    metadata = body.get("metadata")
    if metadata is None:
        return
    if isinstance(metadata, str):
        try:
            metadata = orjson.loads(metadata)
        except orjson.JSONDecodeError as exc:
            raise _Refusal("invalid_metadata_format", str(exc)) from exc
    # Slack's message metadata: an event type and an object payload, nothing else.
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise _Refusal("invalid_metadata_schema")
    body["metadata"] = metadata


def _checked_view(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _Refusal("invalid_arguments", str(exc)) from exc
    _validate_view(raw)
    return dict(raw)


def _validate_view(view: Any) -> None:
    if not isinstance(view, dict) or view.get("type") not in {"modal", "home"}:
        raise _Refusal("invalid_arguments", "view must be an object of type modal")
    if view.get("type") == "modal" and not isinstance(view.get("title"), dict):
        raise _Refusal("invalid_arguments", "a modal needs a title [json-pointer:/view/title]")
    metadata = view.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > 3000):
        raise _Refusal("invalid_arguments", "private_metadata must be a string of at most 3000 characters")
    try:
        View(**{k: v for k, v in view.items() if k != "blocks"}, blocks=view.get("blocks")).validate_json()
    except Exception as exc:
        raise _Refusal("invalid_arguments", f"{exc} [json-pointer:/view]") from exc
    _validate_blocks(view.get("blocks") or [], allow=_MODAL_BLOCKS)


def _validate_blocks(blocks: Any, allow: frozenset[str] | None = None) -> None:
    if not isinstance(blocks, list):
        raise _Refusal("invalid_blocks", "blocks must be an array")
    if len(blocks) > _MAX_BLOCKS:
        raise _Refusal("invalid_blocks", f"no more than {_MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for index, raw in enumerate(blocks):
        where = f"[json-pointer:/blocks/{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise _Refusal("invalid_blocks", f"block must be an object with a type {where}")
        if raw["type"] == "input" and allow is None:
            # Input blocks belong in modals and Home tabs; Slack refuses them in messages.
            raise _Refusal("invalid_blocks", f"input blocks are not allowed in messages {where}")
        if allow is not None and raw["type"] not in allow:
            raise _Refusal("invalid_blocks", f"block type {raw['type']!r} is not allowed here {where}")
        try:
            parsed = Block.parse(raw)
            if parsed is None:
                raise _Refusal("invalid_blocks", f"unknown block type {raw['type']!r} {where}")
            # to_dict() validates the block and, recursively, every element and text object inside it.
            normalized = parsed.to_dict()
        except _Refusal:
            raise
        except Exception as exc:
            # slack_sdk reports bad input as formation errors, TypeErrors or worse: all of it is the
            # client's fault here, and Slack answers all of it with invalid_blocks.
            raise _Refusal("invalid_blocks", f"{exc} {where}") from exc
        # slack_sdk quietly drops what it does not know and coerces a bare string into a text object;
        # Slack refuses both, so anything the round trip lost or changed is invalid.
        lost = _first_difference(raw, normalized, where=f"/blocks/{index}")
        if lost is not None:
            raise _Refusal("invalid_blocks", f"unsupported or malformed value [json-pointer:{lost}]")


def _first_difference(raw: Any, normalized: Any, *, where: str) -> str | None:
    """Where ``raw`` has a value that ``normalized`` lacks or changed; None when raw survived intact."""
    if isinstance(raw, dict):
        if not isinstance(normalized, dict):
            return where
        for key, value in raw.items():
            if key not in normalized:
                return f"{where}/{key}"
            found = _first_difference(value, normalized[key], where=f"{where}/{key}")
            if found is not None:
                return found
        return None
    if isinstance(raw, list):
        if not isinstance(normalized, list) or len(raw) != len(normalized):
            return where
        for i, (item, other) in enumerate(zip(raw, normalized, strict=True)):
            found = _first_difference(item, other, where=f"{where}/{i}")
            if found is not None:
                return found
        return None
    return None if raw == normalized else where


def _stored(
    body: dict[str, Any],
    *,
    channel: str,
    ts: str,
    text: str | None,
    blocks: list[dict[str, Any]] | None,
    method: str,
) -> dict[str, Any]:
    return {
        "method": method,
        "channel": channel,
        "ts": ts,
        "text": text,
        "blocks": blocks,
        "thread_ts": body.get("thread_ts"),
        "metadata": body.get("metadata"),
        "received_at": time.time(),
        "payload": body,
    }


def _as_slack_message(stored: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": _BOT_ID,
        "text": stored["text"] or "",
        "ts": stored["ts"],
    }
    if stored["blocks"] is not None:
        message["blocks"] = stored["blocks"]
    if stored["thread_ts"] is not None:
        message["thread_ts"] = stored["thread_ts"]
    return message


def _ok(payload: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"ok": True, **payload})


def _refused(refusal: _Refusal) -> JSONResponse:
    payload: dict[str, Any] = {"ok": False, "error": refusal.error}
    if refusal.detail is not None:
        payload["response_metadata"] = {"messages": [f"[ERROR] {refusal.detail}"]}
    return JSONResponse(payload)
