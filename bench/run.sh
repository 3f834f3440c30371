#!/usr/bin/env bash
# bench/run.sh: mirrorwatch's benchmarks, side by side with their references, on loopback.
#
# Builds mirrorwatch (cargo build --release), installs nginx, wrk and
# prometheus-blackbox-exporter from Debian when missing, generates an AlmaLinux-shaped
# network (530 mirrors x 136 repomd.xml, served by one nginx on 127.20.x.y, one address per
# mirror), runs every measurement and rewrites the generated part of BENCHMARKS.md.
# Everything talks to 127.0.0.0/8 only; every loop is bounded; about 15 minutes.
#
# Environment (all optional):
#   BENCH_DIR       work directory, emptied first        (/tmp/mirrorwatch-bench)
#   BENCH_PORT      nginx: mirrors on it, +1 static, +2 stub_status    (18080)
#   BENCH_BB_PORT   blackbox_exporter's port                           (19115)
#   BENCH_SECONDS   length of each wrk run                             (20)
#   BENCH_WINDOW    the 60 s-interval daemon is watched this long      (120)
#   BENCH_RSS_CAP_MB  a daemon whose RSS passes this is stopped         (6144)
#   BENCH_SKIP_RENDER_TEST=1  skip `cargo test --release --lib render_time` (/metrics and /)
#   BENCH_NO_REPORT=1         leave BENCHMARKS.md alone (results stay in BENCH_DIR)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
W=${BENCH_DIR:-/tmp/mirrorwatch-bench}
PORT=${BENCH_PORT:-18080}
BB_PORT=${BENCH_BB_PORT:-19115}
SECONDS_WRK=${BENCH_SECONDS:-20}
WINDOW=${BENCH_WINDOW:-120}
RSS_CAP_MB=${BENCH_RSS_CAP_MB:-6144}
BIN=$REPO/target/release/mirrorwatch
PY=/usr/bin/python3
MIRRORS=530
BIG=10000
TCK=$(getconf CLK_TCK)

say() { printf '\n== %s: %s\n' "$(date +%T)" "$*" >&2; }
rec() { printf '%s=%s\n' "$1" "$2" >>"$W/results.env"; }

# --- prerequisites ---------------------------------------------------------------------
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v prometheus-blackbox-exporter >/dev/null || need+=(prometheus-blackbox-exporter)
command -v curl >/dev/null || need+=(curl)
command -v bc >/dev/null || need+=(bc)
[ -x /usr/bin/time ] || need+=(time)
[ -x $PY ] && $PY -c 'import yaml' 2>/dev/null || need+=(python3 python3-yaml)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi
for p in $PORT $((PORT + 1)) $((PORT + 2)) $BB_PORT; do
    if ss -Htln "sport = :$p" | grep -q .; then
        echo "bench/run.sh: port $p is taken; set BENCH_PORT / BENCH_BB_PORT" >&2
        exit 1
    fi
done

say "building mirrorwatch (release)"
(cd "$REPO" && cargo build --release -q)

rm -rf "$W"
mkdir -p "$W/static/mirrorlist/9"
chmod 755 "$W"
: >"$W/results.env"
rec wrk_seconds "$SECONDS_WRK"; rec rss_cap_mb "$RSS_CAP_MB"; rec window "$WINDOW"

# --- processes we start, stopped on exit by their own ids -------------------------------
NGINX_PID=""
SERVE_PID=""
BB_PID=""
cleanup() {
    [ -n "$SERVE_PID" ] && kill -KILL "$SERVE_PID" 2>/dev/null || true
    [ -n "$BB_PID" ] && kill -TERM "$BB_PID" 2>/dev/null || true
    [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null || true
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
nginx_ticks() {
    local t=0 p
    for p in $(pgrep -P "$NGINX_PID"); do t=$((t + $(cpu_ticks "$p"))); done
    echo $t
}
# Requests nginx has answered (stub_status counts its own request too: callers subtract 1).
nginx_requests() { curl -s "http://127.0.0.1:$((PORT + 2))/" | awk 'NR == 3 {print $3}'; }
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }

# --- the network --------------------------------------------------------------------------
say "generating the network in $W"
$PY "$HERE/gen.py" --work "$W" --port "$PORT" tree --mirrors-yaml "$REPO/mirrors.yaml" --mirrors $BIG >"$W/tree.json"
$PY "$HERE/gen.py" --work "$W" --port "$PORT" nginx --mirrors $BIG
# Every file in every sweep (probe.full_every = interval) unless FULL_EVERY is given:
# "default" is the daemon's own, the change-driven planner.
gen_config() { # NAME MIRRORS INTERVAL TIMEOUT [FULL_EVERY]
    $PY "$HERE/gen.py" --work "$W" --port "$PORT" config --mirrors-yaml "$REPO/mirrors.yaml" \
        --mirrors "$2" --interval "$3" --timeout "$4" --full-every "${5:-}" \
        --state "$W/state-$1.json" --out "$W/$1.yaml"
}
gen_config check $MIRRORS 60s 20s
"$BIN" check-config "$W/check.yaml" >"$W/check-config.txt"

nginx -c "$W/nginx.conf"
for _ in $(seq 50); do [ -s "$W/nginx.pid" ] && break; sleep 0.1; done
NGINX_PID=$(cat "$W/nginx.pid")
set_access_log() { # on|off
    if [ "$1" = on ]; then
        echo "access_log $W/access.log bench buffer=256k flush=1s;" >"$W/nginx-log.conf"
    else
        echo "access_log off;" >"$W/nginx-log.conf"
    fi
    nginx -c "$W/nginx.conf" -s reload
    sleep 2
}
first=$(head -1 "$W/targets.txt")
sample="http://127.20.0.1:$PORT/m0/almalinux/${first%% *}repodata/repomd.xml"
curl -sf -o /dev/null "$sample"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $(echo "$first" | cut -d' ' -f2)" "$sample")" = 304 ]

# --- 1. a cold sweep: mirrorwatch check --------------------------------------------------
say "cold sweep: mirrorwatch check, $MIRRORS mirrors"
r0=$(nginx_requests); n0=$(nginx_ticks)
set +e
/usr/bin/time -f '%e %U %S %M' -o "$W/check.time" "$BIN" check --config "$W/check.yaml" --json >"$W/check.json" 2>"$W/check.err"
rec check_exit $?
set -e
r1=$(nginx_requests); n1=$(nginx_ticks)
read -r wall user sys maxrss <"$W/check.time"
rec check_wall "$wall"; rec check_user "$user"; rec check_sys "$sys"; rec check_maxrss_kb "$maxrss"
rec check_requests $((r1 - r0 - 1)); rec check_nginx_cpu "$(echo "($n1 - $n0) / $TCK" | bc -l)"

# --- 2. the ceiling: wrk on the same nginx and files -------------------------------------
for mode in cold warm; do
    say "ceiling: wrk, $mode sweep requests"
    n0=$(nginx_ticks)
    wrk -t2 -c64 -d"${SECONDS_WRK}s" -s "$HERE/sweep.lua" "http://127.20.0.1:$PORT" \
        -- "$W/targets.txt" $MIRRORS $mode "$PORT" >"$W/wrk-$mode.txt"
    n1=$(nginx_ticks)
    rec "wrk_${mode}_nginx_cpu" "$(echo "($n1 - $n0) / $TCK" | bc -l)"
done

# --- 3. the peer: blackbox_exporter probing the same URLs --------------------------------
say "peer: blackbox_exporter"
prometheus-blackbox-exporter --config.file="$HERE/blackbox.yml" \
    --web.listen-address="127.0.0.1:$BB_PORT" --log.level=warn >"$W/blackbox.log" 2>&1 &
BB_PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$BB_PORT/-/healthy" && break; sleep 0.1; done
curl -s "http://127.0.0.1:$BB_PORT/probe?module=http_2xx&target=$sample" >"$W/blackbox-sample.txt"
grep -q '^probe_success 1' "$W/blackbox-sample.txt"
c0=$(cpu_ticks $BB_PID); n0=$(nginx_ticks); t0=$(now)
wrk -t2 -c64 -d"${SECONDS_WRK}s" -s "$HERE/sweep.lua" "http://127.0.0.1:$BB_PORT" \
    -- "$W/targets.txt" $MIRRORS probe "$PORT" >"$W/wrk-blackbox.txt"
c1=$(cpu_ticks $BB_PID); n1=$(nginx_ticks); t1=$(now)
rec bb_cpu "$(echo "($c1 - $c0) / $TCK" | bc -l)"; rec bb_seconds "$(echo "$t1 - $t0" | bc -l)"
rec bb_nginx_cpu "$(echo "($n1 - $n0) / $TCK" | bc -l)"
rec bb_maxrss_kb "$(kb $BB_PID VmHWM)"
kill -TERM $BB_PID; wait $BB_PID 2>/dev/null || true; BB_PID=""

# --- the daemon -----------------------------------------------------------------------------
SERVE_URL=""
start_serve() { # NAME
    RUST_LOG=warn,mirrorwatch::daemon=info "$BIN" serve --config "$W/$1.yaml" \
        --listen 127.0.0.1:0 >"$W/serve-$1.log" 2>&1 &
    SERVE_PID=$!
    SERVE_STARTED=$(now)
    local addr=""
    for _ in $(seq 1200); do # the state of 10,000 mirrors takes a while to read
        addr=$(grep -o 'addr=127\.0\.0\.1:[0-9]*' "$W/serve-$1.log" | head -1 | cut -d= -f2 || true)
        [ -n "$addr" ] && break
        kill -0 $SERVE_PID 2>/dev/null || { cat "$W/serve-$1.log" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "serve did not start" >&2; exit 1; }
    SERVE_URL="http://$addr"
}
# Wait for /readyz (at most $2 s), sampling RSS; stop the daemon if it passes the cap.
# Records NAME_ready_s (or empty), NAME_hwm_kb, NAME_capped.
wait_ready() { # NAME SECONDS
    local name=$1 limit=$2 ready="" capped=0 start rss
    start=$(now)
    while [ "$(echo "$(now) - $start < $limit" | bc)" = 1 ]; do
        rss=$(kb $SERVE_PID VmRSS || echo 0)
        if [ "${rss:-0}" -gt $((RSS_CAP_MB * 1024)) ]; then
            rec "${name}_hwm_kb" "$(kb $SERVE_PID VmHWM)"
            kill -KILL $SERVE_PID; wait $SERVE_PID 2>/dev/null || true; SERVE_PID=""
            capped=1
            rec "${name}_capped_after_s" "$(echo "$(now) - $SERVE_STARTED" | bc -l)"
            break
        fi
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$SERVE_URL/readyz")" = 200 ]; then
            ready=$(echo "$(now) - $SERVE_STARTED" | bc -l)
            break
        fi
        sleep 0.5
    done
    rec "${name}_capped" $capped
    rec "${name}_ready_s" "$ready"
    [ $capped = 1 ] || rec "${name}_hwm_kb" "$(kb $SERVE_PID VmHWM)"
}
stop_serve() {
    [ -n "$SERVE_PID" ] || return 0
    kill -TERM $SERVE_PID
    for _ in $(seq 600); do kill -0 $SERVE_PID 2>/dev/null || break; sleep 0.1; done
    kill -KILL $SERVE_PID 2>/dev/null || true
    wait $SERVE_PID 2>/dev/null || true
    SERVE_PID=""
}
# Wait until the daemon has finished $1 sweeps (at most $2 s): restored mirrors count as
# swept, so /readyz answers before the first sweep of a restarted daemon is over.
wait_sweeps() { # COUNT SECONDS
    local n
    for _ in $(seq $(($2 * 2))); do
        n=$(curl -s "$SERVE_URL/metrics" | awk '/^mirrorwatch_sweeps_total/ {print $2}')
        [ "${n:-0}" -ge "$1" ] 2>/dev/null && return 0
        sleep 0.5
    done
    echo "only ${n:-0} of $1 sweeps after $2 s" >&2
}
probes_total() { curl -s "$SERVE_URL/metrics" | awk '/^mirrorwatch_probes_total/ {s += $2} END {print s + 0}'; }

# --- 4. the daemon at a 60 s interval: cold start, RSS, bytes on the wire, CPU per hour ----
# Started afresh on NAME's configuration, watched for $WINDOW s after its first sweep, with
# nginx's access log on; records NAME_window_s, _window_cpu, _window_nginx_cpu, _log_from,
# _log_to (the window's bytes in access.log), _rss_kb and _hwm_end_kb.
watch_daemon() { # NAME
    set_access_log on
    start_serve "$1"
    wait_ready "$1" 300
    [ -n "$SERVE_PID" ] || { echo "the 60 s daemon was stopped" >&2; exit 1; }
    sleep 5
    c0=$(cpu_ticks $SERVE_PID); t0=$(now); l0=$(stat -c %s "$W/access.log"); n0=$(nginx_ticks)
    sleep "$WINDOW"
    c1=$(cpu_ticks $SERVE_PID); t1=$(now); n1=$(nginx_ticks)
    sleep 2 # nginx flushes its log buffer every second
    l1=$(stat -c %s "$W/access.log")
    rec "$1_window_s" "$(echo "$t1 - $t0" | bc -l)"
    rec "$1_window_cpu" "$(echo "($c1 - $c0) / $TCK" | bc -l)"
    rec "$1_window_nginx_cpu" "$(echo "($n1 - $n0) / $TCK" | bc -l)"
    rec "$1_log_from" "$l0"; rec "$1_log_to" "$l1"
    rec "$1_rss_kb" "$(kb $SERVE_PID VmRSS)"; rec "$1_hwm_end_kb" "$(kb $SERVE_PID VmHWM)"
    stop_serve
    set_access_log off
}
say "serve, $MIRRORS mirrors, 60 s interval, every file every sweep: first sweep, then ${WINDOW} s watched"
gen_config serve60 $MIRRORS 60s 20s
watch_daemon serve60
[ -s "$W/state-serve60.json" ]
# The same network with the daemon's default probe.full_every: what may have changed and a
# rotating share of the rest. Its first sweep is a full one, like the above.
say "serve, $MIRRORS mirrors, 60 s interval, change-driven: first sweep, then ${WINDOW} s watched"
gen_config serve60planner $MIRRORS 60s 20s default
watch_daemon serve60planner

# --- 5. the daemon, restarted with that state, idle between hourly sweeps: /mirrorlist, /metrics
say "serve, restored state, 1 h interval: /mirrorlist and /metrics"
gen_config serve1h $MIRRORS 1h 20s
cp "$W/state-serve60.json" "$W/state-serve1h.json"
start_serve serve1h
wait_ready serve1h 300
wait_sweeps $MIRRORS 300
rec serve1h_hwm_swept_kb "$(kb $SERVE_PID VmHWM)"
sleep 3
ML="/mirrorlist/9/baseos?arch=x86_64"
curl -sf -o "$W/static/mirrorlist/9/baseos" "$SERVE_URL$ML"
curl -s "http://127.0.0.1:$((PORT + 1))$ML" | cmp - "$W/static/mirrorlist/9/baseos"
rec mirrorlist_lines "$(grep -vc '^#' "$W/static/mirrorlist/9/baseos" || true)"
rec mirrorlist_bytes "$(stat -c %s "$W/static/mirrorlist/9/baseos")"
c0=$(cpu_ticks $SERVE_PID)
wrk -t2 -c32 -d"${SECONDS_WRK}s" --latency "$SERVE_URL$ML" >"$W/wrk-mirrorlist.txt"
c1=$(cpu_ticks $SERVE_PID)
rec mirrorlist_cpu "$(echo "($c1 - $c0) / $TCK" | bc -l)"
wrk -t2 -c32 -d"${SECONDS_WRK}s" --latency "http://127.0.0.1:$((PORT + 1))$ML" >"$W/wrk-static.txt"
# Below saturation: both at half the rate mirrorwatch sustained. wrk's pause is whole
# milliseconds, so the rate is set by the number of connections, each pausing 2 ms before
# each request (a little under 500 requests a second per connection).
rate=$(awk '/^Requests\/sec/ {print int($2 / 2)}' "$W/wrk-mirrorlist.txt")
delay=2
conns=$(( rate * delay / 1000 ))
[ "$conns" -ge 2 ] || conns=2
rec paced_target_rps "$rate"; rec paced_delay_ms "$delay"; rec paced_connections "$conns"
wrk -t2 -c"$conns" -d"${SECONDS_WRK}s" --latency -s "$HERE/paced.lua" "$SERVE_URL$ML" -- "$delay" >"$W/wrk-mirrorlist-paced.txt"
wrk -t2 -c"$conns" -d"${SECONDS_WRK}s" --latency -s "$HERE/paced.lua" "http://127.0.0.1:$((PORT + 1))$ML" -- "$delay" >"$W/wrk-static-paced.txt"
# /metrics: one warm-up, then 20 timed scrapes one after another.
curl -s -o "$W/metrics.txt" "$SERVE_URL/metrics"
for _ in $(seq 20); do
    curl -s -o /dev/null -w '%{time_total}\n' "$SERVE_URL/metrics"
done >"$W/metrics-times.txt"
rec metrics_bytes "$(stat -c %s "$W/metrics.txt")"
rec metrics_series "$(grep -vc '^#' "$W/metrics.txt" || true)"
# The status page /: one warm-up, then 20 timed requests with gzip, one after another
# (bytes on the wire, seconds), and its size uncompressed.
curl -s -o "$W/page.html" "$SERVE_URL/"
for _ in $(seq 20); do
    curl -s --compressed -o /dev/null -w '%{size_download} %{time_total}\n' "$SERVE_URL/"
done >"$W/page-times.txt"
rec page_bytes "$(stat -c %s "$W/page.html")"
rec serve1h_rss_kb "$(kb $SERVE_PID VmRSS)"
stop_serve

# --- 6. warm sweeps as fast as they go: a 500 ms interval, restored state -----------------
# 530 x 136 repomd.xml every 500 ms would be 144,000 probes/s, above what wrk reaches on this
# nginx: the daemon is always behind, so the rate is its own and not the interval's (a 2 s
# interval capped it at 36,040 probes/s).
WARM_INTERVAL=500ms
say "serve, restored state, $WARM_INTERVAL interval: warm sweep rate"
rec warm_interval "$WARM_INTERVAL"
gen_config servefast $MIRRORS $WARM_INTERVAL 400ms
cp "$W/state-serve60.json" "$W/state-servefast.json"
start_serve servefast
wait_ready servefast 120
wait_sweeps $MIRRORS 120
sleep 5
p0=$(probes_total); r0=$(nginx_requests); c0=$(cpu_ticks $SERVE_PID); n0=$(nginx_ticks); t0=$(now)
sleep 30
p1=$(probes_total); r1=$(nginx_requests); c1=$(cpu_ticks $SERVE_PID); n1=$(nginx_ticks); t1=$(now)
rec warm_seconds "$(echo "$t1 - $t0" | bc -l)"
rec warm_probes $((p1 - p0)); rec warm_requests $((r1 - r0 - 1))
rec warm_cpu "$(echo "($c1 - $c0) / $TCK" | bc -l)"
rec warm_nginx_cpu "$(echo "($n1 - $n0) / $TCK" | bc -l)"
rec servefast_rss_kb "$(kb $SERVE_PID VmRSS)"
stop_serve

# --- 7. 10,000 mirrors: the state of the 530, copied to 10,000 names ------------------------
say "serve, $BIG mirrors (restored state), RSS capped at $RSS_CAP_MB MiB"
gen_config serve10k $BIG 1h 20s
$PY "$HERE/gen.py" --work "$W" clone-state --src "$W/state-serve60.json" --mirrors $BIG --out "$W/state-serve10k.json"
rec state10k_bytes "$(stat -c %s "$W/state-serve10k.json")"
r0=$(nginx_requests)
start_serve serve10k
rec serve10k_listening_s "$(echo "$(now) - $SERVE_STARTED" | bc -l)"
rec serve10k_listening_hwm_kb "$(kb $SERVE_PID VmHWM)"
# Restored mirrors count as swept, so /readyz answers at once: watch the sweep itself,
# until nginx has answered the 1,360,000 conditional GETs or four minutes have passed.
start=$(now); capped=0; done_at=""
while [ "$(echo "$(now) - $start < 240" | bc)" = 1 ]; do
    if ! kill -0 $SERVE_PID 2>/dev/null; then
        rec serve10k_died_after_s "$(echo "$(now) - $SERVE_STARTED" | bc -l)"
        wait $SERVE_PID 2>/dev/null || true; SERVE_PID=""
        break
    fi
    rss=$(kb $SERVE_PID VmRSS || echo 0)
    if [ "$rss" -gt $((RSS_CAP_MB * 1024)) ]; then
        rec serve10k_hwm_kb "$(kb $SERVE_PID VmHWM)"
        rec serve10k_capped_after_s "$(echo "$(now) - $SERVE_STARTED" | bc -l)"
        rec serve10k_requests_at_cap $(($(nginx_requests) - r0 - 1))
        kill -KILL $SERVE_PID; wait $SERVE_PID 2>/dev/null || true; SERVE_PID=""
        capped=1
        break
    fi
    if [ $(($(nginx_requests) - r0)) -gt $((BIG * 136)) ]; then
        done_at=$(echo "$(now) - $SERVE_STARTED" | bc -l)
        break
    fi
    sleep 0.5
done
rec serve10k_capped $capped
rec serve10k_swept_s "$done_at"
if [ -n "$SERVE_PID" ]; then
    rec serve10k_hwm_kb "$(kb $SERVE_PID VmHWM)"
    rec serve10k_requests $(($(nginx_requests) - r0 - 1))
    kill -KILL $SERVE_PID; wait $SERVE_PID 2>/dev/null || true; SERVE_PID="" # its state is of no use
fi

# --- 8. the in-repo render timing ---------------------------------------------------------
if [ "${BENCH_SKIP_RENDER_TEST:-0}" != 1 ]; then
    say "cargo test --release --lib render_time"
    (cd "$REPO" && cargo test --release -q --lib render_time -- --ignored --nocapture) \
        >"$W/render-test.txt" 2>&1 || echo "render_time test failed; see $W/render-test.txt" >&2
fi

kill -QUIT "$NGINX_PID"; NGINX_PID=""

# --- the report ------------------------------------------------------------------------------
say "writing the report"
{
    echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
    echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "nproc=$(nproc)"
    echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "virt=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -1)"
    echo "nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //')"
    echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "blackbox=$(prometheus-blackbox-exporter --version 2>&1 | head -1 | awk '{print $3}')"
    echo "rustc=$(rustc --version | awk '{print $2}')"
    echo "rev=$(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo '+local changes')"
} >"$W/machine.env"
if [ "${BENCH_NO_REPORT:-0}" != 1 ]; then
    $PY "$HERE/report.py" --work "$W" --out "$REPO/BENCHMARKS.md"
else
    $PY "$HERE/report.py" --work "$W" --out "$W/BENCHMARKS.md"
fi
say "done: results in $W"
