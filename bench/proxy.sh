#!/usr/bin/env bash
# Plain reverse-proxy benchmark: Weir against nginx, a minimal undici proxy and fast-gateway, all
# in front of the same nginx origin, one after another, on the same cores. See bench/README.md.
#
#   npm run bench:proxy                # builds Weir first, then runs this
#   DURATION=3 bash bench/proxy.sh     # shorter runs (seconds per measurement, default 10)
#
# Layout (2 cores): the proxy under test on core 0; the origin (nginx, 1 worker) and the load
# generator (wrk -t1 -c64) on core 1. Weir with 2 workers runs unpinned, as the multi-core figure.
# Exit 1 when any measured run got a non-2xx answer, a socket error or no request at all.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
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

if ! [[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $WARMUP =~ ^[0-9]+$ ]]; then
  echo "DURATION and WARMUP must be whole seconds (DURATION >= 1)" >&2
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

# ---------------------------------------------------------------------------------------------
# Measuring

declare -A RPS REQS P50 P99 BAD ERRS RSS STATE NOTE
ORDER=()
RAW=()

# wrk latency ("512.00us", "1.23ms", "1.02s", "1.50m") → milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v == "") { print ""; exit }
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000; else if (u == "h") n *= 3600000
    printf "%.2f", n
  }'
}

# measure NAME URL PID: warm-up, then the measured run with the RSS of PID's tree sampled mid-run.
measure() {
  local name=$1 url=$2 pid=$3
  local out="$RUN/$name.wrk" wpid rc=0
  ORDER+=("$name")
  say "· $name: warm-up ${WARMUP}s, then ${DURATION}s at $url"
  if [[ $WARMUP -gt 0 ]]; then
    "${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$LUA" "$url" >"$RUN/$name.warmup" 2>&1 || true
  fi
  "${PIN_LOAD[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$LUA" "$url" >"$out" 2>&1 &
  wpid=$!
  sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"
  RSS[$name]=$(awk -v kb="$(tree_rss_kb "$pid")" 'BEGIN { printf "%.1f", kb / 1024 }')
  wait "$wpid" || rc=$?
  RAW+=("$name")

  RPS[$name]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  REQS[$name]=$(awk '/ requests in / { print $1 }' "$out")
  P50[$name]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  P99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  BAD[$name]=$(awk '/^non-2xx:/ { print $2 }' "$out")
  ERRS[$name]=$(awk '/^  Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
  ERRS[$name]=${ERRS[$name]:-0}
  STATE[$name]=ok
  local why=()
  [[ $rc -eq 0 ]] || why+=("wrk exited $rc")
  [[ -n ${BAD[$name]} ]] || { BAD[$name]='?'; why+=("no non-2xx count from check-2xx.lua"); }
  [[ ${REQS[$name]:-0} -gt 0 ]] || why+=("zero requests")
  [[ ${BAD[$name]} == 0 || ${BAD[$name]} == '?' ]] || why+=("${BAD[$name]} non-2xx responses: $(grep '^non-2xx:' "$out")")
  [[ ${ERRS[$name]} -eq 0 ]] || why+=("socket errors: $(grep 'Socket errors' "$out" | sed 's/^ *//')")
  if [[ ${#why[@]} -gt 0 ]]; then
    STATE[$name]=FAILED
    NOTE[$name]=$(IFS=';'; echo "${why[*]}")
    say "  FAILED: ${NOTE[$name]}"
  else
    say "  ${RPS[$name]} req/s, p50 ${P50[$name]} ms, p99 ${P99[$name]} ms, RSS ${RSS[$name]} MB"
  fi
}

# failed_start NAME WHY: a proxy that did not come up counts as a failed run.
failed_start() {
  local name=$1
  ORDER+=("$name")
  STATE[$name]=FAILED
  NOTE[$name]=$2
  say "· $name"
  say "  FAILED: $2"
  [[ -f "$RUN/$name.log" ]] && tail -n 20 "$RUN/$name.log" | sed 's/^/    | /' | tee -a "$RESULTS"
  return 0
}

skipped() {
  ORDER+=("$1")
  STATE[$1]=skipped
  NOTE[$1]=$2
  say "· $1: $2"
}

# ---------------------------------------------------------------------------------------------
# The runs

say "Weir proxy benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "host: $(nproc) cores, $(uname -srm); node $(node -v); $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'); $(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }'); fast-gateway $(fg_installed_version)"
say "weir: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
say "layout: proxy on core $CORE_PROXY, origin + wrk on core $CORE_LOAD; wrk -t1 -c$CONNECTIONS, warm-up ${WARMUP}s, ${DURATION}s per run"
LOAD1=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
say "load average before the runs: $LOAD1"
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 1.0) }'; then
  say "WARNING: the machine is busy (load $LOAD1): other processes share the cores, so absolute"
  say "         numbers are low and noisy; compare only rows of one run, and rerun on a quiet machine."
fi
say ""

require_free "$ORIGIN_PORT" "$PROXY_PORT"
URL="http://127.0.0.1:$PROXY_PORT/"

# The origin stays up for every run.
start origin "${PIN_LOAD[@]}" "$NGINX" -p "$RUN/" -e stderr -c "$ROOT/bench/nginx-origin.conf"
ORIGIN_PID=$LAST_PID
wait_port "$ORIGIN_PORT" "$ORIGIN_PID" 10 || { failed_start origin "nginx origin did not start"; exit 1; }
body=$(curl -fsS "http://127.0.0.1:$ORIGIN_PORT/")
[[ $body == '{"ok":true,"service":"origin","n":100}' ]] || die "unexpected origin body: $body"

measure direct-origin "http://127.0.0.1:$ORIGIN_PORT/" "$ORIGIN_PID"

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

proxy nginx "${PIN_PROXY[@]}" "$NGINX" -p "$RUN/" -e stderr -c "$ROOT/bench/nginx-proxy.conf"
proxy minimal-proxy "${PIN_PROXY[@]}" node "$ROOT/bench/minimal-proxy.mjs" "$PROXY_PORT"
proxy fast-gateway "${PIN_PROXY[@]}" node "$ROOT/bench/fast-gateway.mjs" "$PROXY_PORT"

# weir WORKERS NAME PIN…: like proxy(), but waits for the admin /readyz.
weir() {
  local workers=$1 name=$2 pid i ready=0
  shift 2
  require_free "$PROXY_PORT" "$ADMIN_PORT"
  start "$name" "$@" node "$WEIR_BIN" start --config "$ROOT/bench/proxy.yaml" \
    --workers "$workers" --port "$PROXY_PORT" --admin-port "$ADMIN_PORT"
  pid=$LAST_PID
  for ((i = 0; i < 600; i++)); do
    if curl -fs -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz"; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ $ready -eq 0 ]]; then
    failed_start "$name" "never answered 2xx on http://127.0.0.1:$ADMIN_PORT/readyz"
  elif ! curl -fsS -o "$RUN/$name.probe" "$URL" || ! grep -q '"service":"origin"' "$RUN/$name.probe"; then
    failed_start "$name" "did not proxy a first request to the origin"
  else
    measure "$name" "$URL" "$pid"
    if [[ $name == weir ]]; then p99_added; fi
  fi
  stop "$pid"
}

# p99 added by Weir over the direct origin, both at half Weir's peak rate (needs wrk2's -R).
P99_ADDED_NOTE=""
p99_added() {
  local rate out_w="$RUN/weir.wrk2" out_o="$RUN/direct-origin.wrk2" pw po
  if ! command -v wrk2 >/dev/null; then
    P99_ADDED_NOTE="p99 added at half Weir's peak rate: skipped — wrk2 is not installed (it is not packaged in Debian)"
    return 0
  fi
  [[ ${STATE[weir]} == ok ]] || return 0
  rate=$((RPS[weir] / 2))
  say "· p99 added: wrk2 at $rate req/s (half Weir's peak) against Weir, then the origin directly"
  "${PIN_LOAD[@]}" wrk2 -t1 -c"$CONNECTIONS" -d"${DURATION}s" -R"$rate" --latency "$URL" >"$out_w" 2>&1 || true
  "${PIN_LOAD[@]}" wrk2 -t1 -c"$CONNECTIONS" -d"${DURATION}s" -R"$rate" --latency "http://127.0.0.1:$ORIGIN_PORT/" >"$out_o" 2>&1 || true
  RAW+=("weir.wrk2" "direct-origin.wrk2")
  pw=$(to_ms "$(awk '$1 == "99.000%" { print $2; exit }' "$out_w")")
  po=$(to_ms "$(awk '$1 == "99.000%" { print $2; exit }' "$out_o")")
  if [[ -n $pw && -n $po ]]; then
    P99_ADDED_NOTE=$(awk -v w="$pw" -v o="$po" -v r="$rate" 'BEGIN { printf "p99 added at %d req/s: %.2f ms (weir p99 %.2f ms, direct origin p99 %.2f ms)", r, w - o, w, o }')
  else
    P99_ADDED_NOTE="p99 added: could not parse wrk2's output (see the raw output below)"
  fi
}

if [[ -n ${WEIR_BIN_OVERRIDE:-} || -f "$ROOT/dist/cli/main.js" ]]; then
  weir 1 weir "${PIN_PROXY[@]}"
  weir 2 weir-2-workers # unpinned: the multi-core figure
else
  skipped weir "weir not built — skipped (no dist/cli/main.js; npm run build)"
  skipped weir-2-workers "weir not built — skipped"
  P99_ADDED_NOTE="p99 added at half Weir's peak rate: skipped — weir not built"
fi

stop "$ORIGIN_PID"

# ---------------------------------------------------------------------------------------------
# Report

say ""
say "$(printf '%-16s %10s %9s %9s %8s %8s %8s  %s' name 'req/s' 'p50 ms' 'p99 ms' non-2xx 'sock err' 'RSS MB' state)"
for name in "${ORDER[@]}"; do
  if [[ ${STATE[$name]} == skipped ]]; then
    say "$(printf '%-16s %10s %9s %9s %8s %8s %8s  %s' "$name" - - - - - - "${NOTE[$name]}")"
  else
    say "$(printf '%-16s %10s %9s %9s %8s %8s %8s  %s' "$name" "${RPS[$name]:--}" "${P50[$name]:--}" "${P99[$name]:--}" \
      "${BAD[$name]:--}" "${ERRS[$name]:--}" "${RSS[$name]:--}" "${STATE[$name]}")"
  fi
done
say "(direct-origin is wrk straight at the origin: the reference, not a proxy; its RSS is the origin nginx's)"

ratio() { # ratio LABEL A B: RPS[A] / RPS[B]
  if [[ ${STATE[$2]:-} == ok && ${STATE[$3]:-} == ok && ${RPS[$3]:-0} -gt 0 ]]; then
    say "$(awk -v l="$1" -v a="${RPS[$2]}" -v b="${RPS[$3]}" 'BEGIN { printf "  %-28s %6.2fx   (%d / %d req/s)", l, a / b, a, b }')"
  else
    say "$(printf '  %-28s %6s' "$1" 'n/a')"
  fi
}
say ""
say "Throughput ratios (above 1.00x: the first is faster):"
ratio "weir / nginx" weir nginx
ratio "weir / minimal-proxy" weir minimal-proxy
ratio "weir / fast-gateway" weir fast-gateway
ratio "weir-2-workers / weir" weir-2-workers weir
say "Peers among themselves:"
ratio "minimal-proxy / nginx" minimal-proxy nginx
ratio "fast-gateway / minimal-proxy" fast-gateway minimal-proxy
say ""
say "$P99_ADDED_NOTE"

{
  echo ""
  echo "=== raw wrk output ==="
  for name in "${RAW[@]}"; do
    f="$RUN/$name"
    [[ -f $f ]] || f="$RUN/$name.wrk"
    echo ""
    echo "--- $name"
    cat "$f"
  done
} >>"$RESULTS"

failed=()
for name in "${ORDER[@]}"; do
  [[ ${STATE[$name]} == FAILED ]] && failed+=("$name: ${NOTE[$name]}")
done
say ""
if [[ ${#failed[@]} -gt 0 ]]; then
  say "################################################################################"
  say "#  BENCHMARK FAILED — these runs failed (their numbers, if any, are not valid):"
  for f in "${failed[@]}"; do say "#    $f"; done
  say "################################################################################"
  say "results: ${RESULTS#"$ROOT/"}"
  exit 1
fi
say "All runs answered 2xx only. Results: ${RESULTS#"$ROOT/"}"
