"""Who is looking: a token from settings, presented once as ?token= or on the login form, then kept in a cookie.

Managers may act (reassign, out of office); viewers only read. Tokens are compared in constant time, and the
cookie is HttpOnly and SameSite=Strict, so another site can neither read it nor make the browser send it with
a forged form; manager forms carry a CSRF token on top, derived from the session's token.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from services.router.console.settings import ConsoleSettings

COOKIE = "leadflow_console"


class Role(StrEnum):
    MANAGER = "manager"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Session:
    """An authenticated console user: their role and the CSRF token their forms must echo."""

    role: Role
    csrf: str

    @property
    def can_act(self) -> bool:
        return self.role is Role.MANAGER


def csrf_for(token: str) -> str:
    """A per-token form secret: knowing it proves the form came from a page the token holder loaded."""
    return hmac.new(token.encode(), b"leadflow-console-csrf", hashlib.sha256).hexdigest()


def _matches(presented: str, tokens: list[str]) -> bool:
    # Compare with every token, not stopping at the first hit, so timing says nothing about which one matched.
    found = False
    for token in tokens:
        found |= hmac.compare_digest(presented.encode(), token.encode())
    return found


def session_for(presented: str | None, settings: ConsoleSettings) -> Session | None:
    """The session a token opens, the manager role winning when a token is listed under both."""
    if not presented:
        return None
    for role in (Role.MANAGER, Role.VIEWER):
        if _matches(presented, settings.tokens(role.value)):
            return Session(role=role, csrf=csrf_for(presented))
    return None


def csrf_ok(session: Session, presented: str | None) -> bool:
    """Whether a form echoed its session's CSRF token."""
    return presented is not None and hmac.compare_digest(session.csrf.encode(), presented.encode())
