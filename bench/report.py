#!/usr/bin/python3
"""Turn the raw results of bench/run.sh (BENCH_DIR) into the generated part of BENCHMARKS.md.

Reads results.env, machine.env, tree.json, check-config.txt, the wrk outputs, the nginx
access log of the 60 s-interval daemon, metrics-times.txt and render-test.txt; replaces what
lies between the two markers in --out (or writes a file with only that part when --out has
no markers yet).
"""

import argparse
import json
import os
import re
import statistics

BEGIN = "<!-- bench/run.sh: generated from here -->"
END = "<!-- bench/run.sh: generated up to here -->"
UPSTREAM_ADDR = "127.19.0.1"
MIB = 1024 * 1024


def env(path):
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    return out


def num(d, k, default=None):
    v = d.get(k, "")
    try:
        return float(v)
    except ValueError:
        return default


def ms(text):
    """wrk's latency figures: 353.00us, 1.20ms, 2.01s."""
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(path):
    """Requests, seconds, requests/s, p50, p99 (ms), non-2xx/3xx and socket errors."""
    out = {"non2xx": 0, "errors": 0}
    if not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read()
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m|h),", text)
    if m:
        out["requests"] = int(m.group(1))
        scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(3)]
        out["seconds"] = float(m.group(2)) * scale
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        out[f"p{pct}"] = ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["errors"] = sum(int(x) for x in m.groups())
    return out


def access_log(path, start, end):
    """Bytes per mirror from nginx's log (server_addr method status bytes_sent request_length).
    Lines before `start` are the first (cold) sweep; [start, end) is the watched window."""
    cold = {"get200": [], "get200_req": [], "head": [], "head_req": []}
    window = {}
    upstream = {"down": 0, "up": 0, "n": 0}
    warm304 = []
    heads = []
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        pos = 0
        for raw in f:
            at = pos
            pos += len(raw)
            if at >= end:
                break
            parts = raw.split()
            if len(parts) != 5:
                continue
            addr, method, status = parts[0].decode(), parts[1].decode(), parts[2].decode()
            sent, req = int(parts[3]), int(parts[4])
            if at >= start:
                if addr == UPSTREAM_ADDR:
                    upstream["down"] += sent
                    upstream["up"] += req
                    upstream["n"] += 1
                    continue
                w = window.setdefault(addr, {"down": 0, "up": 0, "gets": 0, "other": 0})
                w["down"] += sent
                w["up"] += req
                if method == "GET":
                    w["gets"] += 1
                else:
                    w["other"] += 1
                if status == "304":
                    warm304.append((sent, req))
                elif method == "HEAD" and status == "200":
                    heads.append((sent, req))
            elif addr != UPSTREAM_ADDR:
                if method == "GET" and status == "200":
                    cold["get200"].append(sent)
                    cold["get200_req"].append(req)
                elif method == "HEAD":
                    cold["head"].append(sent)
                    cold["head_req"].append(req)
    return cold, window, upstream, warm304, heads


def fmt(x, digits=0, unit=""):
    if x is None:
        return "n/a"
    if digits == 0:
        s = f"{x:,.0f}"
    else:
        s = f"{x:,.{digits}f}"
    return s + unit


def verdict(ok):
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**missed**"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    w = args.work
    r = env(os.path.join(w, "results.env"))
    m = env(os.path.join(w, "machine.env"))
    with open(os.path.join(w, "tree.json")) as f:
        tree = json.load(f)
    with open(os.path.join(w, "check-config.txt")) as f:
        files = int(re.search(r"(\d+) repomd.xml files expected", f.read()).group(1))
    mirrors = 530
    per_mirror = tree["targets_per_mirror"]
    heads = tree["data_files_per_mirror"] * mirrors
    L = []
    add = L.append

    # --- the sweep ---------------------------------------------------------------------
    wall, cpu = num(r, "check_wall"), (num(r, "check_user", 0) + num(r, "check_sys", 0))
    reqs = num(r, "check_requests")
    cold_pps = files / wall if wall else None
    cold_rps = reqs / wall if wall and reqs else None
    cold_cpu_k = cpu / files * 1000 if files else None
    wc, ww = wrk(os.path.join(w, "wrk-cold.txt")), wrk(os.path.join(w, "wrk-warm.txt"))
    warm_s = num(r, "warm_seconds")
    warm_probes, warm_reqs, warm_cpu = num(r, "warm_probes"), num(r, "warm_requests"), num(r, "warm_cpu")
    warm_pps = warm_probes / warm_s if warm_s else None
    warm_rps = warm_reqs / warm_s if warm_s else None
    warm_cpu_k = warm_cpu / warm_probes * 1000 if warm_probes else None
    bb = wrk(os.path.join(w, "wrk-blackbox.txt"))
    bb_cpu = num(r, "bb_cpu")
    bb_probes = bb["requests"] if bb else None
    bb_cpu_k = bb_cpu / bb_probes * 1000 if bb_probes else None
    bb_pps = bb_probes / num(r, "bb_seconds") if bb_probes else None
    cold_ratio = cold_rps / wc["rps"] if cold_rps and wc and wc["rps"] else None
    warm_ratio = warm_rps / ww["rps"] if warm_rps and ww and ww["rps"] else None

    # --- /mirrorlist ----------------------------------------------------------------------
    ml, st = wrk(os.path.join(w, "wrk-mirrorlist.txt")), wrk(os.path.join(w, "wrk-static.txt"))
    mlp, stp = wrk(os.path.join(w, "wrk-mirrorlist-paced.txt")), wrk(os.path.join(w, "wrk-static-paced.txt"))
    ml_ratio = ml["rps"] / st["rps"] if ml and st and st["rps"] else None

    # --- memory -----------------------------------------------------------------------------
    hwm60 = num(r, "serve60_hwm_kb")
    hwm60_end = num(r, "serve60_hwm_end_kb")
    peak530 = max(x for x in (hwm60, hwm60_end) if x is not None) if hwm60 else None
    hwm10k = num(r, "serve10k_hwm_kb")
    capped10k = r.get("serve10k_capped") == "1"

    # --- /metrics -------------------------------------------------------------------------
    times = []
    if os.path.exists(os.path.join(w, "metrics-times.txt")):
        with open(os.path.join(w, "metrics-times.txt")) as f:
            times = [float(x) * 1000 for x in f.read().split()]
    met_med = statistics.median(times) if times else None
    page = []
    if os.path.exists(os.path.join(w, "page-times.txt")):
        with open(os.path.join(w, "page-times.txt")) as f:
            page = [(int(a), float(b) * 1000) for a, b in (l.split() for l in f if l.strip())]
    render_lines = []
    if os.path.exists(os.path.join(w, "render-test.txt")):
        with open(os.path.join(w, "render-test.txt")) as f:
            render_lines = [l.strip() for l in f if "per render" in l]
    page_render = [l for l in render_lines if l.startswith("overview")]
    render_lines = [l for l in render_lines if not l.startswith("overview")]

    # --- bytes --------------------------------------------------------------------------------
    def window_bytes(name):
        """Per mirror and hour, the window of run NAME (see bench/run.sh watch_daemon)."""
        logged = access_log(os.path.join(w, "access.log"), int(r.get(f"{name}_log_from", 0)),
                            int(r.get(f"{name}_log_to", 0)))
        window_h = num(r, f"{name}_window_s", 0) / 3600
        if not logged or not window_h:
            return None, None
        cold, window, upstream, warm304, heads = logged
        per_hour_down = [v["down"] / window_h for v in window.values()]
        per_hour_up = [v["up"] / window_h for v in window.values()]
        mean = lambda xs: statistics.mean(xs) if xs else None
        return cold, {
            "mirrors_seen": len(window),
            "down_h": mean(per_hour_down),
            "up_h": mean(per_hour_up),
            "down_h_min": min(per_hour_down, default=None),
            "down_h_max": max(per_hour_down, default=None),
            "gets_h": mean([v["gets"] / window_h for v in window.values()]),
            "heads_h": mean([v["other"] / window_h for v in window.values()]),
            "r304_down": mean([x for x, _ in warm304]),
            "r304_up": mean([y for _, y in warm304]),
            "head_down": mean([x for x, _ in heads]),
            "head_up": mean([y for _, y in heads]),
            "upstream_h": (upstream["down"] + upstream["up"]) / window_h,
        }

    cold, every_file = window_bytes("serve60")
    _, planner = window_bytes("serve60planner")
    bytes_rows = None
    if cold and cold["get200"] and every_file:
        full_down = statistics.mean(cold["get200"])
        full_up = statistics.mean(cold["get200_req"])
        bytes_rows = {
            "every": every_file,
            "planner": planner,
            "full_down": full_down,
            "full_up": full_up,
            "base_down": 4 * per_mirror * full_down,
            "base_up": 4 * per_mirror * full_up,
            "first_down": (sum(cold["get200"]) + sum(cold["head"])) / mirrors,
            "first_up": (sum(cold["get200_req"]) + sum(cold["head_req"])) / mirrors,
            "heads_per_mirror": len(cold["head"]) / mirrors,
        }
    cpu_h = num(r, "serve60_window_cpu", 0) / num(r, "serve60_window_s", 1) * 3600
    cpu_h_planner = (num(r, "serve60planner_window_cpu", 0) / num(r, "serve60planner_window_s", 1) * 3600
                     if "serve60planner_window_s" in r else None)

    # === the text =============================================================================
    add(BEGIN)
    add("")
    add(f"Run of {m.get('date', '?')} on {m.get('nproc', '?')} × {m.get('cpu', '?')} "
        f"({m.get('virt') or 'bare metal'} guest), {m.get('mem', '?')}, Linux {m.get('kernel', '?')}; "
        f"mirrorwatch {m.get('rev', '?')} (rustc {m.get('rustc', '?')}, `cargo build --release`), "
        f"nginx {m.get('nginx', '?')}, wrk {m.get('wrk', '?')}, blackbox_exporter {m.get('blackbox', '?')}. "
        f"The network: {mirrors} mirrors × {per_mirror} repomd.xml = {files:,} files "
        f"({tree['repomd_bytes_min']:,}–{tree['repomd_bytes_max']:,} bytes, mean {tree['repomd_bytes_mean']:,.0f}), "
        f"{tree['data_files_per_mirror']:,} data files per mirror, one nginx (2 workers) on 127.20.x.y. "
        f"mirrorwatch, nginx and the load generator share the same 2 cores in every figure.")
    add("")
    add("### Summary")
    add("")
    add("| target | mirrorwatch | reference, same run | verdict |")
    add("|---|---|---|---|")
    add(f"| sweep: ≥ 50% of the request rate `wrk` reaches on the same server | cold sweep {fmt(cold_rps)} req/s "
        f"({fmt(cold_ratio * 100 if cold_ratio else None, 1)}%); warm sweep {fmt(warm_rps)} req/s "
        f"({fmt(warm_ratio * 100 if warm_ratio else None, 1)}%) | `wrk`, same requests: {fmt(wc['rps'] if wc else None)} / "
        f"{fmt(ww['rps'] if ww else None)} req/s | cold {verdict(cold_ratio >= 0.5 if cold_ratio else None)}, "
        f"warm {verdict(warm_ratio >= 0.5 if warm_ratio else None)} |")
    add(f"| sweep: CPU per probe ≤ 1/5 of blackbox_exporter's | cold {fmt(cold_cpu_k, 3)} s, warm {fmt(warm_cpu_k, 3)} s "
        f"per 1,000 repomd.xml | blackbox_exporter {fmt(bb_cpu_k, 3)} s per 1,000 probes (1/5: {fmt(bb_cpu_k / 5 if bb_cpu_k else None, 3)}) | "
        f"cold {verdict(cold_cpu_k <= bb_cpu_k / 5 if cold_cpu_k and bb_cpu_k else None)}, "
        f"warm {verdict(warm_cpu_k <= bb_cpu_k / 5 if warm_cpu_k and bb_cpu_k else None)} |")
    add(f"| `/mirrorlist` ≥ 80% of nginx serving the same bytes | {fmt(ml['rps'] if ml else None)} req/s "
        f"({fmt(ml_ratio * 100 if ml_ratio else None, 1)}%) | nginx static file: {fmt(st['rps'] if st else None)} req/s | "
        f"{verdict(ml_ratio >= 0.8 if ml_ratio else None)} |")
    add(f"| `/mirrorlist` p99 < 2 ms below saturation | p99 {fmt(mlp['p99'] if mlp else None, 2)} ms at "
        f"{fmt(mlp['rps'] if mlp else None)} req/s | nginx: p99 {fmt(stp['p99'] if stp else None, 2)} ms at "
        f"{fmt(stp['rps'] if stp else None)} req/s | {verdict(mlp['p99'] < 2 if mlp and mlp['p99'] is not None else None)} |")
    add(f"| ≤ 64 MiB RSS, AlmaLinux-shaped network | peak {fmt(peak530 / 1024 if peak530 else None, 1)} MiB "
        f"(`serve`, first sweep) | — | {verdict(peak530 <= 64 * 1024 if peak530 else None)} |")
    if capped10k:
        tenk = (f"passed the {r.get('rss_cap_mb', '?')} MiB cap {fmt(num(r, 'serve10k_capped_after_s'), 1)} s after "
                f"start (RSS {fmt(hwm10k / 1024 if hwm10k else None, 0)} MiB) and was stopped")
    else:
        tenk = f"peak {fmt(hwm10k / 1024 if hwm10k else None, 1)} MiB"
    add(f"| ≤ 512 MiB RSS at 10,000 mirrors | {tenk} | — | {verdict(hwm10k <= 512 * 1024 if hwm10k and not capped10k else (False if capped10k else None))} |")
    add(f"| `/metrics` render ≤ 50 ms, AlmaLinux-shaped network | median {fmt(met_med, 1)} ms per scrape | — | "
        f"{verdict(met_med <= 50 if met_med is not None else None)} |")
    add("")

    add("### Probe sweep")
    add("")
    add("| figure | value | how |")
    add("|---|---|---|")
    add(f"| cold sweep: repomd.xml probes per second | {fmt(cold_pps)} | `mirrorwatch check --json` on {mirrors} mirrors "
        f"({files:,} repomd.xml, {fmt(reqs)} HTTP requests counted by nginx's stub_status: every GET, the HEAD of "
        f"each data file, {tree['targets_upstream']} upstream GETs) in {fmt(wall, 1)} s; exit {r.get('check_exit', '?')} |")
    add(f"| cold sweep: HTTP requests per second | {fmt(cold_rps)} | the same run |")
    add(f"| cold sweep: CPU seconds per 1,000 probes | {fmt(cold_cpu_k, 3)} ({fmt(cpu / reqs * 1000 if reqs else None, 4)} per 1,000 requests) | "
        f"user {r.get('check_user')} s + sys {r.get('check_sys')} s from `/usr/bin/time`; nginx used {fmt(num(r, 'check_nginx_cpu'), 1)} CPU s meanwhile |")
    add(f"| cold sweep: peak RSS of `check` | {fmt(num(r, 'check_maxrss_kb', 0) / 1024, 0)} MiB | `/usr/bin/time` |")
    add(f"| ceiling, cold requests | {fmt(wc['rps'] if wc else None)} req/s | `wrk -t2 -c64 -d{SECONDS(r)}s -s bench/sweep.lua -- … cold`: "
        f"the same GETs, and each HEAD as a headers-only `GET` with `If-None-Match: *` (wrk cannot read HEAD answers); "
        f"64 connections = `probe.concurrency`; non-2xx/3xx {wc['non2xx'] if wc else '?'} |")
    add(f"| warm sweep: repomd.xml probes per second | {fmt(warm_pps)} | `serve` with `probe.interval: {r.get('warm_interval', '?')}` (always behind, so "
        f"saturated), restored state, {fmt(warm_s, 1)} s window: Δ`mirrorwatch_probes_total` (all 304) |")
    add(f"| warm sweep: HTTP requests per second | {fmt(warm_rps)} | Δ nginx stub_status requests |")
    add(f"| warm sweep: CPU seconds per 1,000 probes | {fmt(warm_cpu_k, 3)} | Δ utime+stime of the daemon in `/proc/PID/stat`; "
        f"nginx used {fmt(num(r, 'warm_nginx_cpu'), 1)} CPU s in the window |")
    add(f"| ceiling, warm requests | {fmt(ww['rps'] if ww else None)} req/s | `wrk … warm`: conditional GETs with nginx's own "
        f"ETag and Last-Modified, all 304 |")
    add(f"| peer: blackbox_exporter probes per second | {fmt(bb_pps)} | `wrk -t2 -c64` on `/probe?module=http_2xx&target=<repomd.xml URL>` "
        f"over the same {files:,} URLs (bench/blackbox.yml: GET, IPv4); non-2xx {bb['non2xx'] if bb else '?'} |")
    add(f"| peer: blackbox_exporter CPU seconds per 1,000 probes | {fmt(bb_cpu_k, 3)} | Δ utime+stime of the exporter over the "
        f"run; peak RSS {fmt(num(r, 'bb_maxrss_kb', 0) / 1024, 0)} MiB |")
    add(f"| daemon at a 60 s interval: CPU | {fmt(cpu_h, 0)} CPU s per hour ({fmt(cpu_h / 36, 1)}% of one core) | `serve`, "
        f"{mirrors} mirrors, `probe.interval: 60s`, {fmt(num(r, 'serve60_window_s'), 0)} s window after the first sweep |")
    add("")

    add("### `/mirrorlist`")
    add("")
    add("| | mirrorwatch | nginx, the same bytes as a static file |")
    add("|---|---|---|")
    if ml and st:
        add(f"| saturated: requests/s | {fmt(ml['rps'])} | {fmt(st['rps'])} |")
        add(f"| saturated: p50 / p99 | {fmt(ml['p50'], 2)} / {fmt(ml['p99'], 2)} ms | {fmt(st['p50'], 2)} / {fmt(st['p99'], 2)} ms |")
    if mlp and stp:
        add(f"| below saturation ({fmt(mlp['rps'])} and {fmt(stp['rps'])} req/s): p50 / p99 | {fmt(mlp['p50'], 2)} / "
            f"{fmt(mlp['p99'], 2)} ms | {fmt(stp['p50'], 2)} / {fmt(stp['p99'], 2)} ms |")
    add("")
    add(f"`GET /mirrorlist/9/baseos?arch=x86_64` from `serve` (restored state, every mirror current, "
        f"`probe.interval: 1h` so no sweep runs meanwhile): {r.get('mirrorlist_lines', '?')} URLs, "
        f"{r.get('mirrorlist_bytes', '?')} bytes. Saturated: `wrk -t2 -c32 -d{SECONDS(r)}s --latency`. Below saturation: "
        f"`wrk -t2 -c{r.get('paced_connections', '?')}` with bench/paced.lua pausing {r.get('paced_delay_ms', '?')} ms before each request, aiming at "
        f"half the saturated rate ({r.get('paced_target_rps', '?')} req/s); wrk is closed-loop, so its percentiles "
        f"are service times, not corrected for coordinated omission. Daemon CPU during the saturated run: "
        f"{fmt(num(r, 'mirrorlist_cpu'), 1)} s.")
    add("")

    add("### Memory")
    add("")
    add("| run | peak RSS (VmHWM) | |")
    add("|---|---|---|")
    add(f"| `serve`, {mirrors} mirrors, cold start, at /readyz | {fmt(hwm60 / 1024 if hwm60 else None, 1)} MiB | "
        f"first sweep {fmt(num(r, 'serve60_ready_s'), 1)} s after start |")
    add(f"| the same, after {fmt(num(r, 'serve60_window_s'), 0)} s more of 60 s sweeps | "
        f"{fmt(hwm60_end / 1024 if hwm60_end else None, 1)} MiB | RSS then {fmt(num(r, 'serve60_rss_kb', 0) / 1024, 1)} MiB |")
    add(f"| `serve`, {mirrors} mirrors, restarted with that state, after one warm sweep | "
        f"{fmt(num(r, 'serve1h_hwm_swept_kb', 0) / 1024, 1)} MiB | |")
    add(f"| `mirrorwatch check`, {mirrors} mirrors | {fmt(num(r, 'check_maxrss_kb', 0) / 1024, 1)} MiB | |")
    if capped10k:
        add(f"| `serve`, 10,000 mirrors, restored state (the 530 mirrors' state copied to 10,000 names, "
            f"{fmt(num(r, 'state10k_bytes', 0) / MIB, 0)} MiB of JSON) | more than "
            f"{fmt(hwm10k / 1024 if hwm10k else None, 0)} MiB | stopped {fmt(num(r, 'serve10k_capped_after_s'), 1)} s "
            f"after start, after {fmt(num(r, 'serve10k_requests_at_cap'))} requests; {fmt(num(r, 'serve10k_listening_hwm_kb', 0) / 1024, 0)} MiB "
            f"when it began to listen ({fmt(num(r, 'serve10k_listening_s'), 1)} s) |")
    else:
        add(f"| `serve`, 10,000 mirrors, restored state | {fmt(hwm10k / 1024 if hwm10k else None, 1)} MiB | "
            f"{fmt(num(r, 'serve10k_requests'))} requests, swept in {fmt(num(r, 'serve10k_swept_s'), 1) if r.get('serve10k_swept_s') else 'more than 240'} s; "
            f"{fmt(num(r, 'serve10k_listening_hwm_kb', 0) / 1024, 1)} MiB when it began to listen "
            f"({fmt(num(r, 'serve10k_listening_s'), 1)} s) |")
    add("")

    add("### `/metrics`")
    add("")
    add(f"`curl` of `/metrics` from `serve` with {mirrors} mirrors (restored state, idle): median "
        f"{fmt(met_med, 1)} ms, fastest {fmt(min(times) if times else None, 1)} ms, slowest "
        f"{fmt(max(times) if times else None, 1)} ms over {len(times)} scrapes; {fmt(num(r, 'metrics_series'))} "
        f"samples, {fmt(num(r, 'metrics_bytes', 0) / 1024, 0)} KiB.")
    if render_lines:
        add(f"`cargo test --release --lib render_time -- --ignored --nocapture` (530 mirrors × 2 families × 136 repos, "
            f"in process): " + "; ".join(f"`{l}`" for l in render_lines) + ".")
    add("")

    add("### `/`, the status page")
    add("")
    if page:
        add(f"`curl --compressed` of `/` from the same `serve` ({mirrors} mirrors, idle): median "
            f"{fmt(statistics.median(t for _, t in page), 1)} ms, slowest {fmt(max(t for _, t in page), 1)} ms "
            f"over {len(page)} requests; {fmt(statistics.median(b for b, _ in page) / 1024, 0)} KiB transferred "
            f"(gzip), {fmt(num(r, 'page_bytes', 0) / 1024, 0)} KiB uncompressed.")
    if page_render:
        add("`cargo test --release --lib render_time -- --ignored --nocapture` (530 mirrors × 136 "
            "repos and a full history, in process): " + "; ".join(f"`{l}`" for l in page_render) + ".")
    add("")

    add("### Bytes on the wire per mirror")
    add("")
    if bytes_rows:
        b = bytes_rows
        e, p = b["every"], b["planner"]
        how = (f"nginx's log (`$bytes_sent`, `$request_length`) over {fmt(num(r, 'serve60_window_s'), 0)} s "
               f"for each of {e['mirrors_seen']} mirrors")
        add("| | received by mirrorwatch | sent by mirrorwatch | how |")
        add("|---|---|---|---|")
        if p and p["down_h"] is not None:
            add(f"| mirrorwatch, 60 s interval, change-driven (default `probe.full_every`: 15 min) | "
                f"{fmt(p['down_h'] / 1024, 1)} KiB/h | {fmt(p['up_h'] / 1024, 1)} KiB/h | "
                f"nginx's log over {fmt(num(r, 'serve60planner_window_s'), 0)} s for each of {p['mirrors_seen']} mirrors "
                f"({fmt(p['down_h_min'] / 1024, 1)}–{fmt(p['down_h_max'] / 1024, 1)} KiB/h received); "
                f"{fmt(p['heads_h'], 0)} HEADs and {fmt(p['gets_h'], 0)} GETs per hour; a HEAD is answered in "
                f"{fmt(p['head_down'])} bytes for a {fmt(p['head_up'])}-byte request |")
        add(f"| mirrorwatch, 60 s interval, every file in every sweep (`full_every: 60s`) | "
            f"{fmt(e['down_h'] / 1024, 0)} KiB/h | {fmt(e['up_h'] / 1024, 0)} KiB/h | {how} "
            f"({fmt(e['down_h_min'] / 1024, 0)}–{fmt(e['down_h_max'] / 1024, 0)} KiB/h received); "
            f"{fmt(e['gets_h'] / per_mirror, 1)} sweeps/h; a 304 is {fmt(e['r304_down'])} bytes for a {fmt(e['r304_up'])}-byte request |")
        add(f"| reference: every repomd.xml in full every 15 minutes | {fmt(b['base_down'] / 1024, 0)} KiB/h | {fmt(b['base_up'] / 1024, 0)} KiB/h | "
            f"4 × {per_mirror} × the mean full answer ({fmt(b['full_down'])} bytes) and request ({fmt(b['full_up'])} bytes) logged in the first sweep |")
        if p and p["down_h"] is not None:
            add(f"| ratio, change-driven (target ≤ 0.10 received, ≤ 1 sent) | {fmt(p['down_h'] / b['base_down'], 3)} × | "
                f"{fmt(p['up_h'] / b['base_up'], 2)} × | {verdict(p['down_h'] <= 0.1 * b['base_down'] and p['up_h'] <= b['base_up'])} |")
        add(f"| ratio, every file in every sweep | {fmt(e['down_h'] / b['base_down'], 2)} × | {fmt(e['up_h'] / b['base_up'], 2)} × | |")
        add(f"| first sweep (once, and again per changed repomd.xml) | {fmt(b['first_down'] / 1024, 0)} KiB | {fmt(b['first_up'] / 1024, 0)} KiB | "
            f"{per_mirror} full GETs and {fmt(b['heads_per_mirror'])} HEADs of data files |")
        add("")
        add(f"The upstream poll (every 60 s, {tree['targets_upstream']} files, conditional) adds "
            f"{fmt(e['upstream_h'] / 1024, 0)} KiB/h in both directions, once for the whole network.")
        if cpu_h_planner is not None:
            add("")
            add(f"CPU at a 60 s interval, {mirrors} mirrors: {fmt(cpu_h_planner, 0)} CPU s per hour change-driven, "
                f"{fmt(cpu_h, 0)} every file in every sweep (Δ utime+stime of the daemon over each window).")
    else:
        add("Not measured (no access log).")
    add("")
    add(END)

    block = "\n".join(L) + "\n"
    text = ""
    if os.path.exists(args.out):
        with open(args.out) as f:
            text = f.read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = "# Benchmarks\n\n" + block
    with open(args.out, "w") as f:
        f.write(text)
    print(block)


def SECONDS(r):
    return r.get("wrk_seconds", "20")


if __name__ == "__main__":
    main()
