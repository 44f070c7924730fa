"""Notifier settings: the shared base plus Slack and SMTP."""

from __future__ import annotations

from functools import lru_cache

from shared.settings import DEV_SECRET, BaseServiceSettings


class NotifierSettings(BaseServiceSettings):
    consumer_group: str = "leadflow-notifier"
    max_batch: int = 100
    slack_api_url: str = "https://slack.com/api"
    slack_bot_token: str = DEV_SECRET
    slack_signing_secret: str = DEV_SECRET
    slack_timeout_s: float = 5.0
    slack_max_attempts: int = 5
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = 10.0
    mail_from: str = "LeadFlow <leadflow@localhost>"
    console_url: str | None = None

    def secrets(self) -> dict[str, str | None]:
        return {"slack_bot_token": self.slack_bot_token, "slack_signing_secret": self.slack_signing_secret}


@lru_cache
def get_settings() -> NotifierSettings:
    return NotifierSettings()
