#!/usr/bin/env bash
# Credits benchmark — not a test. Prints figures; compare them with the targets in the README.
#   (a) in process: reserve+complete pairs per second beside two plain BEGIN IMMEDIATE writes on the same file;
#   (b) over loopback with wrk: metered POST /api/v1/generations (Null backend) beside GET /api/v1/me,
#       both authenticated with an API key, 64 connections each, one after the other in one run.
# Usage: scripts/bench-credits.sh [seconds per measurement, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-15}"
connections="${BENCH_CONNECTIONS:-64}"
# Both calls are warmed up this long first, so neither is measured while the JIT is still compiling the hot path.
warmup="${BENCH_WARMUP:-10}"

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then (apt-get install -y wrk || (apt-get update && apt-get install -y wrk)) >/dev/null; else echo "wrk is required (apt-get install wrk)" >&2; exit 1; fi
fi

dotnet build -c Release -v quiet -nologo GenSaaS.Web >/dev/null
dotnet build -c Release -v quiet -nologo scripts/bench/GenSaaS.Bench >/dev/null

echo "== (a) ledger in process, ${duration}s each, concurrency ${connections}"
ledger_out=$(dotnet scripts/bench/GenSaaS.Bench/bin/Release/net10.0/GenSaaS.Bench.dll ledger "$duration" "$connections")
echo "$ledger_out"

echo "== (b) HTTP on loopback, ${duration}s each, ${connections} connections"
data=$(mktemp -d)
app=GenSaaS.Web/bin/Release/net10.0/GenSaaS.Web.dll
export App__DataDir="$data" ASPNETCORE_ENVIRONMENT=Production Generation__Backend=Null Credits__TrialCredits=0 \
  Billing__Mode=Disabled Serilog__MinimumLevel__Default=Warning App__PublicBaseUrl=https://bench.example.com \
  Billing__Plans__bundle_10__RatePerMinute=10000000 Billing__Plans__bundle_25__RatePerMinute=10000000 Credits__TrialRatePerMinute=10000000
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

dotnet "$app" users add --email bench@example.com --password "bench-$(date +%s)-Pw1" --confirmed >/dev/null
dotnet "$app" credits grant --email bench@example.com --amount 1000000 --reason benchmark >/dev/null
GENSAAS_API_KEY=$(dotnet "$app" apikeys create --email bench@example.com --name bench | grep -oE 'gsk_[A-Za-z0-9_-]+' | head -n1)
export GENSAAS_API_KEY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dotnet "$app" --urls "http://127.0.0.1:$port" --contentRoot "$PWD/$(dirname "$app")" >"$data/app.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "the app did not start:" >&2; tail -n 20 "$data/app.out" >&2; exit 1; }

base="http://127.0.0.1:$port"
wrk -t2 -c"$connections" -d"${warmup}s" -s scripts/bench/get-me.lua "$base/api/v1/me" >/dev/null
wrk -t2 -c"$connections" -d"${warmup}s" -s scripts/bench/post-generation.lua "$base/api/v1/generations" >/dev/null

run() { wrk -t2 -c"$connections" -d"${duration}s" --latency -s "scripts/bench/$1" "$base$2"; }
summarise() { # name, wrk output -> "name rps p50 p99 non2xx"
  awk -v name="$1" '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$NF}
    END {printf "%s requests/s=%s p50=%s p99=%s non2xx=%s\n", name, rps, p50, p99, (bad==""?0:bad)}' <<<"$2"
}
read_out=$(run get-me.lua /api/v1/me)
metered_out=$(run post-generation.lua /api/v1/generations)
summarise "read-only GET /api/v1/me:" "$read_out"
summarise "metered POST /api/v1/generations:" "$metered_out"

read_rps=$(awk '/Requests\/sec/ {print $2}' <<<"$read_out")
metered_rps=$(awk '/Requests\/sec/ {print $2}' <<<"$metered_out")
ledger_ratio=$(awk -F= '/^ledger_over_raw=/ {print $2}' <<<"$ledger_out")
echo "== ratios"
echo "ledger/raw writes (same writes as plain transactions) = ${ledger_ratio} (target >= 0.60)"
awk -v m="$metered_rps" -v r="$read_rps" 'BEGIN {printf "metered/read-only = %.2f (target >= 0.50)\n", m / r}'
echo "p99 target for the metered call: < 20 ms"
dotnet "$app" credits show --email bench@example.com --lines 1
