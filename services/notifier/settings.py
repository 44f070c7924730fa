"""Notifier settings: the shared base plus Slack and SMTP."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from shared.events import Topics
from shared.settings import DEV_SECRET, BaseServiceSettings

SLACK = frozenset({"slack"})
EMAIL = frozenset({"email"})


class NotifierSettings(BaseServiceSettings):
    consumer_group: str = "leadflow-notifier"  # routing decisions: first-contact alerts
    # SLA reminders and escalations in a group of their own: a wave of breaches, paced by Slack's one message a
    # second per channel, must never hold up a new lead's alert behind it.
    sla_consumer_group: str = "leadflow-notifier-sla"
    # Email in groups of its own, on the same topics: a batch is done when its last message is sent, and a mail
    # server slow for a moment (emails of one batch took 1.8 s in a bench run) held the next batch's Slack alerts
    # behind it (notifier hop p99 1.4-5 s at 100 events/s). Each medium now keeps its own offsets.
    email_consumer_group: str = "leadflow-notifier-email"
    sla_email_consumer_group: str = "leadflow-notifier-sla-email"
    max_batch: int = 100
    # A fetch brings at most 256 KB of a partition (aiokafka's default is 1 MiB), for each of the four groups: what
    # is fetched ahead waits in memory, and a batch takes 100 records. With four loops at 1 MiB the notifier's
    # peak RSS rose 123 → 138 MB in a full drain.
    kafka_max_partition_fetch_bytes: int = Field(default=256 * 1024, ge=1024)
    slack_api_url: str = "https://slack.com/api"
    slack_bot_token: str = DEV_SECRET
    slack_signing_secret: str = DEV_SECRET
    slack_timeout_s: float = 5.0
    # Connections to Slack at once (all kept open); more concurrent calls wait for one to come free.
    slack_max_connections: int = Field(default=16, ge=1)
    slack_max_attempts: int = 5
    slack_backoff_s: float = 0.5
    slack_backoff_max_s: float = 10.0
    # Slack allows about one message a second to a channel, with short bursts.
    slack_channel_interval_s: float = 1.0
    slack_channel_burst: int = 5
    # Requests signed longer ago than this are refused as replays (Slack's own advice: five minutes).
    slack_signature_max_age_s: float = 300.0
    slack_interaction_max_bytes: int = 1_000_000
    # How far back a pending message is looked for in Slack before it is sent again.
    slack_history_page_size: int = 200
    slack_history_max_pages: int = 5
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = 10.0
    # SMTP conversations at once (kept open between messages); more emails wait for one to come free.
    smtp_max_connections: int = Field(default=8, ge=1)
    mail_from: str = "LeadFlow <leadflow@localhost>"
    console_url: str | None = None
    # The seminar thank-you's material link; without it the email thanks and offers a conversation only.
    seminar_material_url: str | None = None

    def secrets(self) -> dict[str, str | None]:
        """Slack's bot token and signing secret must be real outside development."""
        return {"slack_bot_token": self.slack_bot_token, "slack_signing_secret": self.slack_signing_secret}

    def consumer_groups(self) -> list[tuple[str, str, frozenset[str]]]:
        """(topic, group, media it delivers) of every consumer loop: Slack and email apart, on each topic."""
        return [
            (Topics.DECISIONS, self.consumer_group, SLACK),
            (Topics.DECISIONS, self.email_consumer_group, EMAIL),
            (Topics.SLA, self.sla_consumer_group, SLACK),
            (Topics.SLA, self.sla_email_consumer_group, EMAIL),
        ]


def default_consumer_groups() -> list[tuple[str, str, frozenset[str]]]:
    """The consumer groups as shipped, whatever the environment says: for generated docs, manifests' checks and
    the bench, which must not change with the shell they run in."""
    return NotifierSettings.model_construct().consumer_groups()


@lru_cache
def get_settings() -> NotifierSettings:
    """The notifier's settings, read once from the environment."""
    return NotifierSettings()
