#!/usr/bin/env bash
# Runs every test of the repository on a fresh machine: installs what is missing, builds once, runs the
# unit/integration tests and the browser end-to-end tests, and ends with one line "N passed, N failed".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
configuration=${CONFIGURATION:-Debug}
results="$root/TestResults"
projects=(GenSaaS.Web.Tests GenSaaS.E2E)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export E2E_SCREENSHOTS_DIR="$results/screenshots"

step() { printf '\n==> %s\n' "$*"; }

# The E2E tests drive Debian's Chromium (Playwright cannot download its own browser here) and need a font
# for text in screenshots.
install_browser() {
  local chromium=${CHROMIUM_PATH:-/usr/bin/chromium} missing=()
  [[ -x $chromium ]] || missing+=(chromium)
  dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q 'ok installed' || missing+=(fonts-dejavu-core)
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing: ${missing[*]}; install them (Debian: apt-get install ${missing[*]}) or set CHROMIUM_PATH" >&2
    return 1
  fi
  step "Installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Reads one attribute of the <Counters> element of a TRX file (0 when absent).
counter() {
  local value
  value=$(grep -o '<Counters [^>]*>' "$1" | grep -o " $2=\"[0-9]*\"" | grep -o '[0-9]\+' || true)
  echo "${value:-0}"
}

install_browser
rm -rf "$results"
mkdir -p "$results"

step "Building GenSaaS.sln ($configuration)"
if ! dotnet build GenSaaS.sln -c "$configuration" -nologo -v minimal; then
  echo "build failed: no test ran"
  echo "0 passed, 0 failed"
  exit 1
fi

passed=0 failed=0 skipped=0 broken=() failures=()
for project in "${projects[@]}"; do
  step "Testing $project"
  trx="$results/$project.trx"
  set +e
  # The hang timeout keeps a stuck browser or server from eating CI's 90 minutes.
  dotnet test "$project" -c "$configuration" --no-build --nologo \
    --results-directory "$results" --logger "trx;LogFileName=$project.trx" --logger "console;verbosity=minimal" \
    --blame-hang-timeout 15m --blame-hang-dump-type none
  code=$?
  set -e
  if [[ ! -f $trx ]]; then
    broken+=("$project: no results (exit code $code)")
    continue
  fi
  p=$(counter "$trx" passed)
  f=$(($(counter "$trx" failed) + $(counter "$trx" error) + $(counter "$trx" timeout) + $(counter "$trx" aborted)))
  # xunit's skipped tests are results with outcome NotExecuted; the Counters element leaves them out.
  s=$({ grep -o '<UnitTestResult [^>]*outcome="NotExecuted"' "$trx" || true; } | wc -l)
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  ((code == 0 || f > 0)) || broken+=("$project: dotnet test exited with $code although no test failed")
  ((p + f + s > 0)) || broken+=("$project: ran no test")
  while IFS= read -r name; do
    failures+=("$name")
  done < <({ grep -o '<UnitTestResult [^>]*outcome="Failed"' "$trx" || true; } | sed -n 's/.* testName="\([^"]*\)".*/\1/p' | sed 's/&quot;/"/g; s/&apos;/'"'"'/g; s/&lt;/</g; s/&gt;/>/g; s/&amp;/\&/g')
done

echo
((${#failures[@]} == 0)) || printf 'FAILED %s\n' "${failures[@]}"
((${#broken[@]} == 0)) || printf 'problem: %s\n' "${broken[@]}"
echo "screenshots: ${E2E_SCREENSHOTS_DIR#"$root"/}"
summary="$passed passed, $failed failed"
((skipped == 0)) || summary+=", $skipped skipped"
echo "$summary"
((failed == 0 && passed > 0 && ${#broken[@]} == 0))
