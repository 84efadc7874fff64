#!/usr/bin/env bash
# What the chat page (issue 14) adds to a Worker: the example agents of agents/ built twice with
# `agentc build`, as they are (no agent says `page: true`, so the runtime's `page` feature is off)
# and with `page: true` added to one of them. Prints each Worker's wasm size, raw and gzipped,
# and the difference. Builds into a temporary directory; the repository is not touched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/setup" >/dev/null
. "$root/scripts/env.sh"
cargo build --quiet -p agentc
agentc="$CARGO_TARGET_DIR/debug/agentc"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

build() { # build <name> <page: yes|no>
  local dir="$work/$1"
  mkdir -p "$dir"
  cp -r "$root/agents" "$root/tools" "$dir/"
  ln -s "$root/node_modules" "$dir/node_modules"
  if [ "$2" = yes ]; then printf '\npage: true\n' >> "$dir/agents/weather.yaml"; fi
  (cd "$dir" && "$agentc" build >/dev/null 2>&1) || { echo "error: agentc build failed in $dir" >&2; exit 1; }
  local wasm="$dir/.agentc/worker/build/index_bg.wasm"
  printf '%s %s\n' "$(stat -c %s "$wasm")" "$(gzip -9 -c "$wasm" | wc -c)"
}
read -r off_raw off_gz < <(build off no)
read -r on_raw on_gz < <(build on yes)
printf '%-28s %12s %12s\n' "Worker (agents/)" "wasm bytes" "gzipped"
printf '%-28s %12d %12d\n' "without the page" "$off_raw" "$off_gz"
printf '%-28s %12d %12d\n' "with the page (page: true)" "$on_raw" "$on_gz"
printf '%-28s %12d %12d\n' "the page adds" "$((on_raw - off_raw))" "$((on_gz - off_gz))"
