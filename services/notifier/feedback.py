"""Adapter for Slack interactions: a verified click becomes a feedback event on Kafka and an updated message.

The feedback event is written to the notifier's outbox before Slack gets its answer, so an acknowledged
click is never lost; publishing it and editing the message happen after the answer (Slack wants one within
three seconds), and the outbox relay publishes whatever a crash left behind. Opening the reject modal is
the one call made before answering, because its trigger expires with the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier import metrics
from services.notifier.interactions import (
    ButtonClick,
    Interaction,
    Outcome,
    RejectSubmission,
    acted_blocks,
    feedback_cloud_event,
    feedback_event,
    reject_modal,
    reject_reason_line,
    submission_errors,
)
from services.notifier.senders import PermanentSendError, SlackClient, TransientSendError
from shared.db import unit_of_work
from shared.events import LeadEvent, Topics
from shared.kafka import OutgoingMessage
from shared.logging import log_fields
from shared.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """What to answer Slack now (``body`` None: an empty 200) and what to do once it has been answered."""

    body: dict[str, object] | None
    after: FollowUp | None = None


@dataclass(frozen=True)
class FollowUp:
    """The work after the answer: publish the feedback event, then edit the original message."""

    message: OutgoingMessage
    outcome: Outcome
    channel_id: str
    message_ts: str
    user_id: str
    at: datetime
    locale: str
    blocks: list[dict[str, Any]] | None
    reason: str | None = None


class InteractionHandler:
    """Turns verified interactions into feedback events (via the outbox) and message updates."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        slack: SlackClient,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.slack = slack
        self.clock = clock

    async def handle(self, interaction: Interaction) -> Reply:
        """Record what the interaction means and say what to answer; raises nothing a user caused."""
        if isinstance(interaction, ButtonClick):
            if interaction.outcome == "rejected":
                return await self._ask_why(interaction)
            occurred = _slack_time(interaction.action_ts) or self.clock()
            event = feedback_event(
                outcome=interaction.outcome,
                value=interaction.value,
                user_id=interaction.user_id,
                occurred_at=occurred,
                received_at=self.clock(),
                click_id=interaction.action_ts,
            )
            return Reply(body=None, after=await self._record(event, interaction.outcome, interaction, None))
        if isinstance(interaction, RejectSubmission):
            errors = submission_errors(interaction)
            if errors is not None:
                metrics.INTERACTIONS.labels("view_submission", "incomplete").inc()
                return Reply(body={"response_action": "errors", "errors": errors})
            now = self.clock()
            event = feedback_event(
                outcome="rejected",
                value=interaction.value,
                user_id=interaction.user_id,
                occurred_at=now,
                received_at=now,
                reason_code=interaction.reason_code,
                reason_text=interaction.reason_text,
            )
            reason = reject_reason_line(interaction.reason_code, interaction.reason_text)
            return Reply(body=None, after=await self._record(event, "rejected", interaction, reason))
        metrics.INTERACTIONS.labels("other", "ignored").inc()
        return Reply(body=None)

    async def follow_up(self, work: FollowUp) -> None:
        """After answering Slack: publish the event, then edit the original message to say who did what."""
        try:
            await self.outbox.flush([work.message])
        except Exception:
            # The row stays in the outbox and the relay publishes it: the click is not lost.
            log.warning("feedback publish deferred to the relay", exc_info=True)
        try:
            blocks = work.blocks
            if blocks is None:
                # A modal submission does not carry the message: read it back to keep its content.
                original = await self.slack.message(work.channel_id, work.message_ts)
                found = (original or {}).get("blocks")
                blocks = [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []
            updated = acted_blocks(
                blocks,
                outcome=work.outcome,
                user_id=work.user_id,
                at=work.at,
                locale="ja" if work.locale == "ja" else "en",
                reason=work.reason,
            )
            await self.slack.update_message(work.channel_id, work.message_ts, _update_text(work), updated)
        except (PermanentSendError, TransientSendError) as exc:
            # The feedback counts either way; a message left with its buttons is cosmetic, so it is not retried.
            log.warning("could not update the Slack message", extra=log_fields(error=str(exc)[:200]))

    async def _ask_why(self, click: ButtonClick) -> Reply:
        if click.trigger_id is None:
            metrics.INTERACTIONS.labels("block_actions", "no_trigger").inc()
            return Reply(body=None)
        try:
            await self.slack.open_view(click.trigger_id, reject_modal(click))
        except (PermanentSendError, TransientSendError) as exc:
            metrics.INTERACTIONS.labels("block_actions", "modal_failed").inc()
            log.warning("could not open the reject modal", extra=log_fields(error=str(exc)[:200]))
            return Reply(body=None)
        metrics.INTERACTIONS.labels("block_actions", "modal_opened").inc()
        return Reply(body=None)

    async def _record(
        self, event: LeadEvent, outcome: Outcome, source: ButtonClick | RejectSubmission, reason: str | None
    ) -> FollowUp:
        message = OutgoingMessage(
            id=f"fb:{event.event_id}",
            topic=Topics.EVENTS,
            key=event.lead_id,
            value=feedback_cloud_event(event).to_bytes(),
        )
        async with unit_of_work(self.sessions) as session:
            await self.outbox.add(session, [message])
        metrics.INTERACTIONS.labels(
            "block_actions" if isinstance(source, ButtonClick) else "view_submission", outcome
        ).inc()
        log.info(
            "sales feedback from Slack",
            extra=log_fields(lead_id=event.lead_id, event_id=event.event_id, kind=event.kind.value),
        )
        return FollowUp(
            message=message,
            outcome=outcome,
            channel_id=source.channel_id,
            message_ts=source.message_ts,
            user_id=source.user_id,
            at=event.occurred_at,
            locale=source.value.locale,
            blocks=source.blocks if isinstance(source, ButtonClick) and source.blocks else None,
            reason=reason,
        )


def _slack_time(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _update_text(work: FollowUp) -> str:
    # chat.update needs a notification fallback text; the blocks carry the detail.
    words = {"accepted": "Lead accepted", "rejected": "Lead rejected", "contacted": "Contact logged"}
    return words[work.outcome]
