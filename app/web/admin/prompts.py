"""The admin page for recorded prompts: every spoken prompt in every language, its recordings, upload and delete.

It stores and removes through app/data/recordings.py, as `callback-platform prompt` does.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from app.data import recordings
from app.web.admin.pages import Desk, admin_page
from twiml import prompts

# The largest recording, plus room for the form's other fields and the multipart framing:
# a file a little too large still reaches the page and gets its message next to the form.
MAX_BODY = recordings.MAX_BYTES + 64 * 1024
LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "fr": "French"}
DONE = {"saved": "The recording of {name} ({language}) was saved.",
        "removed": "The recording of {name} ({language}) was removed."}


def anchor(name: str, language: str) -> str:
    return f"rec-{language}-{name.replace('.', '-')}"


def _sections(stored: dict) -> list[dict]:
    """Per language, each spoken prompt with its parts and the recording of each recordable part (or None)."""
    sections = []
    for language in prompts.PROMPTS:
        rows = []
        for key in prompts.VOICE_PROMPTS:
            parts = prompts.parts(key, language)
            names = [part.recording for part in parts if not part.is_value]
            recorded = {name: stored.get((name, language)) for name in names}
            rows.append({"key": key, "parts": parts, "names": names, "recorded": recorded,
                         "count": sum(row is not None for row in recorded.values())})
        sections.append({"language": language, "name": LANGUAGE_NAMES.get(language, language), "rows": rows})
    return sections


async def _page(desk: Desk, *, status: int = 200, error: str | None = None, at: tuple[str, str] | None = None
                ) -> Response:
    stored = {}
    for row in await recordings.listing(desk.p.db):
        # The version in the URL makes the player fetch a replaced recording, not the one it cached.
        url = desk.root + recordings.media_path(row["prompt"], row["language"]) + \
            "?v=" + row["created_at"].strftime("%Y%m%d%H%M%S%f")
        stored[(row["prompt"], row["language"])] = {**row, "url": url}
    # Recordings no prompt plays (the catalogue's text changed since): listed so they can be removed.
    unused = [row for (name, language), row in stored.items() if not prompts.recordable(name, language)]
    done = DONE.get(desk.query("done"))
    if done:
        done = done.format(name=desk.query("prompt", 40), language=desk.query("language", 8))
    return desk.render("admin/prompts.html", status=status, active="prompts", sections=_sections(stored),
                       unused=unused, done=done, error=error, error_at=at, anchor=anchor,
                       max_mb=recordings.MAX_BYTES // 1024 // 1024)


@admin_page()
async def prompt_list(desk: Desk) -> Response:
    return await _page(desk)


@admin_page(upload=True, max_body=MAX_BODY)
async def upload(desk: Desk) -> Response:
    name, language = desk.field("prompt", 40), desk.field("language", 8)
    audio = desk.files.get("file")
    try:
        recordings.check_name(prompt=name, language=language)
        if audio is None or not (audio.filename or audio.content):
            raise recordings.RecordingError("Choose an MP3 or WAV file to upload.")
        await recordings.store(desk.p.db, prompt=name, language=language, audio=audio.content)
    except recordings.RecordingError as exc:
        known = prompts.recordable(name, language)
        return await _page(desk, status=422, error=f"{name} ({language}): {exc}" if known else str(exc),
                           at=(name, language) if known else None)
    return desk.redirect("/admin/prompts?" + urlencode({"done": "saved", "prompt": name, "language": language})
                         + "#" + anchor(name, language))


@admin_page()
async def remove(desk: Desk) -> Response:
    name, language = desk.field("prompt", 40), desk.field("language", 8)
    if not await recordings.remove(desk.p.db, prompt=name, language=language):
        return await _page(desk, status=422, error="There is no such recording (removed already?).")
    return desk.redirect("/admin/prompts?" + urlencode({"done": "removed", "prompt": name, "language": language})
                         + "#" + anchor(name, language))
