"""SLA arithmetic: when first contact is due and when to remind the owner."""

from __future__ import annotations

from datetime import datetime

from services.router.config import RoutingConfig
from shared.events import SlaKind


def sla_due_at(kind: SlaKind, decided_at: datetime, config: RoutingConfig) -> datetime:
    """When the owner must have acted: the decision time plus the configured window."""
    return decided_at + config.sla.windows[kind]


def reminder_times(kind: SlaKind, decided_at: datetime, config: RoutingConfig) -> list[datetime]:
    """When to remind the owner: each configured fraction of the window, earliest first."""
    window = config.sla.windows[kind]
    return [decided_at + window * fraction for fraction in config.sla.reminders_at]
