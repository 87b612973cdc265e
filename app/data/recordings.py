"""Operator-recorded prompts: stored in the database, served to the provider, played instead of <Say>.

A recording is named like the prompt it replaces (`enter_pin`), or like the
part of a prompt with values it replaces (`connecting.2`): see twiml/prompts.py.
The CLI (`prompt record`) and the admin page (/admin/prompts) both store here.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.data.db import Database, utcnow
from app.data.tables import prompt_recordings
from app.core.timed_cache import TimedCache
from twiml.prompts import PROMPTS, recordable, recording_names, spoken

MAX_BYTES = 5 * 1024 * 1024
# Every IVR step asks which prompts are recorded; the answer changes only when an
# operator uploads or deletes one.
_recorded: TimedCache[frozenset[str]] = TimedCache()


class RecordingError(ValueError):
    pass


def media_path(prompt: str, language: str) -> str:
    return f"/media/prompts/{prompt}/{language}"


def audio_type(audio: bytes) -> str | None:
    """audio/mpeg or audio/wav, from the file's first bytes; None for anything else.

    What a browser declares for a file depends on its OS (.mp3 comes as audio/mp3,
    audio/mpeg or application/octet-stream), so the bytes are what is trusted.
    """
    if audio[:4] == b"RIFF" and audio[8:12] == b"WAVE":
        return "audio/wav"
    # An ID3 tag, or straight into an MPEG audio frame: 11 sync bits, then a layer other than 00 (that is AAC).
    if audio[:3] == b"ID3" or (len(audio) > 1 and audio[0] == 0xFF and audio[1] & 0xE0 == 0xE0 and audio[1] & 0x06):
        return "audio/mpeg"
    return None


def check_name(*, prompt: str, language: str) -> None:
    """RecordingError, with a sentence for the operator, unless `prompt` names a recording played in `language`."""
    if language not in PROMPTS:
        raise RecordingError(f"The language is one of {', '.join(PROMPTS)}.")
    if not recordable(prompt, language):
        key = prompt.rsplit(".", 1)[0]
        if spoken(key):  # a prompt with values named whole, or a part it does not have
            raise RecordingError(f"There is no {prompt!r} to record: in {language}, {key} is recorded as "
                                 f"{' + '.join(recording_names(key, language))}.")
        raise RecordingError(f"There is no prompt named {prompt[:40]!r} that is spoken on calls.")


def check_audio(audio: bytes) -> str:
    """The content type of audio that may be stored; RecordingError with a sentence for the operator."""
    if not audio:
        raise RecordingError("The file is empty.")
    if len(audio) > MAX_BYTES:
        raise RecordingError(f"The file is larger than {MAX_BYTES // 1024 // 1024} MB.")
    content_type = audio_type(audio)
    if content_type is None:
        raise RecordingError("The file is not MP3 or WAV audio.")
    return content_type


async def _recorded_names(db: Database, language: str) -> frozenset[str]:
    async def load() -> frozenset[str]:
        rows = await db.fetch_all(prompt_recordings.select().with_only_columns(prompt_recordings.c.prompt)
                                  .where(prompt_recordings.c.language == language))
        return frozenset(row["prompt"] for row in rows)

    return await _recorded.get((db.url, language), load)


async def urls(db: Database, *, base_url: str, language: str) -> dict[str, str]:
    return {name: base_url + media_path(name, language) for name in await _recorded_names(db, language)}


async def store(db: Database, *, prompt: str, language: str, audio: bytes) -> None:
    check_name(prompt=prompt, language=language)
    content_type = check_audio(audio)
    async with db.transaction():
        await db.execute(prompt_recordings.delete().where(prompt_recordings.c.prompt == prompt,
                                                          prompt_recordings.c.language == language))
        await db.execute(prompt_recordings.insert().values(prompt=prompt, language=language, content_type=content_type,
                                                           audio=audio, created_at=utcnow()))
    _recorded.clear()


async def fetch(db: Database, *, prompt: str, language: str):
    return await db.fetch_one(prompt_recordings.select().where(prompt_recordings.c.prompt == prompt,
                                                               prompt_recordings.c.language == language))


async def remove(db: Database, *, prompt: str, language: str) -> bool:
    rows = await db.fetch_all(prompt_recordings.delete().where(prompt_recordings.c.prompt == prompt,
                                                               prompt_recordings.c.language == language)
                              .returning(prompt_recordings.c.id))
    _recorded.clear()
    return bool(rows)


async def listing(db: Database):
    """Every recording without its audio: prompt, language, content_type, created_at, size (bytes)."""
    return await db.fetch_all(prompt_recordings.select().with_only_columns(
        prompt_recordings.c.prompt, prompt_recordings.c.language, prompt_recordings.c.content_type,
        prompt_recordings.c.created_at, sa.func.length(prompt_recordings.c.audio).label("size"))
        .order_by(prompt_recordings.c.language, prompt_recordings.c.prompt))
