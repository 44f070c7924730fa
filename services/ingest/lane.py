"""The event routes' direct lane: the same routes and the same answers, without FastAPI's per-request machinery.

Why: at 1,000 single events/s (the bench's open-model generator, one request at a time on each connection)
ingest's process was near a whole core, about 0.9 ms of CPU per event, and py-spy put over a third of it in what
FastAPI and Starlette do around a route: matching every route, two exit stacks and an exception wrapper per
request, and ``solve_dependencies`` walking the route's dependency tree to find one ``Request`` and one body.
The routes themselves (api.py) stay as they are, and FastAPI still serves everything else and documents them.

How: the lane is the innermost middleware, inside the request metrics, the load shedder and the size and type
gate, so every one of those still applies. For a ``POST`` to the exact path of a route of the one shape every
event route has, ``(request, body, principal)`` with the principal a dependency that takes only the request,
it does what FastAPI does for that shape, in the same order: parse the JSON (a syntax error is a 422 before
anything else), resolve the principal (401, 429), validate the body with the route's own field (422 with the
same locations), call the route's endpoint, and turn an exception into an answer with the app's own exception
handlers. The routes are api.py's as declared: a dependency added where the router is included (there is
none) would not run here. ``EVENT_LANE=false`` hands every request to FastAPI; tests/ingest/test_lane.py posts
the same good and bad requests both ways and compares the answers.
"""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.settings import get_settings

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response] | Response]


@lru_cache(maxsize=64)
def _is_json(content_type: str | None) -> bool:
    # FastAPI's own test: only an application/json or application/*+json body is parsed as JSON.
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


@dataclass(frozen=True)
class LaneRoute:
    """One event route, taken apart: its endpoint, its body field and its principal dependency."""

    route: APIRoute
    request_name: str
    body_name: str
    principal_name: str
    principal: Callable[[Request], Awaitable[Any]]

    async def answer(self, request: Request) -> Response:
        """What FastAPI would answer for this route, or the exception it would raise."""
        body: Any = PydanticUndefined
        try:
            raw = await request.body()
            if raw and _is_json(request.headers.get("content-type")):
                body = await request.json()
            elif raw:
                body = raw  # not JSON: validation refuses it, as FastAPI's does
        except json.JSONDecodeError as exc:
            error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
            raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
        except Exception as exc:  # not UTF-8, the client gone mid-body: FastAPI's answer for a body it cannot read
            raise HTTPException(400, "There was an error parsing the body") from exc
        principal = await self.principal(request)
        field = self.route.body_field
        assert field is not None  # lane_routes took only routes with a body
        if body is PydanticUndefined:
            value, errors = None, [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        else:
            value, errors = field.validate(body, {}, loc=("body",))
        if errors:
            raise RequestValidationError(errors, body=body)
        kwargs = {self.request_name: request, self.body_name: value, self.principal_name: principal}
        response = await self.route.endpoint(**kwargs)
        if not isinstance(response, Response):
            raise TypeError(f"{self.route.path} answered {type(response).__name__}, not a Response")
        return response


def _reads_parameters(dependant: Any) -> bool:
    # Path, query, header or cookie parameters: FastAPI would resolve them, the lane does not.
    return bool(dependant.path_params or dependant.query_params or dependant.header_params or dependant.cookie_params)


def _takes_only_request(dependant: Any) -> bool:
    return (
        inspect.iscoroutinefunction(dependant.call)
        and dependant.request_param_name is not None
        and not (dependant.dependencies or dependant.body_params or _reads_parameters(dependant))
    )


def lane_routes(routes: Iterable[BaseRoute]) -> dict[str, LaneRoute]:
    """The POST routes of the event shape ``(request, body, principal)``, by path; any other route is FastAPI's."""
    lanes: dict[str, LaneRoute] = {}
    for route in routes:
        if not isinstance(route, APIRoute) or route.methods != {"POST"} or route.body_field is None:
            continue
        dependant = route.dependant
        if not inspect.iscoroutinefunction(route.endpoint) or "{" in route.path:
            continue
        if len(dependant.body_params) != 1 or len(dependant.dependencies) != 1 or dependant.request_param_name is None:
            continue
        principal = dependant.dependencies[0]
        if _reads_parameters(dependant) or principal.name is None or not _takes_only_request(principal):
            continue
        lanes[route.path] = LaneRoute(
            route=route,
            request_name=dependant.request_param_name,
            body_name=dependant.body_params[0].name,
            principal_name=principal.name,
            principal=principal.call,  # type: ignore[arg-type]  # checked by _takes_only_request
        )
    return lanes


class EventLane:
    """Pure ASGI: the event routes answered directly (see the module's docstring); anything else passes through."""

    def __init__(self, app: ASGIApp, owner: FastAPI, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.owner = owner
        self.routes = lane_routes(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if lane is None or not get_settings().event_lane:
            await self.app(scope, receive, send)
            return
        scope["route"] = lane.route  # as routing would: the request metrics label by the route's template
        request = Request(scope, receive, send)
        try:
            response = await lane.answer(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise  # to the server-error middleware, as FastAPI's router would let it go
            answered = handler(request, exc)
            response = await answered if inspect.isawaitable(answered) else answered
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        # Starlette's lookup: an HTTP exception's status first, then the exception's classes, nearest first.
        handlers: dict[Any, ExceptionHandler] = self.owner.exception_handlers
        if isinstance(exc, StarletteHTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        return next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
