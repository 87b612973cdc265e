"""The results table: one row per measurement, with its target and whether it was met."""

from __future__ import annotations

TARGET_TRIGGER_RATIO = 0.25  # of the ceiling
TARGET_TRIGGER_VS_NAIVE = 1.5  # times the naive Starlette peer's requests/s
TARGET_PIN_RATIO = 0.15  # of the ceiling
TARGET_LAG_P99_MS = 50.0
TARGET_CALLBACKS_PER_S = 50.0
TARGET_RSS_MB = 120.0
TARGET_BACKEND_GAP = 0.25  # PostgreSQL's figures within this fraction of SQLite's


PEER_LABELS = {"naive_starlette": "trigger, naive Starlette peer", "flask_gunicorn": "trigger, Flask + gunicorn peer"}


def _n(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISS")


def _rows(backend: str, got: dict, missed: list) -> list[tuple[str, str, str, str, str]]:
    rows = []

    def add(metric: str, value: str, target: str, ok: bool | None, note: str = "") -> None:
        verdict = _verdict(ok) + (f" {note}" if note else "")
        rows.append((backend, metric, value, target, verdict.strip()))
        if ok is False:
            missed.append(f"{backend}: {metric}")

    def failed(phase: str, metric: str) -> bool:
        if phase in got and "error" in got[phase]:
            add(metric, "phase failed: " + " ".join(got[phase]["error"].split())[:80], "", False)
            return True
        return phase not in got

    if not failed("webhooks", "webhooks"):
        w = got["webhooks"]
        c = w["ceiling"]
        runs = w.get("ceiling_runs_rps", [c["rps"]])
        add("ceiling: bare Starlette, constant XML", f"{_n(c['rps'])} req/s  p50 {_n(c['p50_ms'], 1)} ms  "
            f"p99 {_n(c['p99_ms'], 1)} ms", "(reference)", None,
            "runs: " + " / ".join(_n(r) for r in runs) if len(runs) > 1 else "")
        peers = w.get("peers", {})

        def speed(r: dict) -> str:
            return f"{_n(r['rps'])} req/s  p50 {_n(r['p50_ms'], 1)} ms  p99 {_n(r['p99_ms'], 1)} ms"

        def flaws(r: dict) -> tuple[int, str]:
            bad = r["unexpected"] + r["errors"]
            return bad, (f", {bad} bad answers" if bad else "") + (", ran out" if r.get("ran_out") else "")

        r = w["trigger"]
        bad, note = flaws(r)
        vs_naive = r.get("ratio_to_naive")
        target = f">= {TARGET_TRIGGER_RATIO:.2f} x ceiling and >= {TARGET_TRIGGER_VS_NAIVE:g} x naive Starlette"
        if vs_naive is None:  # the naive peer did not run: the ceiling alone cannot meet this target
            add("trigger webhook /twilio/voice", speed(r), target, False, f"{r['ratio']:.3f}, naive peer n/a{note}")
        else:
            add("trigger webhook /twilio/voice", speed(r), target,
                r["ratio"] >= TARGET_TRIGGER_RATIO and vs_naive >= TARGET_TRIGGER_VS_NAIVE and bad == 0,
                f"{r['ratio']:.3f}, {vs_naive:.2f} x naive{note}")
        for key, label in PEER_LABELS.items():
            if key not in peers:
                continue
            r = peers[key]
            if "error" in r:
                add(label, "failed: " + " ".join(r["error"].split())[:80], "(reference)", False)
                continue
            bad, note = flaws(r)
            add(label, speed(r), "(reference)", False if bad else None, f"{r['ratio']:.3f} x ceiling{note}")
        r = w["ivr_pin"]
        bad, note = flaws(r)
        add("IVR PIN step /legs/{id}/pin", speed(r), f">= {TARGET_PIN_RATIO:.2f} x ceiling",
            r["ratio"] >= TARGET_PIN_RATIO and bad == 0, f"{r['ratio']:.3f}{note}")
    if not failed("lag", "dispatch lag"):
        g = got["lag"]
        add(f"dispatch lag at {_n(g['offered_rate'])} triggers/s", f"p50 {_n(g['p50_ms'], 1)} ms  p99 "
            f"{_n(g['p99_ms'], 1)} ms  ({g['creates_measured']} creates)", f"p99 < {TARGET_LAG_P99_MS:.0f} ms",
            g["p99_ms"] is not None and g["p99_ms"] < TARGET_LAG_P99_MS)
    if not failed("pacing", "pacing"):
        g = got["pacing"]
        tolerant = g.get("max_in_1s_with_jitter", g["max_in_1s"])
        add(f"pacing at 1 call/s, {g['triggers']} triggers at once",
            f"max {g['max_in_1s']} in 1 s ({tolerant} allowing 20 ms jitter)  mean {_n(g['mean_spacing_s'], 3)} s  "
            f"min {_n(g['min_spacing_s'], 3)} s",
            "<= 1 per 1 s window", tolerant <= 1 and g["creates"] == g["triggers"],
            "" if g["creates"] == g["triggers"] else f"{g['creates']} of {g['triggers']} created")
    if not failed("e2e", "end-to-end callbacks"):
        g = got["e2e"]
        cpu = g.get("cpu_percent", {})
        cpu_text = ", ".join(f"{k} {_n(v)}%" for k, v in cpu.items()) or "not sampled"
        if g.get("completed_per_s") is None and g.get("seconds"):
            # No sample after the warm-up: averages over the whole run.
            g = dict(g, completed_per_s=round(g["completed"] / g["seconds"], 1),
                     callbacks_per_s=round((g["completed"] + g["failed"]) / g["seconds"], 1))
        add("complete PIN callbacks end to end", f"{_n(g.get('completed_per_s'), 1)} /s completed, "
            f"{_n(g.get('callbacks_per_s'), 1)} /s ended  (CPU: {cpu_text})",
            f">= {TARGET_CALLBACKS_PER_S:.0f} /s", (g.get("completed_per_s") or 0) >= TARGET_CALLBACKS_PER_S,
            f"{g['completed']} completed, {g['failed']} failed" + (", timed out" if g["timed_out"] else ""))
        points = dict(g.get("checkpoints", {}))
        reached = str(g["callbacks"]) in points
        ended = g["completed"] + g["failed"]
        if not reached and g.get("memory_final"):
            points[f"{ended} (end)"] = {"memory": g["memory_final"]}
        if points:
            labels = " / ".join(f"{int(k):,}" if k.isdigit() else f"{int(k.split()[0]):,} (end)" for k in points)
            per_worker = [p["memory"]["rss_mb_max_worker"] for p in points.values()]
            totals = [p["memory"]["rss_mb_workers_total"] for p in points.values()]
            workers = list(points.values())[-1]["memory"]["workers"]
            grew = per_worker[-1] - per_worker[len(per_worker) // 2] if len(per_worker) > 1 else 0.0
            flat = grew <= max(5.0, 0.05 * per_worker[-1])
            add(f"app RSS after {labels} callbacks",
                " / ".join(_n(v, 1) for v in per_worker) + f" MB per worker ({workers} workers: "
                + " / ".join(_n(v) for v in totals) + " MB)",
                f"< {TARGET_RSS_MB:.0f} MB, flat", per_worker[-1] < TARGET_RSS_MB and flat and reached,
                f"+{grew:.1f} MB over the second half" if reached else
                f"only {ended:,} of {g['callbacks']:,} ended in {g['seconds']:.0f} s")
    return rows


def _figures(got: dict) -> dict[str, tuple[float, bool]]:
    """Each figure the backends are compared on: (value, whether higher is better)."""
    out = {}
    w = got.get("webhooks", {})
    for key, label in (("trigger", "trigger req/s"), ("ivr_pin", "PIN step req/s")):
        if w.get(key, {}).get("rps"):
            out[label] = (w[key]["rps"], True)
    if got.get("lag", {}).get("p99_ms") is not None:
        out["dispatch lag p99 ms"] = (got["lag"]["p99_ms"], False)
    e2e = got.get("e2e", {})
    if e2e.get("completed_per_s"):
        out["callbacks/s end to end"] = (e2e["completed_per_s"], True)
    return out


def _gap_rows(results: dict, missed: list) -> list[tuple[str, str, str, str, str]]:
    """PostgreSQL against SQLite, figure by figure, when both ran."""
    backends = results["backends"]
    if "sqlite" not in backends or "postgresql" not in backends:
        return []
    lite, pg = _figures(backends["sqlite"]), _figures(backends["postgresql"])
    rows = []
    for label in lite:
        if label not in pg:
            continue
        (a, higher), (b, _) = lite[label], pg[label]
        # How much worse PostgreSQL is, as a fraction of SQLite's figure (negative: better).
        worse = (a - b) / a if higher else (b - a) / max(a, 1e-9)
        ok = worse <= TARGET_BACKEND_GAP
        rows.append(("postgresql vs sqlite", label, f"{_n(b, 1)} vs {_n(a, 1)}",
                     f"within {TARGET_BACKEND_GAP:.0%}", _verdict(ok) + f" {'-' if worse < 0 else ''}{abs(worse):.0%}"
                     + (" worse" if worse > 0 else " better")))
        if not ok:
            missed.append(f"postgresql vs sqlite: {label}")
    return rows


def table(results: dict) -> tuple[str, list[str]]:
    missed: list[str] = []
    rows = [("backend", "metric", "value", "target", "result")]
    for backend, got in results["backends"].items():
        rows += _rows(backend, got, missed)
    rows += _gap_rows(results, missed)
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    m = results["machine"]
    header = (f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, {results['workers']} workers "
              f"({results['http']}), {m['date']}, load average {m['loadavg_at_start']:.2f} at start"
              + (" [quick run]" if results.get("quick") else ""))
    return header + "\n\n" + "\n".join(lines), missed


def markdown(results: dict) -> str:
    """The same table in Markdown, for bench/README.md."""
    missed: list[str] = []
    rows = []
    for backend, got in results["backends"].items():
        rows += _rows(backend, got, missed)
    rows += _gap_rows(results, missed)
    out = ["| backend | metric | value | target | result |", "|---|---|---|---|---|"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(out)


if __name__ == "__main__":
    import json
    import sys

    paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    with open(paths[0] if paths else "bench/results.json") as f:
        loaded = json.load(f)
    print(markdown(loaded) if "--markdown" in sys.argv else table(loaded)[0])
