#!/usr/bin/env bash
# Runs the MongoDB driver specification tests against two mongos-lite routers over in-memory
# shards (as a cluster with two mongos), then checks that every test named in
# integration/spec-expected/AREA.txt passed. Usage: .ci/spec-tests.sh [--update] [--auth] [AREA...]
#   --update  rewrite the expected lists from this run's passes (to record progress).
#   --auth    run the routers with --auth and the shards' key file, the suite as a root user: the
#             routers sign cluster times and check each other's (docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared=${SHARED:-$repo/../shared}
update=false
authn=false
while [ $# -gt 0 ]; do
  case "$1" in
    --update) update=true; shift ;;
    --auth) authn=true; shift ;;
    *) break ;;
  esac
done
areas=("$@")
[ ${#areas[@]} -gt 0 ] || areas=(sessions transactions transactions-convenient-api retryable-writes command-logging-and-monitoring change-streams crud retryable-reads)

tmp=$(mktemp -d)
go build -o "$tmp/mongos-lite" ./cmd/mongos-lite
security=()
creds=
if $authn; then
  head -c 48 /dev/urandom | base64 | tr -d '\n' >"$tmp/keyfile"
  chmod 600 "$tmp/keyfile"
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')
  printf '%s' "$password" | "$tmp/mongos-lite" user add --users-file "$tmp/users.yaml" --user spec --db admin --role root@admin --password-stdin
  security=(--auth --users-file "$tmp/users.yaml" --keyfile "$tmp/keyfile")
  creds="spec:$password@"
fi
"$tmp/mongos-lite" demo --port 0 --routers 2 --metrics-addr= --log-level warn "${security[@]}" >"$tmp/demo.out" 2>"$tmp/demo.err" &
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
uri="mongodb://$creds$hosts/"
$authn && uri="${uri}?authSource=admin"
echo "routers: mongodb://$hosts/ $($authn && echo '(--auth, a key file, the suite as a root user)')"

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
  [ -s "$expected" ] || { echo "  no expected list $expected (record one with --update)"; status=1; continue; }
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
