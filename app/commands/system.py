"""Running the platform: migrations, demo data, the server."""

from __future__ import annotations

from app import demo, logs
from app.instance import resolve_secret_key
from app.migrations import upgrade
from app.settings import Settings


def cmd_db_upgrade(settings: Settings, args) -> str:
    upgrade(settings)
    return "database is up to date"


async def cmd_demo_seed(settings: Settings, args, db) -> str:
    added = await demo.seed(db, secret_key=await resolve_secret_key(db, settings))
    return "demo data: " + (", ".join(added) if added else "already there")


def cmd_serve(settings: Settings, args) -> str:
    import uvicorn

    uvicorn.run("app.main:app", host=args.host, port=args.port, proxy_headers=True, http="httptools",
                workers=args.workers, log_config=logs.config())
    return ""


def register(groups) -> None:
    db = groups.add_parser("db", help="database").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(run=cmd_db_upgrade)

    demo_data = groups.add_parser("demo", help="demo data").add_subparsers(dest="command", required=True)
    demo_data.add_parser("seed", help="add demo subscribers, numbers and rates (idempotent)").set_defaults(
        run_db=cmd_demo_seed)

    serve = groups.add_parser("serve", help="serve the platform")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)
