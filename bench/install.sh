#!/usr/bin/env bash
# Figures for "Use agentc in your own project" (README): the installed agentc binary's size, and
# the wall time of each README command in a fresh directory outside the checkout:
#   cargo install --locked --path compiler, agentc setup, agentc init, agentc build (first and
#   unchanged), agentc check, and `agentc dev` until it serves.
#
# By default the caches are used as they are (a machine that ran agentc before: the target
# directory of scripts/env.sh, the toolchain in ~/.cache/agentc). With --fresh, cargo builds into
# an empty target directory and `agentc setup` installs into an empty AGENTC_CACHE: the times of a
# fresh machine (tens of minutes on two cores; the model is downloaded again).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/env.sh"

work="$(mktemp -d /tmp/agentc-bench-install.XXXXXX)"
trap 'kill "${dev_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
if [ "${1:-}" = "--fresh" ]; then
  export CARGO_TARGET_DIR="$work/target"
  export AGENTC_CACHE="$work/cache"
fi

timed() {
  local label=$1
  shift
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; echo "error: $label failed" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%-44s %8.1f s\n' "$label" "$(echo "$end - $start" | bc)"
}

timed "cargo install --locked --path compiler" \
  cargo install --locked --force --path "$root/compiler" --root "$work/root"
agentc="$work/root/bin/agentc"
printf '%-44s %8.1f MB (%s bytes)\n' "agentc binary" \
  "$(echo "$(stat -c %s "$agentc") / 1000000" | bc -l)" "$(stat -c %s "$agentc")"
"$agentc" --version
timed "agentc setup" "$agentc" setup
cd "$work"
timed "agentc init demo" "$agentc" init demo
cd demo
timed "agentc check" "$agentc" check
timed "agentc build (new project)" "$agentc" build
timed "agentc build (nothing changed)" "$agentc" build
cd "$work"
rm -rf demo2
start=$(date +%s.%N)
"$agentc" init demo2 >/dev/null 2>&1 && (cd demo2 && "$agentc" build >/dev/null 2>&1)
end=$(date +%s.%N)
printf '%-44s %8.1f s\n' "agentc init && agentc build (2nd project)" "$(echo "$end - $start" | bc)"
cd demo
port=$((20000 + RANDOM % 20000))
start=$(date +%s.%N)
"$agentc" dev --no-build --listen "127.0.0.1:$port" >"$work/dev.log" 2>&1 &
dev_pid=$!
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
  kill -0 "$dev_pid" 2>/dev/null || { cat "$work/dev.log" >&2; exit 1; }
  sleep 0.1
done
end=$(date +%s.%N)
printf '%-44s %8.1f s\n' "agentc dev (until it serves, model loaded)" "$(echo "$end - $start" | bc)"
