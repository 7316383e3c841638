#!/usr/bin/env bash
# Plain reverse-proxy benchmark: Weir against nginx, a minimal undici proxy and fast-gateway, all
# in front of the same nginx origin, one after another, on the same cores. See bench/README.md.
#
#   npm run bench:proxy                    # builds Weir first, then runs this
#   DURATION=3 bash bench/proxy.sh         # shorter runs (seconds per measurement, default 10)
#   ROUNDS=5 bash bench/proxy.sh           # more interleaved rounds (default 3)
#   CALL_LOG=both bash bench/proxy.sh      # also Weir with its call log off (row weir-nolog), for the on/off ratio
#   CALL_LOG=off bash bench/proxy.sh       # every Weir run with the call log off (default: on, Weir's default)
#
# The whole sequence (direct origin, nginx, minimal proxy, fast-gateway, weir, weir with 2 workers,
# and Weir's "full pipeline" — API-key auth + subscription check + rate limit, with memory and with
# Redis counters) runs ROUNDS times, interleaved; the report gives each proxy's median over the rounds, ratios of
# medians, and weir / minimal-proxy within each round. Then bench/fixed-rate.mjs drives Weir and the
# origin directly at half Weir's median peak, P99_ROUNDS times (default ROUNDS), for the p99 Weir adds.
#
# Layout (2 cores): the proxy under test on core 0; the origin (nginx, 1 worker) and the load
# generator (wrk -t1 -c64, or fixed-rate.mjs) on core 1. Weir with 2 workers runs unpinned, as the
# multi-core figure.
# Exit 1 when any measured run (any round) got a non-2xx answer, a socket error or no request at all,
# or when a proxy did not start.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
CALL_LOG=${CALL_LOG:-on} # on (Weir's default), off, or both (adds weir-nolog: 1 worker, call log off)
P99_ROUNDS=${P99_ROUNDS:-$ROUNDS}
FR_WARMUP=${FR_WARMUP:-2} # unrecorded seconds at the fixed rate before each fixed-rate measurement
RSS_TARGET_MB=120         # per Weir worker
PIPELINE_TARGET=0.8       # full pipeline (memory counters) / plain proxy, Weir 1 worker
REDIS_PORT=6399           # a private redis-server for the pipeline-redis case
BENCH_KEY=weir_bench_0123456789abcdef # the API key bench/proxy-pipeline*.yaml accept
P99_ADDED_TARGET_MS=1
PROXY_PORT=8080
ORIGIN_PORT=9001
ADMIN_PORT=9080
CORE_PROXY=0
CORE_LOAD=1
FAST_GATEWAY_VERSION=3.4.7
PEERS="$ROOT/bench/.peers"
# WEIR_BIN: another entry point taking Weir's `start` arguments (to test this script itself).
WEIR_BIN_OVERRIDE=${WEIR_BIN:-}
WEIR_BIN=${WEIR_BIN:-$ROOT/bin/weir.js}
LUA="$ROOT/bench/check-2xx.lua"
# The config Weir runs and the headers every request carries (set around the pipeline cases).
WEIR_CONFIG="$ROOT/bench/proxy.yaml"
REQ_HEADERS=()
FIXED_RATE="$ROOT/bench/fixed-rate.mjs"

if ! [[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $WARMUP =~ ^[0-9]+$ && $FR_WARMUP =~ ^[0-9]+$ ]]; then
  echo "DURATION, WARMUP and FR_WARMUP must be whole seconds (DURATION >= 1)" >&2
  exit 2
fi
if ! [[ $CALL_LOG == on || $CALL_LOG == off || $CALL_LOG == both ]]; then
  echo "CALL_LOG must be on, off or both" >&2
  exit 2
fi
if ! [[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 && $P99_ROUNDS =~ ^[0-9]+$ ]]; then
  echo "ROUNDS must be a whole number >= 1, P99_ROUNDS a whole number >= 0" >&2
  exit 2
fi
mkdir -p "$ROOT/bench/results"
STAMP=$(date +%Y-%m-%d-%H%M%S)
RESULTS="$ROOT/bench/results/proxy-$STAMP.txt"
: >"$RESULTS"

say() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Tools: wrk and nginx from Debian, fast-gateway from npm into bench/.peers (not a dependency).

APT_UPDATED=0
apt_install() {
  [[ $(id -u) -eq 0 ]] || { echo "need root to apt-get install $*" >&2; return 1; }
  local log
  log=$(mktemp)
  if [[ $APT_UPDATED -eq 0 ]]; then
    echo "apt-get update" >&2
    apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; return 1; }
    APT_UPDATED=1
  fi
  echo "apt-get install $*" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 \
    || { cat "$log" >&2; rm -f "$log"; return 1; }
  rm -f "$log"
}

find_nginx() { command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }

command -v wrk >/dev/null || apt_install wrk || die "wrk is missing and could not be installed"
NGINX=$(find_nginx)
if [[ -z $NGINX ]]; then
  apt_install nginx-light || apt_install nginx || die "nginx is missing and could not be installed"
  NGINX=$(find_nginx)
  [[ -n $NGINX ]] || die "nginx was installed but is not on PATH or in /usr/sbin"
fi

fg_installed_version() {
  node -e 'try { console.log(require(process.argv[1]).version) } catch { console.log("") }' \
    "$PEERS/node_modules/fast-gateway/package.json"
}
if [[ $(fg_installed_version) != "$FAST_GATEWAY_VERSION" ]]; then
  mkdir -p "$PEERS"
  echo "npm install fast-gateway@$FAST_GATEWAY_VERSION into bench/.peers" >&2
  npm install --prefix "$PEERS" --no-save --no-audit --no-fund --loglevel=error "fast-gateway@$FAST_GATEWAY_VERSION" >&2 \
    || die "could not install fast-gateway@$FAST_GATEWAY_VERSION"
fi

PIN_PROXY=(taskset -c "$CORE_PROXY")
PIN_LOAD=(taskset -c "$CORE_LOAD")
if [[ $(nproc) -lt 2 ]]; then
  say "WARNING: fewer than 2 cores: nothing is pinned, the numbers mean little"
  PIN_PROXY=()
  PIN_LOAD=()
fi

# ---------------------------------------------------------------------------------------------
# Process bookkeeping: every server runs in its own process group (setsid), killed on exit.

RUN=$(mktemp -d /tmp/weir-bench.XXXXXX)
chmod 755 "$RUN"
mkdir -p "$RUN/logs" "$RUN/temp"
STARTED=()

stop_group() {
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do stop_group "$pid"; done
  STARTED=()
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD… : runs CMD in a new process group, logs to $RUN/NAME.log, sets $LAST_PID.
start() {
  local name=$1
  shift
  setsid "$@" >"$RUN/$name.log" 2>&1 &
  LAST_PID=$!
  STARTED+=("$LAST_PID")
}

stop() {
  local pid=$1 keep=() p
  stop_group "$pid"
  for p in "${STARTED[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  STARTED=("${keep[@]+"${keep[@]}"}")
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID SECONDS: the port accepts connections, while PID is alive.
wait_port() {
  local port=$1 pid=$2 i
  for ((i = 0; i < $3 * 20; i++)); do
    port_open "$port" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

require_free() {
  local port
  for port in "$@"; do
    port_open "$port" && die "port $port is already in use: stop whatever listens there and rerun"
  done
  return 0
}

# Sum of RSS (kB) of PID and all its descendants.
tree_rss_kb() {
  ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
    { pid[NR] = $1; ppid[NR] = $2; rss[NR] = $3 }
    END {
      inset[root] = 1
      do { changed = 0
        for (i = 1; i <= NR; i++) if (!(pid[i] in inset) && (ppid[i] in inset)) { inset[pid[i]] = 1; changed = 1 }
      } while (changed)
      for (i = 1; i <= NR; i++) if (pid[i] in inset) total += rss[i]
      print total + 0
    }'
}

# RSS in MB of PID itself, then of each of its direct children, in pid order: "<pid> <child> <child>…".
# For Weir, PID is the cluster primary (setsid and taskset exec into node, so the pid started is
# node's) and its children are the workers (node:cluster forks them from the primary).
proc_rss_mb() {
  ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
    $1 == root { self = $3 }
    $2 == root { kids = kids sprintf(" %.1f", $3 / 1024) }
    END { printf "%.1f%s\n", self / 1024, kids }'
}

# median V…: the median of numbers (the mean of the middle two for an even count); empty if none.
median() {
  [[ $# -gt 0 ]] || return 0
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---------------------------------------------------------------------------------------------
# Measuring. Every figure is kept per run, keyed "<name>#<round>"; R is the current round.

NAMES=(direct-origin nginx minimal-proxy fast-gateway weir weir-2-workers weir-pipeline weir-pipeline-redis)
[[ $CALL_LOG != both ]] || NAMES+=(weir-nolog)
declare -A RPS REQS P50 P99 BAD ERRS RSS PROC_RSS STATE NOTE SKIP
FAILS=() # "<what>: <why>" for every failed run, for the final banner
RAW=()   # files under $RUN appended to the results file, as "file|title"
R=0

# wrk latency ("512.00us", "1.23ms", "1.02s", "1.50m") → milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v == "") { print ""; exit }
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000; else if (u == "h") n *= 3600000
    printf "%.2f", n
  }'
}

# measure NAME URL PID [per-process]: warm-up, then the measured run, with the RSS of PID's tree
# (and, with per-process, of PID and of each of its children) sampled mid-run.
measure() {
  local name=$1 url=$2 pid=$3 per_process=${4:-}
  local key="$name#$R" out="$RUN/$name.r$R.wrk" wpid rc=0
  say "· [round $R] $name: warm-up ${WARMUP}s, then ${DURATION}s at $url"
  if [[ $WARMUP -gt 0 ]]; then
    "${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "${REQ_HEADERS[@]}" -s "$LUA" "$url" >"$RUN/$name.r$R.warmup" 2>&1 || true
  fi
  "${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${REQ_HEADERS[@]}" --latency -s "$LUA" "$url" >"$out" 2>&1 &
  wpid=$!
  sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"
  RSS[$key]=$(awk -v kb="$(tree_rss_kb "$pid")" 'BEGIN { printf "%.1f", kb / 1024 }')
  [[ -z $per_process ]] || PROC_RSS[$key]=$(proc_rss_mb "$pid")
  wait "$wpid" || rc=$?
  RAW+=("$name.r$R.wrk|$name, round $R")

  RPS[$key]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  REQS[$key]=$(awk '/ requests in / { print $1 }' "$out")
  P50[$key]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  P99[$key]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  BAD[$key]=$(awk '/^non-2xx:/ { print $2 }' "$out")
  ERRS[$key]=$(awk '/^  Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
  ERRS[$key]=${ERRS[$key]:-0}
  STATE[$key]=ok
  local why=()
  [[ $rc -eq 0 ]] || why+=("wrk exited $rc")
  [[ -n ${BAD[$key]} ]] || { BAD[$key]='?'; why+=("no non-2xx count from check-2xx.lua"); }
  [[ ${REQS[$key]:-0} -gt 0 ]] || why+=("zero requests")
  [[ ${BAD[$key]} == 0 || ${BAD[$key]} == '?' ]] || why+=("${BAD[$key]} non-2xx responses: $(grep '^non-2xx:' "$out")")
  [[ ${ERRS[$key]} -eq 0 ]] || why+=("socket errors: $(grep 'Socket errors' "$out" | sed 's/^ *//')")
  if [[ ${#why[@]} -gt 0 ]]; then
    STATE[$key]=FAILED
    NOTE[$key]=$(IFS=';'; echo "${why[*]}")
    FAILS+=("$name, round $R: ${NOTE[$key]}")
    say "  FAILED: ${NOTE[$key]}"
    if [[ -s "$RUN/$name.log" ]]; then
      say "  last lines of $name's output:"
      tail -n 12 "$RUN/$name.log" | cut -c 1-400 | sed 's/^/    | /' | tee -a "$RESULTS"
    fi
  else
    say "  ${RPS[$key]} req/s, p50 ${P50[$key]} ms, p99 ${P99[$key]} ms, RSS ${RSS[$key]} MB${PROC_RSS[$key]:+ (per process: ${PROC_RSS[$key]})}"
  fi
}

# failed_start NAME WHY: a proxy that did not come up counts as a failed run (of round R).
failed_start() {
  local name=$1 key="$1#$R"
  STATE[$key]=FAILED
  NOTE[$key]=$2
  FAILS+=("$name, round $R: $2")
  say "· [round $R] $name"
  say "  FAILED: $2"
  [[ -f "$RUN/$name.log" ]] && tail -n 20 "$RUN/$name.log" | sed 's/^/    | /' | tee -a "$RESULTS"
  return 0
}

skipped() {
  SKIP[$1]=$2
  [[ $R -gt 1 ]] || say "· $1: $2"
}

# ---------------------------------------------------------------------------------------------
# The runs

say "Weir proxy benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "host: $(nproc) cores, $(uname -srm); node $(node -v); $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'); $(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }'); fast-gateway $(fg_installed_version)"
say "weir: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
say "layout: proxy on core $CORE_PROXY, origin + load generator on core $CORE_LOAD; wrk -t1 -c$CONNECTIONS, warm-up ${WARMUP}s, ${DURATION}s per run"
say "rounds: $ROUNDS interleaved (every proxy once per round), medians reported; p99-added pairs: $P99_ROUNDS"
LOAD1=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
say "load average before the runs: $LOAD1"
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 1.0) }'; then
  say "WARNING: the machine is busy (load $LOAD1): other processes share the cores, so absolute"
  say "         numbers are low and noisy; trust the per-round ratios most, and rerun on a quiet machine."
fi
say ""

require_free "$ORIGIN_PORT" "$PROXY_PORT"
URL="http://127.0.0.1:$PROXY_PORT/"
ORIGIN_URL="http://127.0.0.1:$ORIGIN_PORT/"

# The origin stays up for every run.
start origin "${PIN_LOAD[@]}" "$NGINX" -p "$RUN/" -e stderr -c "$ROOT/bench/nginx-origin.conf"
ORIGIN_PID=$LAST_PID
wait_port "$ORIGIN_PORT" "$ORIGIN_PID" 10 || { failed_start origin "nginx origin did not start"; exit 1; }
body=$(curl -fsS "$ORIGIN_URL")
[[ $body == '{"ok":true,"service":"origin","n":100}' ]] || die "unexpected origin body: $body"

# proxy NAME CMD…: start a pinned proxy on :8080, check it answers the origin's body, measure, stop.
proxy() {
  local name=$1 pid
  shift
  require_free "$PROXY_PORT"
  start "$name" "$@"
  pid=$LAST_PID
  if ! wait_port "$PROXY_PORT" "$pid" 20; then
    failed_start "$name" "did not listen on :$PROXY_PORT"
  elif ! curl -fsS -o "$RUN/$name.probe" "$URL" || ! grep -q '"service":"origin"' "$RUN/$name.probe"; then
    failed_start "$name" "did not proxy a first request to the origin"
  else
    measure "$name" "$URL" "$pid"
  fi
  stop "$pid"
}

# start_weir WORKERS NAME PIN…: start Weir, wait for the admin /readyz (30 s) and check one request
# through it. Sets WEIR_PID; returns 1 (after failed_start NAME) when it did not come up.
start_weir() {
  local workers=$1 name=$2 i ready=0
  shift 2
  require_free "$PROXY_PORT" "$ADMIN_PORT"
  # A fresh data folder per run: the call log (calls.db) starts empty every time.
  start "$name" "$@" node "$WEIR_BIN" start --config "$WEIR_CONFIG" --data "$RUN/data-$name-$R" \
    --workers "$workers" --port "$PROXY_PORT" --admin-port "$ADMIN_PORT"
  WEIR_PID=$LAST_PID
  for ((i = 0; i < 600; i++)); do
    if curl -fs -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz"; then ready=1; break; fi
    kill -0 "$WEIR_PID" 2>/dev/null || break
    sleep 0.05
  done
  if [[ $ready -eq 0 ]]; then
    failed_start "$name" "never answered 2xx on http://127.0.0.1:$ADMIN_PORT/readyz"
  elif ! curl -fsS "${REQ_HEADERS[@]}" -o "$RUN/$name.probe" "$URL" || ! grep -q '"service":"origin"' "$RUN/$name.probe"; then
    failed_start "$name" "did not proxy a first request to the origin"
  else
    return 0
  fi
  stop "$WEIR_PID"
  return 1
}

# The config Weir runs: bench/proxy.yaml, or a copy with the call log off.
PROXY_YAML="$ROOT/bench/proxy.yaml"
NOLOG_YAML="$RUN/proxy-nolog.yaml"
{ cat "$PROXY_YAML"; printf 'global:\n  callLog:\n    enabled: false\n'; } >"$NOLOG_YAML"
WEIR_CONFIG=$PROXY_YAML
[[ $CALL_LOG != off ]] || WEIR_CONFIG=$NOLOG_YAML

# call_log_line NAME: the call log's counters from /healthz (written, dropped, failed, queued).
call_log_line() {
  local stats
  stats=$(curl -fsS "http://127.0.0.1:$ADMIN_PORT/healthz" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const c = JSON.parse(s).callLog;
      console.log(c ? `written ${c.written}, dropped ${c.dropped}, failed ${c.failed}, queued ${c.queued}` : "off");
    });' 2>/dev/null) || stats="unknown (no /healthz)"
  say "  call log of $1: $stats"
}

# weir WORKERS NAME PIN…: like proxy(), with Weir's RSS also sampled per process.
weir() {
  local workers=$1 name=$2
  shift 2
  start_weir "$workers" "$name" "$@" || return 0
  measure "$name" "$URL" "$WEIR_PID" per-process
  call_log_line "$name"
  stop "$WEIR_PID"
}

WEIR_BUILT=0
[[ -n ${WEIR_BIN_OVERRIDE:-} || -f "$ROOT/dist/cli/main.js" ]] && WEIR_BUILT=1

# weir_pipeline NAME CONFIG: Weir (1 worker, pinned) with CONFIG, every request carrying the API key.
weir_pipeline() {
  local saved=$WEIR_CONFIG
  WEIR_CONFIG=$2
  REQ_HEADERS=(-H "x-api-key: $BENCH_KEY")
  weir 1 "$1" "${PIN_PROXY[@]}"
  WEIR_CONFIG=$saved
  REQ_HEADERS=()
}

# A private Redis for the pipeline-redis case, pinned with the origin and the load generator; it
# keeps nothing on disk and stays up for every round.
REDIS_OK=0
if [[ $WEIR_BUILT -eq 1 ]] && command -v redis-server >/dev/null; then
  require_free "$REDIS_PORT"
  start redis "${PIN_LOAD[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no
  if wait_port "$REDIS_PORT" "$LAST_PID" 10; then REDIS_OK=1; else failed_start weir-pipeline-redis "redis-server did not start on :$REDIS_PORT"; fi
fi

for ((R = 1; R <= ROUNDS; R++)); do
  say "── round $R of $ROUNDS"
  measure direct-origin "$ORIGIN_URL" "$ORIGIN_PID"
  proxy nginx "${PIN_PROXY[@]}" "$NGINX" -p "$RUN/" -e stderr -c "$ROOT/bench/nginx-proxy.conf"
  proxy minimal-proxy "${PIN_PROXY[@]}" node "$ROOT/bench/minimal-proxy.mjs" "$PROXY_PORT"
  proxy fast-gateway "${PIN_PROXY[@]}" node "$ROOT/bench/fast-gateway.mjs" "$PROXY_PORT"
  if [[ $WEIR_BUILT -eq 1 ]]; then
    weir 1 weir "${PIN_PROXY[@]}"
    weir 2 weir-2-workers # unpinned: the multi-core figure
    weir_pipeline weir-pipeline "$ROOT/bench/proxy-pipeline.yaml"
    if [[ $REDIS_OK -eq 1 ]]; then
      weir_pipeline weir-pipeline-redis "$ROOT/bench/proxy-pipeline-redis.yaml"
    else
      skipped weir-pipeline-redis "no redis-server on this machine — skipped"
    fi
    if [[ $CALL_LOG == both ]]; then
      WEIR_CONFIG=$NOLOG_YAML
      weir 1 weir-nolog "${PIN_PROXY[@]}"
      WEIR_CONFIG=$PROXY_YAML
    fi
  else
    skipped weir "weir not built — skipped (no dist/cli/main.js; npm run build)"
    skipped weir-2-workers "weir not built — skipped"
    skipped weir-pipeline "weir not built — skipped"
    skipped weir-pipeline-redis "weir not built — skipped"
    [[ $CALL_LOG != both ]] || skipped weir-nolog "weir not built — skipped"
  fi
  say ""
done

# ok_values ARRAY NAME: the values of ARRAY[NAME#r] over the rounds where NAME's run was ok.
ok_values() {
  local -n arr=$1
  local r out=()
  for ((r = 1; r <= ROUNDS; r++)); do
    [[ ${STATE["$2#$r"]:-} == ok && -n ${arr["$2#$r"]:-} ]] && out+=("${arr["$2#$r"]}")
  done
  echo "${out[*]}"
}
# med ARRAY NAME: the median of ARRAY over NAME's ok rounds (empty when none).
med() {
  # shellcheck disable=SC2046
  median $(ok_values "$1" "$2")
}

# ---------------------------------------------------------------------------------------------
# p99 added: bench/fixed-rate.mjs (open loop, latency from the scheduled send time) at half Weir's
# median peak, against Weir (1 worker, core 0) and then against the origin directly, P99_ROUNDS
# pairs. Weir stays up (idle) during the origin's runs, so it is started and warmed up only once.

declare -A FR_P50 FR_P90 FR_P99 FR_MAX FR_ACH FR_RATIO FR_VALID FR_WHY
P99_LINES=()
P99_RATE=""

# fixed_rate TARGET K URL: one fixed-rate run; sets FR_*["TARGET#K"].
fixed_rate() {
  local target=$1 k=$2 url=$3 key="$1#$2" out="$RUN/fixed-$1.p$2.json" rc=0
  local p50 p90 p99 pmax ach ratio valid non2xx errs why prob
  say "· [pair $k] fixed-rate $P99_RATE req/s at $target ($url): ${FR_WARMUP}s unrecorded, then ${DURATION}s"
  "${PIN_LOAD[@]}" node "$FIXED_RATE" --url "$url" --rate "$P99_RATE" --duration "$DURATION" \
    --connections "$CONNECTIONS" --warmup "$FR_WARMUP" >"$out" 2>"$out.err" || rc=$?
  RAW+=("fixed-$target.p$k.json|fixed-rate at $target, pair $k")
  if ! IFS=$'\t' read -r p50 p90 p99 pmax ach ratio valid non2xx errs why prob < <(node -e '
      const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const l = j.latency_ms;
      console.log([l.p50, l.p90, l.p99, l.max, j.achieved_rate, j.achieved_ratio, j.valid, j.non2xx, j.errors,
        j.invalid_reason, j.first_problem].map((v) => v ?? "-").join("\t"));' "$out" 2>/dev/null); then
    FR_VALID[$key]=false
    FR_WHY[$key]="no result from fixed-rate.mjs (exit $rc): $(head -c 300 "$out.err")"
    FAILS+=("fixed-rate at $target, pair $k: ${FR_WHY[$key]}")
    say "  FAILED: ${FR_WHY[$key]}"
    return 0
  fi
  FR_P50[$key]=$p50 FR_P90[$key]=$p90 FR_P99[$key]=$p99 FR_MAX[$key]=$pmax
  FR_ACH[$key]=$ach FR_RATIO[$key]=$ratio FR_VALID[$key]=$valid FR_WHY[$key]=$why
  if [[ $rc -ne 0 || $non2xx != 0 || $errs != 0 ]]; then
    FR_VALID[$key]=false
    FR_WHY[$key]="$non2xx non-2xx, $errs errors (first: $prob)"
    FAILS+=("fixed-rate at $target, pair $k: ${FR_WHY[$key]}")
    say "  FAILED: ${FR_WHY[$key]}"
    return 0
  fi
  say "$(awk -v a="$ach" -v q="$ratio" -v p50="$p50" -v p90="$p90" -v p99="$p99" -v mx="$pmax" \
    'BEGIN { printf "  achieved %.0f req/s (%.1f%%), p50 %.2f, p90 %.2f, p99 %.2f, max %.2f ms", a, q * 100, p50, p90, p99, mx }')"
  [[ $valid == true ]] || say "  INVALID: the achieved rate is not within 2% of the target (the generator or the target fell behind) — $why"
}

p99_added() {
  local peak k wp op diffs=() line
  if [[ $WEIR_BUILT -ne 1 ]]; then P99_LINES+=("p99 added: skipped — weir not built"); return 0; fi
  if [[ $P99_ROUNDS -eq 0 ]]; then P99_LINES+=("p99 added: skipped (P99_ROUNDS=0)"); return 0; fi
  peak=$(med RPS weir)
  if [[ -z $peak ]]; then P99_LINES+=("p99 added: skipped — no valid weir (1 worker) run to take the peak from"); return 0; fi
  P99_RATE=$(awk -v p="$peak" 'BEGIN { printf "%d", p / 2 }')
  say "── p99 added: fixed rate $P99_RATE req/s (half Weir's median peak of $(printf '%.0f' "$peak")), $P99_ROUNDS pair(s): Weir, then the origin directly"
  R=p99
  start_weir 1 weir-fixed-rate "${PIN_PROXY[@]}" || { P99_LINES+=("p99 added: Weir did not start"); return 0; }
  if [[ $WARMUP -gt 0 ]]; then
    "${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$LUA" "$URL" >"$RUN/weir-fixed-rate.warmup" 2>&1 || true
  fi
  for ((k = 1; k <= P99_ROUNDS; k++)); do
    fixed_rate weir "$k" "$URL"
    fixed_rate origin "$k" "$ORIGIN_URL"
  done
  stop "$WEIR_PID"

  P99_LINES+=("p99 added over the direct origin at $P99_RATE req/s (open loop, latency from the scheduled send; target ≤ $P99_ADDED_TARGET_MS ms):")
  for ((k = 1; k <= P99_ROUNDS; k++)); do
    wp=${FR_P99["weir#$k"]:-} op=${FR_P99["origin#$k"]:-}
    if [[ ${FR_VALID["weir#$k"]:-false} == true && ${FR_VALID["origin#$k"]:-false} == true ]]; then
      line=$(awk -v w="$wp" -v o="$op" 'BEGIN { printf "%.2f", w - o }')
      diffs+=("$line")
      P99_LINES+=("$(awk -v k="$k" -v w="$wp" -v o="$op" -v d="$line" 'BEGIN { printf "  pair %d: weir p99 %.2f ms − origin p99 %.2f ms = %+.2f ms", k, w, o, d }')")
    else
      line="weir: ${FR_WHY["weir#$k"]:-not run}; origin: ${FR_WHY["origin#$k"]:-not run}"
      P99_LINES+=("  pair $k: INVALID measurement — $line")
    fi
  done
  if [[ ${#diffs[@]} -eq 0 ]]; then
    P99_LINES+=("  p99 added: INVALID — no pair where the generator kept up (achieved rate within 2% of the target) on both sides")
  else
    line=$(median "${diffs[@]}")
    P99_LINES+=("$(awk -v d="$line" -v n="${#diffs[@]}" -v t="$P99_ADDED_TARGET_MS" 'BEGIN {
      printf "  p99 added (median of %d valid pair(s)): %.2f ms — %s", n, d, (d <= t ? "within the target" : "ABOVE the target") }')")
  fi
}
p99_added

stop "$ORIGIN_PID"

# ---------------------------------------------------------------------------------------------
# Report

fmt() { # fmt FORMAT VALUE: printf a number, or "-" when empty
  if [[ -n ${2:-} ]]; then printf "$1" "$2"; else printf -- '-'; fi
}

say ""
say "Per round (raw):"
say "$(printf '%-16s %5s %8s %9s %9s %8s %8s %8s  %s' name round 'req/s' 'p50 ms' 'p99 ms' non-2xx 'sock err' 'RSS MB' state)"
for name in "${NAMES[@]}"; do
  [[ -z ${SKIP[$name]:-} ]] || continue
  for ((r = 1; r <= ROUNDS; r++)); do
    k="$name#$r"
    say "$(printf '%-16s %5s %8s %9s %9s %8s %8s %8s  %s' "$name" "$r" "${RPS[$k]:--}" "${P50[$k]:--}" "${P99[$k]:--}" \
      "${BAD[$k]:--}" "${ERRS[$k]:--}" "${RSS[$k]:--}" "${STATE[$k]:-not run}${NOTE[$k]:+: ${NOTE[$k]}}")"
  done
done

say ""
say "Median of $ROUNDS round(s):"
say "$(printf '%-16s %8s %15s %9s %9s %8s %8s %8s  %s' name 'req/s' 'min-max' 'p50 ms' 'p99 ms' non-2xx 'sock err' 'RSS MB' state)"
for name in "${NAMES[@]}"; do
  if [[ -n ${SKIP[$name]:-} ]]; then
    say "$(printf '%-16s %8s %15s %9s %9s %8s %8s %8s  %s' "$name" - - - - - - - "${SKIP[$name]}")"
    continue
  fi
  oks=0 bad=0 errs=0 lo="" hi=""
  for ((r = 1; r <= ROUNDS; r++)); do
    k="$name#$r"
    [[ ${STATE[$k]:-} == ok ]] && oks=$((oks + 1))
    v1=${BAD[$k]:-0} v2=${ERRS[$k]:-0}
    [[ $v1 =~ ^[0-9]+$ ]] && bad=$((bad + v1))
    [[ $v2 =~ ^[0-9]+$ ]] && errs=$((errs + v2))
  done
  vals=$(ok_values RPS "$name")
  [[ -n $vals ]] && { lo=$(tr ' ' '\n' <<<"$vals" | sort -g | head -n 1); hi=$(tr ' ' '\n' <<<"$vals" | sort -g | tail -n 1); }
  state=ok
  [[ $oks -eq $ROUNDS ]] || state="FAILED ($((ROUNDS - oks)) of $ROUNDS rounds; medians over the ok ones)"
  say "$(printf '%-16s %8s %15s %9s %9s %8s %8s %8s  %s' "$name" "$(fmt '%.0f' "$(med RPS "$name")")" \
    "${lo:+$lo-$hi}" "$(fmt '%.2f' "$(med P50 "$name")")" "$(fmt '%.2f' "$(med P99 "$name")")" \
    "$bad" "$errs" "$(fmt '%.1f' "$(med RSS "$name")")" "$state")"
done
say "(req/s, p50, p99, RSS: medians over the rounds; min-max: the req/s range; non-2xx, sock err: totals."
say " direct-origin is wrk straight at the origin: the reference, not a proxy; its RSS is the origin nginx's)"

ratio() { # ratio LABEL A B: median req/s of A / median req/s of B
  local a b
  a=$(med RPS "$2") b=$(med RPS "$3")
  if [[ -n $a && -n $b ]] && awk -v b="$b" 'BEGIN { exit !(b > 0) }'; then
    say "$(awk -v l="$1" -v a="$a" -v b="$b" 'BEGIN { printf "  %-28s %6.2fx   (%.0f / %.0f req/s)", l, a / b, a, b }')"
  else
    say "$(printf '  %-28s %6s' "$1" 'n/a')"
  fi
}
# per_round_ratio LABEL A B: A_r / B_r within each round where both were ok, and their median.
per_round_ratio() {
  local r a b q qs=() parts=()
  for ((r = 1; r <= ROUNDS; r++)); do
    a=${RPS["$2#$r"]:-} b=${RPS["$3#$r"]:-}
    if [[ ${STATE["$2#$r"]:-} == ok && ${STATE["$3#$r"]:-} == ok && ${b:-0} -gt 0 ]]; then
      q=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
      qs+=("$q")
      parts+=("$(awk -v r="$r" -v q="$q" -v a="$a" -v b="$b" 'BEGIN { printf "round %d %.2fx (%d / %d)", r, q, a, b }')")
    else
      parts+=("round $r n/a")
    fi
  done
  say "  $1 per round: $(IFS=';'; echo "${parts[*]}" | sed 's/;/, /g')"
  if [[ ${#qs[@]} -gt 0 ]]; then
    say "$(awk -v l="$1" -v m="$(median "${qs[@]}")" -v n="${#qs[@]}" 'BEGIN { printf "  %-28s %6.2fx   (median of %d per-round ratio(s))", l, m, n }')"
  else
    say "$(printf '  %-28s %6s' "$1" 'n/a')"
  fi
}
say ""
say "Throughput ratios of the medians (above 1.00x: the first is faster):"
ratio "weir / nginx" weir nginx
ratio "weir / minimal-proxy" weir minimal-proxy
ratio "weir / fast-gateway" weir fast-gateway
ratio "weir-2-workers / weir" weir-2-workers weir
[[ $CALL_LOG != both ]] || ratio "weir / weir-nolog (call log)" weir weir-nolog
say "Peers among themselves:"
ratio "minimal-proxy / nginx" minimal-proxy nginx
ratio "fast-gateway / minimal-proxy" fast-gateway minimal-proxy
say "Within each round (adjacent runs, the fairest comparison on a noisy machine):"
per_round_ratio "weir / minimal-proxy" weir minimal-proxy
[[ $CALL_LOG != both ]] || per_round_ratio "weir / weir-nolog" weir weir-nolog

# The full pipeline against Weir's own plain proxy: throughput ratio (target ≥ PIPELINE_TARGET
# with memory counters) and what the pipeline adds per request on the pinned core, 1e6/rps
# (µs of the one core per request: the proxy is CPU-bound at peak) minus the plain proxy's.
# per_round_cost LABEL A B: per round 1e6/rps(A) − 1e6/rps(B), and the median.
per_round_cost() {
  local r a b c cs=() parts=()
  for ((r = 1; r <= ROUNDS; r++)); do
    a=${RPS["$2#$r"]:-} b=${RPS["$3#$r"]:-}
    if [[ ${STATE["$2#$r"]:-} == ok && ${STATE["$3#$r"]:-} == ok && ${a:-0} -gt 0 && ${b:-0} -gt 0 ]]; then
      c=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", 1e6 / a - 1e6 / b }')
      cs+=("$c")
      parts+=("round $r ${c} µs")
    else
      parts+=("round $r n/a")
    fi
  done
  say "  $1 per round: $(IFS=';'; echo "${parts[*]}" | sed 's/;/, /g')"
  if [[ ${#cs[@]} -gt 0 ]]; then
    say "$(awk -v l="$1" -v m="$(median "${cs[@]}")" 'BEGIN { printf "  %-28s %+6.2f µs per request (median)", l, m }')"
  fi
}
if [[ $WEIR_BUILT -eq 1 ]]; then
  say ""
  say "Full pipeline (API-key auth + subscription check + rate limit per consumer) against Weir's plain proxy:"
  per_round_ratio "weir-pipeline / weir" weir-pipeline weir
  per_round_ratio "pipeline-redis / weir" weir-pipeline-redis weir
  per_round_cost "pipeline cost (memory)" weir-pipeline weir
  per_round_cost "pipeline cost (redis)" weir-pipeline-redis weir
  q=$(med RPS weir-pipeline) p=$(med RPS weir)
  if [[ -n $q && -n $p ]]; then
    say "$(awk -v q="$q" -v p="$p" -v t="$PIPELINE_TARGET" 'BEGIN { r = q / p; printf "  full pipeline (memory counters) / plain proxy, medians: %.2fx — %s (target ≥ %.2fx)", r, (r >= t ? "within the target" : "BELOW the target"), t }')"
  fi
  say "  (each plugin's own cost, measured in-process: npm run bench:plugins)"
fi

# Weir's RSS per process, sampled mid-run: the primary and each worker (children of the primary).
if [[ $WEIR_BUILT -eq 1 ]]; then
  say ""
  say "Weir RSS per process, sampled mid-run (MB; target ≤ $RSS_TARGET_MB MB per worker):"
  workers_all=()
  WEIR_ROWS=(weir weir-2-workers)
  [[ $CALL_LOG != both ]] || WEIR_ROWS+=(weir-nolog)
  for name in "${WEIR_ROWS[@]}"; do
    want=1
    [[ $name == weir-2-workers ]] && want=2
    prim_all=()
    for ((r = 1; r <= ROUNDS; r++)); do
      k="$name#$r"
      [[ -n ${PROC_RSS[$k]:-} ]] || continue
      read -r -a v <<<"${PROC_RSS[$k]}"
      prim_all+=("${v[0]}")
      ws=("${v[@]:1}")
      workers_all+=("${ws[@]}")
      extra=""
      [[ ${#ws[@]} -eq $want ]] || extra="  (expected $want worker(s), saw ${#ws[@]})"
      say "$(printf '  %-16s round %d: primary %6s, worker(s) %s   tree total %s%s' "$name" "$r" "${v[0]}" \
        "$(IFS=,; echo "${ws[*]:-none}" | sed 's/,/, /g')" "${RSS[$k]:--}" "$extra")"
    done
  done
  if [[ ${#workers_all[@]} -gt 0 ]]; then
    wmax=$(printf '%s\n' "${workers_all[@]}" | sort -g | tail -n 1)
    say "$(awk -v m="$(median "${workers_all[@]}")" -v x="$wmax" -v t="$RSS_TARGET_MB" 'BEGIN {
      printf "  per worker: median %.1f MB, largest %.1f MB — %s", m, x, (x <= t ? "within the target" : "ABOVE the target") }')"
  else
    say "  no sample (no weir run got as far as its measurement)"
  fi
fi

say ""
for line in "${P99_LINES[@]}"; do say "$line"; done

{
  echo ""
  echo "=== raw output (wrk; fixed-rate.mjs JSON) ==="
  for entry in "${RAW[@]}"; do
    echo ""
    echo "--- ${entry#*|}"
    cat "$RUN/${entry%%|*}" 2>&1 || true
  done
} >>"$RESULTS"

say ""
if [[ ${#FAILS[@]} -gt 0 ]]; then
  say "################################################################################"
  say "#  BENCHMARK FAILED — these runs failed (their numbers, if any, are not valid):"
  for f in "${FAILS[@]}"; do say "#    $f"; done
  say "################################################################################"
  say "results: ${RESULTS#"$ROOT/"}"
  exit 1
fi
say "All runs of all $ROUNDS round(s) answered 2xx only. Results: ${RESULTS#"$ROOT/"}"
