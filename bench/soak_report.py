#!/usr/bin/python3
"""Turn a soak's raw results (bench/soak.sh's SOAK_DIR) into soak.svg and soak.md.

soak.svg: four panels over time, RSS (MiB), open descriptors, sweep lateness (s, with the
one-timeout limit drawn) and the sampled /mirrorlist request's latency (ms). soak.md: the
targets with what was measured, and wrk's view of the paced load.

    python3 bench/soak_report.py SOAK_DIR
"""

import csv
import json
import os
import statistics
import sys

from report import wrk

WIDTH, PANEL, LEFT, RIGHT, TOP, GAP = 900, 150, 70, 20, 30, 45


def panel(out, index, title, xs, ys, x_max, limit=None):
    """One line chart at row `index`; `limit` draws a dashed horizontal line."""
    top = TOP + index * (PANEL + GAP)
    inner = WIDTH - LEFT - RIGHT
    y_max = max(ys + ([limit] if limit else [])) * 1.1 or 1.0
    y_min = 0.0

    def x(v):
        return LEFT + inner * v / x_max

    def y(v):
        return top + PANEL - PANEL * (v - y_min) / (y_max - y_min)

    out.append(f'<text x="{LEFT}" y="{top - 8}" font-weight="bold">{title}</text>')
    out.append(
        f'<rect x="{LEFT}" y="{top}" width="{inner}" height="{PANEL}" fill="none" stroke="#999"/>'
    )
    for frac in (0.0, 0.5, 1.0):
        v = y_min + (y_max - y_min) * frac
        out.append(
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.4g}</text>'
        )
    minutes = int(x_max // 60)
    step = max(1, minutes // 6)
    for m in range(0, minutes + 1, step):
        out.append(
            f'<text x="{x(m * 60):.1f}" y="{top + PANEL + 14}" text-anchor="middle">{m} min</text>'
        )
    if limit is not None:
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + inner}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" '
            'stroke="#c00" stroke-dasharray="6 4"/>'
        )
    points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(xs, ys))
    out.append(f'<polyline points="{points}" fill="none" stroke="#1f5fa8" stroke-width="1.2"/>')


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "samples.csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(d, "summary.json")) as f:
        s = json.load(f)
    env = {}
    with open(os.path.join(d, "env.txt")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v
    paced = wrk(os.path.join(d, "wrk-paced.txt"))
    saturated = wrk(os.path.join(d, "wrk-saturated.txt"))

    t = [float(r["t"]) for r in rows]
    x_max = max(t[-1] if t else 1.0, 60.0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{TOP + 4 * (PANEL + GAP)}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    panel(out, 0, "RSS (MiB)", t, [int(r["rss_kib"]) / 1024 for r in rows], x_max)
    panel(out, 1, "open file descriptors", t, [int(r["fds"]) for r in rows], x_max)
    panel(
        out,
        2,
        "sweep lateness (s beyond probe.interval; dashed: one probe.timeout)",
        t,
        [float(r["lateness_s"]) for r in rows],
        x_max,
        limit=s["probe_timeout_s"],
    )
    panel(
        out,
        3,
        "one /mirrorlist request, sampled (ms)",
        t,
        [float(r["mirrorlist_ms"]) for r in rows],
        x_max,
    )
    out.append("</svg>")
    with open(os.path.join(d, "soak.svg"), "w") as f:
        f.write("\n".join(out) + "\n")

    rss, fds = s["rss_kib"], s["fds"]

    def sixths(col):
        """The median of `col` over each sixth of the run (10 minutes of an hour)."""
        span = s["seconds"] / 6
        out = []
        for k in range(6):
            v = [float(r[col]) for r in rows if k * span <= float(r["t"]) < (k + 1) * span]
            out.append(statistics.median(v) if v else float("nan"))
        return out

    rss6, fds6 = sixths("rss_kib"), sixths("fds")

    def flat(medians):
        """Flat: the last sixth's median within 2% (or 2) of the sixth before it. Bounded
        histories fill over the first part of the run; an unbounded one keeps climbing."""
        a, b = medians[-2], medians[-1]
        return abs(b - a) <= max(0.02 * a, 2)

    ml_errors = s["mirrorlist_errors"] + paced["non2xx"] + paced["errors"]
    lines = [
        f"{s['seconds'] / 3600:.2f} h, {s['mirrors']} simulated mirrors, probe.interval "
        f"{s['probe_interval_s']:.0f} s, probe.timeout {s['probe_timeout_s']:.0f} s; "
        f"{s['rounds']} scoring rounds, {s['families_checked']} families scored; "
        f"{env.get('machine', '')}; commit {env.get('commit', '')}. Ready "
        f"{env.get('ready_after_s')} s after start.",
        "",
        f"/mirrorlist saturated at {saturated['rps']:.0f} req/s (wrk, 32 connections, 10 s); "
        f"paced at half ({env.get('paced_target_rps')} req/s): "
        f"{env.get('paced_connections')} connections pausing "
        f"{env.get('paced_delay_ms')} ms, {paced['requests']} requests, "
        f"{paced['rps']:.0f} req/s, p50 {paced['p50']:.2f} ms, p99 {paced['p99']:.2f} ms.",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| 0 false faults | {len(s['wrong'])} wrong verdicts or states; "
        f"{len(s['missed'])} faults missed or late, of {len(s['detections'])} watched | "
        f"{'yes' if not s['wrong'] else 'no'} |",
        f"| RSS flat | first {rss['first'] / 1024:.1f} MiB, last {rss['last'] / 1024:.1f}, "
        f"max {rss['max'] / 1024:.1f}; trend over the second half "
        f"{rss['slope_second_half_kib_per_h'] / 1024:+.2f} MiB/h; median per sixth of the run "
        f"{', '.join(f'{m / 1024:.1f}' for m in rss6)} MiB | "
        f"{'yes' if flat(rss6) else 'no'} |",
        f"| descriptors flat | first {fds['first']:.0f}, last {fds['last']:.0f}, "
        f"max {fds['max']:.0f}; trend over the second half "
        f"{fds['slope_second_half_per_h']:+.1f}/h; median per sixth "
        f"{', '.join(f'{m:.0f}' for m in fds6)} | "
        f"{'yes' if flat(fds6) else 'no'} |",
        f"| no sweep late by more than one timeout | worst {s['worst_lateness_s']:.1f} s "
        f"beyond the interval; {s['late_samples']} samples late by more than "
        f"{s['late_after_s']:.0f} s | {'yes' if s['late_samples'] == 0 else 'no'} |",
        f"| 0 /mirrorlist errors | {paced['non2xx']} non-2xx and {paced['errors']} socket "
        f"errors in wrk's {paced['requests']} requests; {s['mirrorlist_errors']} failed "
        f"samples, the slowest {s['mirrorlist_worst_ms']:.1f} ms | "
        f"{'yes' if ml_errors == 0 else 'no'} |",
        "",
        f"The daemon logged {env.get('serve_log_errors')} errors and "
        f"{env.get('serve_log_warnings')} warnings.",
    ]
    for what in ("wrong", "missed"):
        if s[what]:
            lines += ["", f"{what}:", ""] + [f"- {e}" for e in s[what][:20]]
    with open(os.path.join(d, "soak.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
