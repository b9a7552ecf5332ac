#!/usr/bin/env bash
# Real-browser test of the HTML report: writes the report for a capture,
# renders it in headless Chromium (Debian's package), and checks that the
# page's scripts ran without an error and drew the timeline, then leaves a
# screenshot to look at. Through chromedriver (scripts/html_webdriver_check.py)
# it then hovers and clicks a timeline bar, on this page and on a page of 2000
# connections scrolled to its last row.
#
#   scripts/html_browser_test.sh [CAPTURE]     (default testdata/synth/scenarios.pcap)
#
# Installs Debian's chromium and chromium-driver if chromium is missing (needs
# apt-get and root); the WebDriver part needs python3. Leaves in target/: html-report.html (the page),
# html-report.dom.html (the DOM after the scripts ran), html-report.png (the
# screenshot) and html-report.chromium.log (the browser's log, console included).
# Exit status 0 when every check passed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

capture=${1:-testdata/synth/scenarios.pcap}
out=target/html-report
mkdir -p target

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "chromium or chromedriver not found: installing Debian's chromium and chromium-driver"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
chromium --version

cargo run --release --locked --quiet --example html_report -- "$out.html" "$capture"

# Flags that work on these machines: no sandbox as root, no GPU, and no
# background networking (the network is closed; the page needs none anyway).
# Each run gets a fresh, empty profile.
profiles=()
cleanup() { rm -rf "${profiles[@]}"; }
trap cleanup EXIT
chromium_run() {
  local profile
  profile=$(mktemp -d)
  profiles+=("$profile")
  timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1280,2600 "$@"
}
url="file://$PWD/$out.html"

# The DOM once the scripts have run, with the console on stderr.
chromium_run --enable-logging=stderr --v=0 --virtual-time-budget=5000 \
  --dump-dom "$url" >"$out.dom.html" 2>"$out.chromium.log"
# The screenshot.
rm -f "$out.png"
chromium_run --screenshot="$PWD/$out.png" "$url" >/dev/null 2>>"$out.chromium.log"

passed=0
failed=0
check() {
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok: $what"
  else
    failed=$((failed + 1))
    echo "FAILED: $what"
  fi
}

html_tag=$(grep -o '<html[^>]*>' "$out.dom.html" | head -n 1 || true)
echo "rendered root element: $html_tag"
timelines=$(grep -o '"rows":\[' "$out.html" | wc -l)

check "the page's script finished (data-rendered=\"yes\")" \
  grep -q 'data-rendered="yes"' <<<"$html_tag"
check "no script error caught by the page's error trap" \
  bash -c '! grep -q "data-script-error=" <<<"$1"' _ "$html_tag"
check "no uncaught error in the browser console" \
  bash -c '! grep -E "CONSOLE.*\"Uncaught" "$1"' _ "$out.chromium.log"
check "every timeline drew rows onto its canvas (data-drawn > 0)" \
  bash -c '[ "$(grep -cE "class=\"timeline\" data-capture=\"[0-9]+\" data-drawn=\"[1-9][0-9]*\"" "$1")" -eq "$2" ]' \
  _ "$out.dom.html" "$timelines"
check "the state-transition graph is in the DOM with its arrows" \
  bash -c 'grep -q "<svg class=\"graph\"" "$1" && grep -q "<path class=\"edge\"" "$1"' _ "$out.dom.html"
check "the screenshot was written and is not trivially empty (> 50 kB)" \
  bash -c '[ -s "$1" ] && [ "$(stat -c %s "$1")" -gt 50000 ]' _ "$out.png"

# A person's use: hover a bar for its tooltip, click it for its ladder; on a
# page of 2000 connections, after scrolling the timeline to its last row.
cargo run --release --locked --quiet --example gen_bench_capture -- target/html-bench.pcap 2000
cargo run --release --locked --quiet --example html_report -- target/html-bench.html target/html-bench.pcap
check "hover and click on the timeline of $capture" \
  timeout 300 python3 scripts/html_webdriver_check.py "$out.html"
check "hover and click on the last of 2000 connections (virtualised rows)" \
  timeout 300 python3 scripts/html_webdriver_check.py target/html-bench.html --last

echo "screenshot: $out.png"
echo "html browser test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
