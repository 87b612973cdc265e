"""The service numbers simulated handsets call and text, and where their webhooks go."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServiceNumber:
    voice_url: str | None = None
    voice_method: str = "POST"
    sms_url: str | None = None
    sms_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    voice_fallback_url: str | None = None
    voice_fallback_method: str = "POST"
