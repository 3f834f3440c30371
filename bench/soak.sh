#!/usr/bin/env bash
# The soak: `mirrorwatch serve` watching `mirrorwatch simulate`'s network (with faults) for
# SOAK_SECONDS while wrk keeps /mirrorlist busy at half the rate the daemon sustained, and
# tests/soak.rs samples the process (RSS, descriptors, sweep lateness, one /mirrorlist
# request) every SOAK_EVERY seconds and scores every verdict against the simulator's truth.
#
#   bash bench/soak.sh                 # one hour, 100 mirrors
#   SOAK_SECONDS=600 bash bench/soak.sh
#
# Writes to SOAK_DIR (default: a new temporary directory): samples.csv, summary.json,
# soak.svg (RSS, descriptors, lateness and /mirrorlist latency over time), soak.md (the
# results as a table), wrk's report and both processes' logs. Everything it starts listens
# on loopback and is stopped at the end. Needs wrk (Debian: apt-get install wrk).
#
#   SOAK_SECONDS       length of the soak                       (3600)
#   SOAK_MIRRORS       simulated mirrors                        (100)
#   SOAK_FAULTS        the simulator's --faults                 (its default mix)
#   SOAK_FAULT_ONSET   faults begin at random times up to this  (20m)
#   SOAK_INTERVAL      probe.interval                           (30s)
#   SOAK_FULL_EVERY    probe.full_every                         (the daemon's default)
#   SOAK_EVERY         seconds between samples                  (5)
#   SOAK_PORT          the daemon's port on 127.0.0.1           (19184)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SECONDS_SOAK=${SOAK_SECONDS:-3600}
MIRRORS=${SOAK_MIRRORS:-100}
ONSET=${SOAK_FAULT_ONSET:-20m}
INTERVAL=${SOAK_INTERVAL:-30s}
EVERY=${SOAK_EVERY:-5}
PORT=${SOAK_PORT:-19184}
W=${SOAK_DIR:-$(mktemp -d /tmp/mirrorwatch-soak.XXXXXX)}
mkdir -p "$W"
say() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
command -v wrk >/dev/null || { echo "bench/soak.sh needs wrk (apt-get install wrk)" >&2; exit 1; }

say "building (release)"
cd "$ROOT"
COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
cargo build --release --quiet
# The sampler is an ignored test; --no-run prints the binary's path on stderr.
SCORER=$(cargo test --release --test soak --no-run 2>&1 | sed -n 's/.*Executable.*(\(.*\)).*/\1/p' | tail -1)
[ -x "$SCORER" ] || { echo "cannot find the soak test binary" >&2; exit 1; }
BIN="$ROOT/target/release/mirrorwatch"

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

say "simulate: $MIRRORS mirrors, faults from up to $ONSET on"
sim_args=(simulate --mirrors "$MIRRORS" --fault-onset "$ONSET" --probe-interval "$INTERVAL"
    --listen "127.0.0.1:$PORT" --write-config "$W/mirrors.yaml" --truth-file "$W/truth.json")
[ -n "${SOAK_FAULTS:-}" ] && sim_args+=(--faults "$SOAK_FAULTS")
[ -n "${SOAK_FULL_EVERY:-}" ] && sim_args+=(--full-every "$SOAK_FULL_EVERY")
"$BIN" "${sim_args[@]}" 2>"$W/simulate.log" &
PIDS+=($!)
for _ in $(seq 120); do [ -s "$W/mirrors.yaml" ] && break; sleep 0.5; done
[ -s "$W/mirrors.yaml" ] || { cat "$W/simulate.log" >&2; exit 1; }
TRUTH_URL=$(grep -o 'http://[0-9.:]*/truth.json' "$W/mirrors.yaml" | head -1)

say "serve"
started=$(date +%s.%N)
"$BIN" serve --config "$W/mirrors.yaml" 2>"$W/serve.log" &
SERVE_PID=$!
PIDS+=($SERVE_PID)
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ] && break
    sleep 0.5
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ] \
    || { echo "not ready after 300 s" >&2; tail "$W/serve.log" >&2; exit 1; }
ready_after=$(echo "$(date +%s.%N) - $started" | bc -l)

# The first repo of the layout, as a client would ask for it.
ML=$(curl -s "$BASE/api/v1/upstream" | python3 -c '
import json, sys
t = json.load(sys.stdin)["targets"][0]
print("/mirrorlist/%s/%s?arch=%s" % (t["version"], t["repo"], t["arch"]))')
curl -sf -o /dev/null "$BASE$ML"

say "saturated /mirrorlist rate (10 s)"
wrk -t2 -c32 -d10s "$BASE$ML" >"$W/wrk-saturated.txt"
# Half of it. wrk's pause is whole milliseconds: each connection pauses 1 ms before each
# request and takes about 0.3 ms more for it, so the rate is set by the number of
# connections (about 770 requests a second each), kept under
# serve.max_connections_per_client (64) with room for the sampler's own requests.
target=$(awk '/^Requests\/sec/ {print int($2 / 2)}' "$W/wrk-saturated.txt")
delay=1
conns=$(( target * 13 / 10000 ))
[ "$conns" -ge 2 ] || conns=2
[ "$conns" -le 48 ] || conns=48
# Under load each request takes longer than on an idle daemon: a 5 s trial, and the count
# scaled to the rate it reached.
wrk -t2 -c"$conns" -d5s -s "$HERE/paced.lua" "$BASE$ML" -- "$delay" >"$W/wrk-trial.txt"
trial=$(awk '/^Requests\/sec/ {print int($2)}' "$W/wrk-trial.txt")
[ "${trial:-0}" -gt 0 ] && conns=$(( conns * target / trial ))
[ "$conns" -ge 2 ] || conns=2
[ "$conns" -le 48 ] || conns=48
echo "saturated $(awk '/^Requests\/sec/ {print $2}' "$W/wrk-saturated.txt") req/s; paced: $conns connections, $delay ms pause"

say "soak: $SECONDS_SOAK s, a sample every $EVERY s"
wrk -t2 -c"$conns" -d"${SECONDS_SOAK}s" --timeout 2s --latency -s "$HERE/paced.lua" "$BASE$ML" -- "$delay" \
    >"$W/wrk-paced.txt" &
WRK_PID=$!
SOAK_CONFIG="$W/mirrors.yaml" SOAK_BASE="$BASE" SOAK_TRUTH_URL="$TRUTH_URL" SOAK_PID="$SERVE_PID" \
SOAK_SECONDS="$SECONDS_SOAK" SOAK_EVERY="$EVERY" SOAK_MIRRORLIST="$ML" SOAK_OUT="$W" \
    "$SCORER" --ignored --exact soak --nocapture 2>&1 | tee "$W/scorer.log"
wait "$WRK_PID"

say "report"
{
    echo "saturated_rps=$(awk '/^Requests\/sec/ {print $2}' "$W/wrk-saturated.txt")"
    echo "paced_connections=$conns"
    echo "paced_delay_ms=$delay"
    echo "paced_target_rps=$target"
    printf 'ready_after_s=%.1f\n' "$ready_after"
    echo "serve_log_errors=$(grep -c ' ERROR ' "$W/serve.log" || true)"
    echo "serve_log_warnings=$(grep -c ' WARN ' "$W/serve.log" || true)"
    echo "machine=$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "commit=$COMMIT"
} >"$W/env.txt"
python3 "$HERE/soak_report.py" "$W"
echo "results in $W"
