#!/usr/bin/env bash
# Webhook throughput: starts the app (Release, Emulator mode, a throwaway data folder) on loopback, sends signed
# Stripe events with duplicates through `GenSaaS.Bench webhooks` (scripts/bench/GenSaaS.Bench), prints the figures, stops the app.
# Usage: scripts/bench-webhooks.sh [purchases, default 20000] [concurrency]  (3 events per purchase, plus 25 % duplicates;
# shorter runs are dominated by start-up and JIT and read low)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
purchases="${1:-20000}"
concurrency="${2:-32}"
port="${BENCH_PORT:-$((20000 + RANDOM % 20000))}"
data="$(mktemp -d "${TMPDIR:-/tmp}/gensaas-bench.XXXXXX")"
out="$root/GenSaaS.Web/bin/bench"

bench="$root/scripts/bench/GenSaaS.Bench/bin/Release/net10.0/GenSaaS.Bench.dll"

dotnet publish "$root/GenSaaS.Web" -c Release -o "$out" --nologo -v quiet >/dev/null
dotnet build "$root/scripts/bench/GenSaaS.Bench" -c Release --nologo -v quiet >/dev/null

export ASPNETCORE_ENVIRONMENT=Development
export App__DataDir="$data"
export Billing__Mode=Emulator
# A fresh signing secret each run; the app and the bench read the same one.
export Billing__WebhookSecret="whsec_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Production-like logging: warnings and errors only (per-request Information lines would dominate the figures).
(cd "$out" && exec env ASPNETCORE_URLS="http://127.0.0.1:$port" \
    "Serilog__MinimumLevel__Override__Serilog.AspNetCore=Warning" "Serilog__MinimumLevel__Override__GenSaaS=Warning" \
    dotnet GenSaaS.Web.dll >"$data/server.log" 2>&1) &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "app did not start; log:"; tail -50 "$data/server.log"; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
echo "CPU: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); app on http://127.0.0.1:$port (pid $server)"
before=$(cpu_ticks)
status=0
dotnet "$bench" webhooks --url "http://127.0.0.1:$port" --app-dir "$out" --purchases "$purchases" --concurrency "$concurrency" ${BENCH_ARGS:-} | tee "$data/bench.out" || status=$?
after=$(cpu_ticks)
deliveries=$(sed -n 's/^Accepted (200): *\([0-9]*\) of.*/\1/p' "$data/bench.out")
hz=$(getconf CLK_TCK)
awk -v t=$((after - before)) -v hz="$hz" -v n="${deliveries:-0}" -v cores="$(nproc)" 'BEGIN {
    cpu = t / hz; if (cpu <= 0 || n == 0) exit;
    printf "Server CPU:         %.2f s for %d deliveries = %.0f us per event -> %.0f events/s if the app had all %d cores\n", cpu, n, cpu * 1e6 / n, n / cpu * cores, cores }'
exit "$status"
