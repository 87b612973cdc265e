"""An operator's webhook receiver on a real socket: records every POST (raw body, headers) and
answers with the statuses it is told to, in order (then 200)."""

from __future__ import annotations

import contextlib
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


class Receiver:
    def __init__(self):
        self.posts: list[tuple[bytes, dict]] = []
        self.answers: list[int] = []  # the statuses of the next POSTs; 200 once empty
        self.lock = threading.Lock()
        self.url = ""

    async def hook(self, request: Request):
        body = await request.body()
        with self.lock:
            status = self.answers.pop(0) if self.answers else 200
            self.posts.append((body, dict(request.headers), status))
        return PlainTextResponse("ok" if status < 300 else "no", status_code=status)

    def taken(self) -> list[tuple[bytes, dict]]:
        """The POSTs answered with a 2xx."""
        with self.lock:
            return [(body, headers) for body, headers, status in self.posts if status < 300]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[bytes, dict]]:
        deadline = time.monotonic() + timeout
        while len(self.taken()) < count:
            assert time.monotonic() < deadline, f"{len(self.taken())} of {count} events taken: {self.posts}"
            time.sleep(0.02)
        return self.taken()


@contextlib.contextmanager
def receiving(port: int = 0):
    receiver = Receiver()
    app = Starlette(routes=[Route("/hooks/callback", receiver.hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.02)
    receiver.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/hooks/callback"
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)
