#!/usr/bin/env bash
# Runs the MongoDB driver specification tests against two mongos-lite routers over in-memory
# shards (as a cluster with two mongos), then checks that every test named in
# integration/spec-expected/AREA.txt passed. Usage: .ci/spec-tests.sh [AREA...]
#   --update  rewrite the expected lists from this run's passes (to record progress).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared=${SHARED:-$repo/../shared}
update=false
if [ "${1:-}" = "--update" ]; then update=true; shift; fi
areas=("$@")
[ ${#areas[@]} -gt 0 ] || areas=(sessions transactions transactions-convenient-api retryable-writes command-logging-and-monitoring crud retryable-reads)

tmp=$(mktemp -d)
go build -o "$tmp/mongos-lite" ./cmd/mongos-lite
"$tmp/mongos-lite" demo --port 0 --routers 2 --metrics-addr= --log-level warn >"$tmp/demo.out" 2>"$tmp/demo.err" &
demo=$!
cleanup() { kill -INT "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  [ "$(grep -c '^router:' "$tmp/demo.out" || true)" -ge 2 ] && break
  kill -0 "$demo" 2>/dev/null || { cat "$tmp/demo.err"; echo "demo exited"; exit 1; }
  sleep 0.2
done
hosts=$(sed -n 's|^router: mongodb://\(.*\)/$|\1|p' "$tmp/demo.out" | paste -sd, -)
[ -n "$hosts" ] || { echo "routers did not start"; cat "$tmp/demo.err"; exit 1; }
uri="mongodb://$hosts/"
echo "routers: $uri"

status=0
for area in "${areas[@]}"; do
  out=$(MONGODB_URI="$uri" SPEC_TIMEOUT=600 bash "$shared/tools/spec-tests.sh" "$area")
  log=$(printf '%s\n' "$out" | sed -n 's/^log: \(.*\) (runner exit.*/\1/p')
  summary=$(printf '%s\n' "$out" | grep '^spec-tests ')
  echo "$summary"
  [ -f "$log" ] || { printf '%s\n' "$out"; status=1; continue; }
  grep -E '^\s+--- PASS: .*\.json/' "$log" | sed -E 's/^ *--- PASS: TestUnifiedSpec\///; s/ \(.*//' | sort -u >"$tmp/passed"
  expected="integration/spec-expected/$area.txt"
  if $update; then
    cp "$tmp/passed" "$expected"
    echo "  recorded $(wc -l <"$expected") passing tests in $expected"
    continue
  fi
  missing=$(comm -23 <(sort -u "$expected") "$tmp/passed")
  if [ -n "$missing" ]; then
    echo "  expected to pass but did not:"
    printf '%s\n' "$missing" | sed 's/^/    /'
    status=1
  else
    echo "  all $(wc -l <"$expected") expected tests passed"
  fi
done
exit $status
