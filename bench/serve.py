"""Serve the platform, the ceiling app or the naive peer, the way `callback-platform serve` does.

    python -m bench.serve app|ceiling|naive --port 8000 --workers 2

uvicorn with httptools, N worker processes, proxy headers on, the app's JSON
logging; the one difference from `serve` is that the access log is off. The
platform reads its settings from the environment, as in production.
"""

from __future__ import annotations

import argparse

import uvicorn

from app.core import logs

TARGETS = {"app": "app.main:app", "ceiling": "bench.ceiling:app", "naive": "bench.peers.naive_starlette:app"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--http", default="httptools")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    uvicorn.run(TARGETS[args.target], host=args.host, port=args.port, workers=args.workers, http=args.http,
                proxy_headers=True, access_log=False, log_config=logs.config(args.log_level),
                timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
