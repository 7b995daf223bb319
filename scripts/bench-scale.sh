#!/usr/bin/env bash
# History scale benchmark — not a test. Prints figures; compare them with the target in the README (Scale).
# Seeds one customer with 10,000 generations and one with 1,000,000 (each with the usage row that paid for it and its
# ledger line, and one bundle payment per 100 images), straight into SQLite in the app's schema (its triggers keep the
# dashboard's per-day tables as they go), then times every customer page and the API's list pages (first page, and a deep page
# by cursor) for both over loopback, and prints the large customer's time over the small one's (target: at most 1.5x).
# A second section (admin) adds 100,000 accounts (a mix of plans and statuses, each with its sign-up row as the user
# table's trigger writes it) and times the admin's customer list (first page, a deep page, a search, each filter), the large
# customer's page and timeline (its million ledger lines included), first and deep page; target: under 100 ms each.
# Usage: scripts/bench-scale.sh [requests per URL and customer, default 200] [large customer's generations, default 1000000]
# BENCH_SECTIONS: "customer admin" (default), or one of them. BENCH_ACCOUNTS: the admin section's accounts (default 100000).
# BENCH_DATA: a folder that keeps the seeded database; a later run with the same folder reuses it instead of seeding again.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-200}"
large_count="${2:-1000000}"
small_count="${BENCH_SMALL:-10000}"
warmup="${BENCH_WARMUP:-10}"
# BENCH_ONLY: a grep pattern; only the pages whose label matches are timed (e.g. BENCH_ONLY=api).
only="${BENCH_ONLY:-.}"
sections="${BENCH_SECTIONS:-customer admin}"
accounts="${BENCH_ACCOUNTS:-100000}"

for tool in sqlite3 curl python3; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then (apt-get install -y "$tool" || (apt-get update && apt-get install -y "$tool")) >/dev/null
    else echo "$tool is required (apt-get install $tool)" >&2; exit 1; fi
  fi
done

dotnet build -c Release -v quiet -nologo GenSaaS.Web >/dev/null

keep="${BENCH_DATA:-}"
if [ -n "$keep" ]; then mkdir -p "$keep"; data=$(cd "$keep" && pwd); else data=$(mktemp -d); fi
app=GenSaaS.Web/bin/Release/net10.0/GenSaaS.Web.dll
db="$data/gensaas.db"
export App__DataDir="$data" ASPNETCORE_ENVIRONMENT=Production Generation__Backend=Null Billing__Mode=Disabled \
  Serilog__MinimumLevel__Default=Warning App__PublicBaseUrl=https://bench.example.com App__SecureCookies=false
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [ -n "$keep" ] || rm -rf "$data"; }
trap cleanup EXIT

# The admin section: accounts signed up one every 5 minutes back from a day ago (a year for 100,000), in a mix of plans
# (5 % subscribed, 20 % prepaid credits, 2 % paying per use, 50 % on trial credits, the rest nothing) and statuses (10 %
# unconfirmed, 0.2 % locked). Emails start with one of 10 names and a digit (anna3.…), so such a prefix matches 1 % of them.
# The users are inserted as Identity stores them; the trigger on the user table writes each sign-up row, whose time is
# then set to the account's. The large customer also gets a Stripe customer and one webhook event per payment.
seed_accounts() { # n
  local n=$1 started=$SECONDS
  sqlite3 "$db" <<SQL
PRAGMA synchronous = OFF;
PRAGMA cache_size = -200000;
BEGIN;
CREATE TEMP TABLE seed_accounts (i INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, email TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT INTO seed_accounts
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n),
     names(k, name) AS (VALUES (0, 'anna'), (1, 'ben'), (2, 'carla'), (3, 'david'), (4, 'eva'), (5, 'felix'), (6, 'greta'), (7, 'hugo'), (8, 'ida'), (9, 'jonas'))
SELECT i, lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
       (SELECT name FROM names WHERE k = i % 10) || (i / 10 % 10) || '.' || printf('%06d', i) || '@example.com',
       strftime('%Y-%m-%d %H:%M:%S', 'now', '-1 day', '-' || (($n - i) * 5) || ' minutes') || '.0000000'
FROM n;
INSERT INTO AspNetUsers (Id, UserName, NormalizedUserName, Email, NormalizedEmail, EmailConfirmed, PasswordHash, SecurityStamp, ConcurrencyStamp,
                         PhoneNumber, PhoneNumberConfirmed, TwoFactorEnabled, LockoutEnd, LockoutEnabled, AccessFailedCount)
SELECT id, email, upper(email), email, upper(email), i % 10 <> 3, NULL, upper(hex(randomblob(16))), lower(hex(randomblob(16))),
       NULL, 0, 0, CASE WHEN i % 500 = 7 THEN '2099-01-01 00:00:00+00:00' END, 1, 0
FROM seed_accounts;
UPDATE account_signups SET created_at = (SELECT s.created_at FROM seed_accounts AS s WHERE s.id = account_signups.user_id)
WHERE user_id IN (SELECT id FROM seed_accounts);
INSERT INTO credit_balances (user_id, trial_balance, prepaid_balance, updated_at)
SELECT id, CASE WHEN i % 100 BETWEEN 27 AND 76 THEN 1 + i % 25 ELSE 0 END, CASE WHEN i % 100 BETWEEN 5 AND 24 THEN 1 + i % 400 ELSE 0 END, created_at
FROM seed_accounts;
INSERT INTO billing_customers (user_id, stripe_customer_id, default_payment_method, card_brand, card_last4, updated_at, pay_per_use_card)
SELECT id, 'cus_' || upper(hex(randomblob(7))), CASE WHEN i % 100 < 5 OR i % 100 IN (25, 26) THEN 'pm_' || lower(hex(randomblob(12))) END,
       CASE WHEN i % 100 < 5 OR i % 100 IN (25, 26) THEN 'visa' END, CASE WHEN i % 100 < 5 OR i % 100 IN (25, 26) THEN '4242' END,
       created_at, i % 100 IN (25, 26)
FROM seed_accounts WHERE i % 100 < 27;
INSERT INTO subscriptions (stripe_subscription_id, user_id, plan_key, status, current_period_start, current_period_end, updated_at)
SELECT 'sub_' || lower(hex(randomblob(12))), id, 'monthly', 'active', strftime('%Y-%m-%d %H:%M:%S', 'now', '-10 days'),
       strftime('%Y-%m-%d %H:%M:%S', 'now', '+20 days'), created_at
FROM seed_accounts WHERE i % 100 < 5;
INSERT INTO billing_customers (user_id, stripe_customer_id, updated_at) VALUES ('${user[large]}', 'cus_seedlarge', strftime('%Y-%m-%d %H:%M:%S', 'now'));
INSERT INTO stripe_events (id, type, object_id, created, payload, status, attempts, received_at, applied_at)
SELECT 'evt_seed_' || id, 'checkout.session.completed', stripe_id, CAST(strftime('%s', created_at) AS INTEGER), '{}', 'applied', 1, created_at, created_at
FROM payments WHERE user_id IN ('${user[small]}', '${user[large]}');
COMMIT;
ANALYZE;
SQL
  echo "seeded $n accounts in $((SECONDS - started)) s"
}

declare -A user key cursor line payment
state="$data/bench.state"
if [ -f "$state" ]; then
  # shellcheck disable=SC1090
  . "$state"
  echo "reusing the database seeded in $data ($(du -h "$db" | cut -f1))"
else
password="bench-$(date +%s)-Pw1"
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

declare -p user key password >"$state"
fi
if grep -qw admin <<<"$sections" && [ -z "${key[admin]:-}" ]; then
  seed_accounts "$accounts"
  dotnet "$app" users add --email admin@example.com --password "$password" --admin --confirmed >/dev/null
  key[admin]=$(dotnet "$app" apikeys create --email admin@example.com --name bench --scopes admin | grep -oE 'gsk_[A-Za-z0-9_-]+' | head -n1)
  user[admin]=$(sqlite3 "$db" "SELECT Id FROM AspNetUsers WHERE NormalizedEmail = 'ADMIN@EXAMPLE.COM';")
  declare -p user key password >"$state"
fi
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
for _ in $(seq 1 900); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
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
  curl -s "${args[@]}" -K "$config" -w '%{http_code} %{time_total}\n' >"$data/answers.txt"
  awk '$1 != 200 {bad++} END {exit bad > 0}' "$data/answers.txt" || { echo "$path answered other than 200 for $who: $(sort "$data/answers.txt" | cut -d' ' -f1 | uniq -c | tr '\n' ' ')" >&2; exit 1; }
  tail -n "$n" "$data/answers.txt" | awk '{printf "%.3f\n", $2 * 1000}' >>"$out"
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
if grep -qw customer <<<"$sections"; then
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
measure "GET /api/v1/ledger?starting_after= (deep)" key "/api/v1/ledger?starting_after={line}"
measure "GET /api/v1/payments?starting_after= (deep)" key "/api/v1/payments?starting_after={payment}"
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
fi

# The admin section: one series per page (the admin's), median and p95 over the same rounds; target under 100 ms each.
if grep -qw admin <<<"$sections"; then
  sign_in admin
  # A deep page of the list: the one after the 60th-oldest account. The timeline's deep page starts every source near the
  # large customer's oldest rows (the cursor's format: source=position lines, base64url; the app never takes OFFSET).
  oldest=$(sqlite3 "$db" "SELECT user_id FROM account_signups ORDER BY created_at, user_id LIMIT 1 OFFSET 60;")
  at_key() { sqlite3 "$db" "SELECT $2 || '|' || id FROM $1 WHERE $3 = '${user[large]}' ORDER BY $2, id LIMIT 1 OFFSET 25;"; }
  positions="admin=done
event=$(sqlite3 "$db" "SELECT received_at || '|' || id FROM stripe_events WHERE object_id IN (SELECT stripe_id FROM payments WHERE user_id = '${user[large]}') ORDER BY received_at, id LIMIT 1 OFFSET 25;")
generation=$(at_key generations created_at user_id)
ledger=$(sqlite3 "$db" "SELECT id FROM credit_ledger WHERE user_id = '${user[large]}' ORDER BY id LIMIT 1 OFFSET 25;")
payment=$(at_key payments created_at user_id)
signup=done"
  timeline=tl_$(printf '%s' "$positions" | base64 -w0 | tr '+/' '-_' | tr -d '=')
  large_id=${user[large]}
  printf '\n%-62s %17s %6s\n' "admin, $accounts accounts: median / p95 ms ($((rounds * 10)) requests each)" "" "<100ms"
  over=0
  measure_admin() { # label, auth, path
    local label=$1 auth=$2 path=$3 m p
    grep -qE -- "$only" <<<"$label" || return 0
    rm -f "$data/admin.times"
    for round in $(seq 1 $rounds); do
      time_url admin "$path" "$auth" 10 "$data/admin.times" $([ "$round" = 1 ] && echo "$warmup" || echo 1)
    done
    read -r m p <<<"$(sort -n "$data/admin.times" | awk '{t[NR]=$1} END {printf "%.2f %.2f", t[int(NR*0.5+0.5)], t[int(NR*0.95+0.5)]}')"
    awk -v p="$p" 'BEGIN {exit !(p >= 100)}' && over=$((over + 1))
    printf '%-62s %8s / %-8s %6s\n' "$label" "$m" "$p" "$(awk -v p="$p" 'BEGIN {print (p < 100) ? "yes" : "NO"}')"
  }
  measure_admin "GET /admin/customers (first page)" cookie "/admin/customers"
  measure_admin "GET /admin/customers?starting_after= (deep)" cookie "/admin/customers?starting_after=$oldest"
  measure_admin "GET /admin/customers?q=anna3 (email prefix, 1 % match)" cookie "/admin/customers?q=anna3"
  measure_admin "GET /admin/customers?q=david2.000123 (one match)" cookie "/admin/customers?q=david2.000123"
  measure_admin "GET /admin/customers?plan=subscription (5 %)" cookie "/admin/customers?plan=subscription"
  measure_admin "GET /admin/customers?plan=pay_per_use (2 %)" cookie "/admin/customers?plan=pay_per_use"
  measure_admin "GET /admin/customers?plan=pay_per_use (deep)" cookie "/admin/customers?plan=pay_per_use&starting_after=$oldest"
  measure_admin "GET /admin/customers?status=unconfirmed (10 %)" cookie "/admin/customers?status=unconfirmed"
  measure_admin "GET /admin/customers?status=locked (0.2 %)" cookie "/admin/customers?status=locked"
  measure_admin "GET /admin/customers?plan=subscription&status=locked (none)" cookie "/admin/customers?plan=subscription&status=locked"
  measure_admin "GET /admin/customers?q=anna3&plan=prepaid" cookie "/admin/customers?q=anna3&plan=prepaid"
  measure_admin "GET /admin/customers/{id} (1M ledger lines)" cookie "/admin/customers/$large_id"
  measure_admin "GET /admin/customers/{id}?timeline_after= (deep)" cookie "/admin/customers/$large_id?timeline_after=$timeline"
  measure_admin "GET /api/v1/admin/customers" key "/api/v1/admin/customers"
  measure_admin "GET /api/v1/admin/customers?status=locked" key "/api/v1/admin/customers?status=locked"
  measure_admin "GET /api/v1/admin/customers/{id}" key "/api/v1/admin/customers/$large_id"
  measure_admin "GET /api/v1/admin/customers/{id}/timeline" key "/api/v1/admin/customers/$large_id/timeline"
  measure_admin "GET /api/v1/admin/customers/{id}/timeline?starting_after= (deep)" key "/api/v1/admin/customers/$large_id/timeline?starting_after=$timeline"
  echo "admin pages at or over 100 ms (p95): $over"
fi
