#!/usr/bin/env bash
# History scale benchmark — not a test. Prints figures; compare them with the target in the README (Scale).
# Seeds one customer with 10,000 generations and one with 1,000,000 (each with the usage row that paid for it and its
# ledger line, and one bundle payment per 100 images), straight into SQLite in the app's schema (its triggers keep the
# dashboard's per-day tables as they go), then times every customer page and the API's list pages (first page, and a deep page
# by cursor) for both over loopback, and prints the large customer's time over the small one's (target: at most 1.5x).
# Usage: scripts/bench-scale.sh [requests per URL and customer, default 200] [large customer's generations, default 1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-200}"
large_count="${2:-1000000}"
small_count="${BENCH_SMALL:-10000}"
warmup="${BENCH_WARMUP:-10}"
# BENCH_ONLY: a grep pattern; only the pages whose label matches are timed (e.g. BENCH_ONLY=api).
only="${BENCH_ONLY:-.}"

for tool in sqlite3 curl python3; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then (apt-get install -y "$tool" || (apt-get update && apt-get install -y "$tool")) >/dev/null
    else echo "$tool is required (apt-get install $tool)" >&2; exit 1; fi
  fi
done

dotnet build -c Release -v quiet -nologo GenSaaS.Web >/dev/null

data=$(mktemp -d)
app=GenSaaS.Web/bin/Release/net10.0/GenSaaS.Web.dll
db="$data/gensaas.db"
export App__DataDir="$data" ASPNETCORE_ENVIRONMENT=Production Generation__Backend=Null Billing__Mode=Disabled \
  Serilog__MinimumLevel__Default=Warning App__PublicBaseUrl=https://bench.example.com App__SecureCookies=false
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

password="bench-$(date +%s)-Pw1"
declare -A count=([small]="$small_count" [large]="$large_count") user key cursor line payment
for who in small large; do
  dotnet "$app" users add --email "$who@example.com" --password "$password" --confirmed >/dev/null
  key[$who]=$(dotnet "$app" apikeys create --email "$who@example.com" --name bench | grep -oE 'gsk_[A-Za-z0-9_-]+' | head -n1)
  user[$who]=$(sqlite3 "$db" "SELECT Id FROM AspNetUsers WHERE NormalizedEmail = upper('$who@example.com');")
done

# One statement per table and customer: a recursive counter makes the rows inside SQLite, ids time-ordered like the
# app's (a hex counter, then random hex), one every 10 seconds back from an hour ago, so the newest come first.
seed() { # who, n, id prefix
  local who=$1 n=$2 prefix=$3 started=$SECONDS
  sqlite3 "$db" <<SQL
PRAGMA synchronous = OFF;
PRAGMA cache_size = -200000;
BEGIN;
INSERT INTO generations (id, user_id, prompt, seed, backend, width, height, duration_ms, created_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
SELECT '$prefix' || printf('%011x', i) || lower(hex(randomblob(10))), '${user[$who]}', 'seeded image ' || i, i, 'null', 64, 64, 5,
       strftime('%Y-%m-%d %H:%M:%S', 'now', '-1 hour', '-' || (($n - i) * 10) || ' seconds') || '.0000000'
FROM n;
INSERT INTO usage (id, user_id, idempotency_key, request_hash, state, funding_source, units, period_key, generation_id, created_at, updated_at)
SELECT 'u' || substr(id, 2), user_id, 'seed-' || id, 'seed', 'succeeded', 'prepaid', 1, 'month:' || substr(created_at, 1, 7), id, created_at, created_at
FROM generations WHERE user_id = '${user[$who]}';
INSERT INTO credit_ledger (user_id, bucket, kind, amount, balance_after, reason, reference, actor, created_at)
SELECT user_id, 'prepaid', 'debit', -1, 0, 'Generation', id, 'system', created_at
FROM usage WHERE user_id = '${user[$who]}' ORDER BY created_at;
INSERT INTO payments (user_id, kind, stripe_id, payment_intent_id, plan_key, amount_minor, currency, status, credits, receipt_url, created_at, updated_at)
SELECT user_id, 'bundle', 'cs_seed_' || id, 'pi_seed_' || id, 'bundle_10', 500, 'usd', 'paid', 100,
       'https://pay.stripe.com/receipts/seed/' || id, created_at, created_at
FROM generations WHERE user_id = '${user[$who]}' AND seed % 100 = 0;
COMMIT;
ANALYZE;
SQL
  echo "seeded $who: $n generations and usage rows in $((SECONDS - started)) s"
}
seed small "$small_count" s
seed large "$large_count" l
for who in small large; do
  # The deep page: the one after the tenth-oldest generation (the last page). Found with OFFSET here, never by the app.
  cursor[$who]=$(sqlite3 "$db" "SELECT id FROM generations WHERE user_id = '${user[$who]}' ORDER BY created_at, id LIMIT 1 OFFSET 10;")
  line[$who]=cl_$(sqlite3 "$db" "SELECT id FROM credit_ledger WHERE user_id = '${user[$who]}' ORDER BY id LIMIT 1 OFFSET 10;")
  payment[$who]=pay_$(sqlite3 "$db" "SELECT id FROM payments WHERE user_id = '${user[$who]}' ORDER BY created_at, id LIMIT 1 OFFSET 3;")
done
echo "database: $(du -h "$db" | cut -f1)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dotnet "$app" --urls "http://127.0.0.1:$port" --contentRoot "$PWD/$(dirname "$app")" >"$data/app.out" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 150); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$base/healthz" >/dev/null || { echo "the app did not start:" >&2; tail -n 20 "$data/app.out" >&2; exit 1; }

# Signs in through the login form as a browser does; the cookie jar then carries the session.
sign_in() { # who
  local jar="$data/$1.cookies" login token
  login=$(curl -fs -c "$jar" -b "$jar" "$base/Identity/Account/Login")
  token=$(grep -oE 'name="__RequestVerificationToken" type="hidden" value="[^"]+"' <<<"$login" | head -n1 | sed -E 's/.*value="([^"]+)"/\1/')
  curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "Input.Email=$1@example.com" --data-urlencode "Input.Password=$password" \
    --data-urlencode "__RequestVerificationToken=$token" "$base/Identity/Account/Login"
  curl -fs -o /dev/null -b "$jar" "$base/dashboard" || { echo "could not sign in as $1" >&2; exit 1; }
}
sign_in small
sign_in large

# Times requests of one URL for one customer on one kept-alive connection, after some unmeasured ones;
# appends the times to the last byte, in ms, to a file.
time_url() { # who, path, auth (cookie|key), requests, file, unmeasured requests first
  local who=$1 path=$2 auth=$3 n=$4 out=$5 warm=$6 args=() config="$data/urls.txt" status
  if [ "$auth" = cookie ]; then args=(-b "$data/$who.cookies"); else args=(-H "Authorization: Bearer ${key[$who]}"); fi
  status=$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "$base$path")
  [ "$status" = 200 ] || { echo "$path answered $status for $who" >&2; exit 1; }
  : >"$config"
  for _ in $(seq 1 $((warm + n))); do printf 'url = "%s"\noutput = "/dev/null"\n' "$base$path" >>"$config"; done
  curl -s "${args[@]}" -K "$config" -w '%{time_total}\n' | tail -n "$n" | awk '{printf "%.3f\n", $1 * 1000}' >>"$out"
}
percentiles() { sort -n "$1" | awk '{t[NR]=$1} END {printf "%.2f %.2f", t[int(NR*0.5+0.5)], t[int(NR*0.9+0.5)]}'; }

# The two customers take turns in rounds of 10 requests, so a slow spell of a shared machine falls on both alike.
rounds=$(( (requests + 9) / 10 ))
printf '%-50s %15s %15s %7s\n' "median / p90 ms ($((rounds * 10)) requests each)" "10k customer" "1M customer" "ratio"
worst=0
measure() { # label, auth, path template ({cursor}, {line}, {payment}: the customer's deep generation, ledger line, payment)
  local label=$1 auth=$2 template=$3 who path sm sp lm lp ratio
  grep -qE -- "$only" <<<"$label" || return 0
  rm -f "$data/small.times" "$data/large.times"
  for round in $(seq 1 $rounds); do
    for who in small large; do
      path=${template//\{cursor\}/${cursor[$who]}}
      path=${path//\{line\}/${line[$who]}}
      path=${path//\{payment\}/${payment[$who]}}
      # The first round warms up the page; later ones skip only their new connection's first request.
      time_url "$who" "$path" "$auth" 10 "$data/$who.times" $([ "$round" = 1 ] && echo "$warmup" || echo 1)
    done
  done
  read -r sm sp <<<"$(percentiles "$data/small.times")"
  read -r lm lp <<<"$(percentiles "$data/large.times")"
  ratio=$(awk -v a="$lm" -v b="$sm" 'BEGIN {printf "%.2f", a / b}')
  worst=$(awk -v a="$ratio" -v b="$worst" 'BEGIN {print (a > b) ? a : b}')
  printf '%-50s %6s / %-6s %6s / %-6s %6sx\n' "$label" "$sm" "$sp" "$lm" "$lp" "$ratio"
}
measure "GET /dashboard" cookie "/dashboard"
measure "GET /dashboard/credits (newest)" cookie "/dashboard/credits"
measure "GET /dashboard/credits?starting_after= (deep)" cookie "/dashboard/credits?starting_after={line}"
measure "GET /dashboard/payments (newest)" cookie "/dashboard/payments"
measure "GET /dashboard/payments?starting_after= (deep)" cookie "/dashboard/payments?starting_after={payment}"
measure "GET /generate/{id}/receipt (an old image)" cookie "/generate/{cursor}/receipt"
measure "GET /generate (newest)" cookie "/generate"
measure "GET /generate?starting_after= (deep)" cookie "/generate?starting_after={cursor}"
measure "GET /billing" cookie "/billing"
measure "GET /account/api-keys" cookie "/account/api-keys"
measure "GET /account/sessions" cookie "/account/sessions"
measure "GET /api/v1/me" key "/api/v1/me"
measure "GET /api/v1/generations (first page)" key "/api/v1/generations"
measure "GET /api/v1/generations?limit=100" key "/api/v1/generations?limit=100"
measure "GET /api/v1/generations?starting_after= (deep)" key "/api/v1/generations?starting_after={cursor}&limit=100"
measure "GET /api/v1/generations/{id}" key "/api/v1/generations/{cursor}"
echo "worst ratio: ${worst}x (target: at most 1.5x)"
# The CSV exports read every line, so they grow with the history by design: one streamed download each, for scale.
if grep -qE -- "$only" <<<"csv"; then
  for who in small large; do
    for export in credits payments; do
      read -r seconds bytes <<<"$(curl -s -o /dev/null -b "$data/$who.cookies" -w '%{time_total} %{size_download}' "$base/dashboard/$export.csv")"
      printf '%-50s %8.2f s %10s bytes (%s)\n' "GET /dashboard/$export.csv" "$seconds" "$bytes" "$who"
    done
  done
fi
