"""Running the platform: migrations, demo data, the server."""

from __future__ import annotations

from pathlib import Path

from app.web.demo import seed as demo
from app.core import logs
from app.data import recordings
from app.cli.commands import CommandError
from app.data.instance import resolve_secret_key
from app.data.migrations import upgrade
from app.core.settings import Settings
from twiml import prompts
from twiml.prompts import PROMPTS


def cmd_db_upgrade(settings: Settings, args) -> str:
    upgrade(settings)
    return "database is up to date"


async def cmd_demo_seed(settings: Settings, args, db) -> str:
    added = await demo.seed(db, secret_key=await resolve_secret_key(db, settings))
    return "demo data: " + (", ".join(added) if added else "already there")


async def cmd_prompt_record(settings: Settings, args, db) -> str:
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"no such file: {args.file}")
    if path.stat().st_size > recordings.MAX_BYTES:  # refused before reading a file of any size into memory
        raise CommandError(f"the file is larger than {recordings.MAX_BYTES // 1024 // 1024} MB")
    try:
        await recordings.store(db, prompt=args.prompt, language=args.language, audio=path.read_bytes())
    except recordings.RecordingError as exc:
        raise CommandError(str(exc)) from None
    return f"{args.prompt} ({args.language}) will be played from {recordings.media_path(args.prompt, args.language)}"


async def cmd_prompt_list(settings: Settings, args, db) -> str:
    language = args.language
    rows = await recordings.listing(db)
    lines = [f"{row['language']}\t{row['prompt']}\t{row['content_type']}\t{row['size']} bytes" for row in rows]
    lines = lines or ["no recordings"]
    lines.append(f"recordable in {language} (a prompt that says a value is recorded in parts, around the value):")
    for key in prompts.VOICE_PROMPTS:
        lines += [f"  {part.recording}\t{part.text}" for part in prompts.parts(key, language) if not part.is_value]
    return "\n".join(lines)


async def cmd_prompt_remove(settings: Settings, args, db) -> str:
    if not await recordings.remove(db, prompt=args.prompt, language=args.language):
        raise CommandError("no such recording")
    # A prompt with values is played only while all its parts are recorded: without one, all of it is spoken.
    return f"{args.prompt} ({args.language}) was removed: {args.prompt.rsplit('.', 1)[0]} is spoken again"


def cmd_serve(settings: Settings, args) -> str:
    import uvicorn

    from app.core.request_origin import http_base

    # One worker gets the app built here, told the address it listens on (the sandbox's callback
    # base); several need an import string, and each then names the socket a request arrived on.
    if args.workers == 1:
        from app.main import create_app

        target = create_app(settings, listen_url=http_base(args.host, args.port))
    else:
        target = "app.main:app"
    # uvicorn leaves the client address as the socket's peer: the platform reads X-Forwarded-For
    # itself, by one rule (request_origin.client_address: FORWARDED_ALLOW_IPS, FORWARDED_TRUSTED_HOPS),
    # and uvicorn's own (the leftmost entry, which the client writes, once `*` is trusted) never applies.
    uvicorn.run(target, host=args.host, port=args.port, proxy_headers=False, http="httptools",
                workers=args.workers, log_config=logs.config())
    return ""


def register(groups) -> None:
    db = groups.add_parser("db", help="database").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(run=cmd_db_upgrade)

    demo_data = groups.add_parser("demo", help="demo data").add_subparsers(dest="command", required=True)
    demo_data.add_parser("seed", help="add demo subscribers, numbers and rates (idempotent)").set_defaults(
        run_db=cmd_demo_seed)

    prompt = groups.add_parser("prompt", help="recorded prompts played instead of text-to-speech").add_subparsers(
        dest="command", required=True)
    record = prompt.add_parser("record", help="use an audio file (WAV or MP3) for a prompt, or a part of one")
    record.add_argument("prompt", help="a prompt (enter_pin), or a part of a prompt that says a value (connecting.2)")
    record.add_argument("file")
    record.add_argument("--language", default="en")
    record.set_defaults(run_db=cmd_prompt_record)
    listing = prompt.add_parser("list", help="recordings, and the prompts (and parts of prompts) that can be recorded")
    listing.add_argument("--language", default="en", choices=sorted(PROMPTS))
    listing.set_defaults(run_db=cmd_prompt_list)
    forget = prompt.add_parser("remove", help="go back to text-to-speech")
    forget.add_argument("prompt")
    forget.add_argument("--language", default="en")
    forget.set_defaults(run_db=cmd_prompt_remove)

    serve = groups.add_parser("serve", help="serve the platform")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)
