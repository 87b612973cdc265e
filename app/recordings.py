"""Operator-recorded prompts: stored in the database, served to the provider, played instead of <Say>."""

from __future__ import annotations

from databases import Database

from app.db import utcnow
from app.tables import prompt_recordings
from twiml.prompts import PROMPTS, recordable

AUDIO_TYPES = {"audio/mpeg", "audio/wav", "audio/x-wav", "audio/wave"}
MAX_BYTES = 5 * 1024 * 1024


class RecordingError(ValueError):
    pass


def media_path(prompt: str, language: str) -> str:
    return f"/media/prompts/{prompt}/{language}"


async def urls(db: Database, *, base_url: str, language: str) -> dict[str, str]:
    rows = await db.fetch_all(prompt_recordings.select().with_only_columns(prompt_recordings.c.prompt)
                              .where(prompt_recordings.c.language == language))
    return {row["prompt"]: base_url + media_path(row["prompt"], language) for row in rows}


async def store(db: Database, *, prompt: str, language: str, content_type: str, audio: bytes) -> None:
    if prompt not in PROMPTS["en"] or not recordable(prompt):
        raise RecordingError(f"{prompt!r} is not a prompt that can be recorded (it has none, or says a number)")
    if language not in PROMPTS:
        raise RecordingError(f"language is one of {', '.join(PROMPTS)}")
    if content_type not in AUDIO_TYPES:
        raise RecordingError("audio is audio/mpeg (MP3) or audio/wav")
    if not audio or len(audio) > MAX_BYTES:
        raise RecordingError(f"audio is 1 byte to {MAX_BYTES // 1024 // 1024} MB")
    async with db.transaction():
        await db.execute(prompt_recordings.delete().where(prompt_recordings.c.prompt == prompt,
                                                          prompt_recordings.c.language == language))
        await db.execute(prompt_recordings.insert().values(prompt=prompt, language=language, content_type=content_type,
                                                           audio=audio, created_at=utcnow()))


async def fetch(db: Database, *, prompt: str, language: str):
    return await db.fetch_one(prompt_recordings.select().where(prompt_recordings.c.prompt == prompt,
                                                               prompt_recordings.c.language == language))


async def remove(db: Database, *, prompt: str, language: str) -> bool:
    rows = await db.fetch_all(prompt_recordings.delete().where(prompt_recordings.c.prompt == prompt,
                                                               prompt_recordings.c.language == language)
                              .returning(prompt_recordings.c.id))
    return bool(rows)


async def listing(db: Database):
    return await db.fetch_all(prompt_recordings.select().with_only_columns(
        prompt_recordings.c.prompt, prompt_recordings.c.language, prompt_recordings.c.content_type,
        prompt_recordings.c.created_at).order_by(prompt_recordings.c.language, prompt_recordings.c.prompt))
