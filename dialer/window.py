"""The Callback Dialer window (Tkinter): a number field, a Call button, a status line and recent calls.

Tk is single-threaded: API calls run on worker threads, which hand their
results to the window through a queue that the Tk loop drains every 100 ms.
"""

from __future__ import annotations

import queue
import threading
import tkinter as tk
from tkinter import ttk

from dialer.client import DialerClient, DialerError, follow, outcome

STATE_WORDS = {
    "queued": "queued",
    "calling_a": "ringing your phone",
    "a_answered": "your phone answered (press 1 to connect)",
    "calling_b": "ringing the other number",
    "connected": "connected",
    "completed": "completed",
    "failed": "failed",
}
RECENT = 8


class NoDisplay(RuntimeError):
    pass


def status_line(view: dict) -> str:
    if view["terminal"]:
        return f"Call {view['id']} {outcome(view)}"
    return (f"Call {view['id']}: {STATE_WORDS.get(view['state'], view['state'])} — "
            f"your phone {view['leg_a']}, other number {view['leg_b']}")


class DialerWindow:
    DRAIN_MS = 100

    def __init__(self, root: tk.Tk, client: DialerClient, *, interval: float = 0.5):
        self.root, self.client, self.interval = root, client, interval
        self.events: queue.Queue = queue.Queue()
        self.current: int | None = None
        root.title("Callback Dialer")
        root.minsize(380, 360)
        root.columnconfigure(0, weight=1)
        root.rowconfigure(0, weight=1)
        frame = ttk.Frame(root, padding=14)
        frame.grid(sticky="nsew")
        frame.columnconfigure(0, weight=1)

        ttk.Label(frame, text="Number to call").grid(row=0, column=0, columnspan=2, sticky="w")
        self.number = tk.StringVar()
        self.number_entry = ttk.Entry(frame, textvariable=self.number, width=26, font=("TkDefaultFont", 14))
        self.number_entry.grid(row=1, column=0, sticky="ew", pady=(2, 8))
        self.number_entry.bind("<Return>", lambda _event: self.call())
        self.call_button = ttk.Button(frame, text="Call", command=self.call)
        self.call_button.grid(row=1, column=1, sticky="ew", padx=(8, 0), pady=(2, 8))

        ttk.Label(frame, text="Your phone (empty: your default number)").grid(row=2, column=0, columnspan=2,
                                                                               sticky="w")
        self.from_number = tk.StringVar()
        ttk.Entry(frame, textvariable=self.from_number, width=26).grid(row=3, column=0, sticky="ew", pady=(2, 8))
        self.cancel_button = ttk.Button(frame, text="Cancel", command=self.cancel, state="disabled")
        self.cancel_button.grid(row=3, column=1, sticky="ew", padx=(8, 0), pady=(2, 8))

        self.status = tk.StringVar(value="Ready.")
        ttk.Label(frame, textvariable=self.status, wraplength=360, foreground="#1d5fbf").grid(
            row=4, column=0, columnspan=2, sticky="ew", pady=(4, 10))

        ttk.Label(frame, text="Recent calls").grid(row=5, column=0, columnspan=2, sticky="w")
        self.recent = ttk.Treeview(frame, columns=("id", "to", "state", "cost"), show="headings", height=RECENT)
        for column, title, width in (("id", "#", 44), ("to", "Called", 130), ("state", "State", 110),
                                     ("cost", "Cost", 70)):
            self.recent.heading(column, text=title)
            self.recent.column(column, width=width, anchor="e" if column in ("id", "cost") else "w")
        self.recent.grid(row=6, column=0, columnspan=2, sticky="nsew")
        frame.rowconfigure(6, weight=1)

        self.number_entry.focus_set()
        root.after(self.DRAIN_MS, self._drain)
        self._background(self._load_recent)

    # Worker threads: only the API, never a widget.

    def _background(self, work, *args) -> None:
        threading.Thread(target=self._run, args=(work, *args), daemon=True).start()

    def _run(self, work, *args) -> None:
        try:
            work(*args)
        except DialerError as exc:
            self.events.put(("error", str(exc)))
        except Exception as exc:  # noqa: BLE001 -- a worker must never die silently, leaving the window stuck
            self.events.put(("error", f"unexpected error: {exc}"))

    def _load_recent(self) -> None:
        self.events.put(("recent", self.client.recent(RECENT)))

    def _place(self, to: str, from_: str | None) -> None:
        final = self.client.create(to, from_)
        self.events.put(("started", final))
        for final in follow(self.client, final["id"], interval=self.interval):  # noqa: B020 -- the last one stays
            self.events.put(("progress", final))
        self.events.put(("done", final))
        self._load_recent()

    def _cancel(self, callback_id: int) -> None:
        self.events.put(("progress", self.client.cancel(callback_id)))

    # The Tk thread.

    def call(self) -> None:
        to = self.number.get().strip()
        if self.current is not None:
            return
        if not to:
            self.status.set("Type the number to call.")
            return
        self.call_button.state(["disabled"])
        self.status.set(f"Asking the platform to call you, then {to}…")
        self._background(self._place, to, self.from_number.get().strip() or None)

    def cancel(self) -> None:
        if self.current is not None:
            self._background(self._cancel, self.current)

    def _drain(self) -> None:
        try:
            while True:
                kind, payload = self.events.get_nowait()
                self._show(kind, payload)
        except queue.Empty:
            pass
        self.root.after(self.DRAIN_MS, self._drain)

    def _show(self, kind: str, payload) -> None:
        if kind == "started":
            self.current = payload["id"]
            self.cancel_button.state(["!disabled"])
            self.status.set(status_line(payload))
        elif kind == "progress":
            self.status.set(status_line(payload))
        elif kind == "done":
            self._idle()
            self.status.set(status_line(payload))
        elif kind == "error":
            self._idle()
            self.status.set(f"Error: {payload}")
        elif kind == "recent":
            self.recent.delete(*self.recent.get_children())
            for view in payload:
                self.recent.insert("", "end", values=(view["id"], view["to"] or "", view["state"],
                                                      f"{view['cost']} {view['currency']}"))

    def _idle(self) -> None:
        self.current = None
        self.call_button.state(["!disabled"])
        self.cancel_button.state(["disabled"])


def run(client: DialerClient) -> None:
    try:
        root = tk.Tk()
    except tk.TclError as exc:
        raise NoDisplay(f"cannot open a window ({exc}); is DISPLAY set?") from None
    DialerWindow(root, client)
    try:
        root.mainloop()
    finally:
        client.close()
