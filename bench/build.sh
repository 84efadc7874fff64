#!/usr/bin/env bash
# Times `agentc build` and measures the Worker it makes, for two projects: the weather agent
# alone, and every example agent of agents/ together (the largest). For each it prints
#   cold:     a fresh project (empty generated crate, empty target directory: every dependency
#             compiles, in release, for wasm32)
#   no-op:    the same build again, nothing changed (worker-build is skipped)
#   changed:  after one agent's description changed (cargo rebuilds the generated crate only)
# and the size of index_bg.wasm raw and gzipped, and the lines of the generated src/lib.rs.
# Usage: bench/build.sh [work directory, default: a fresh temporary one]. Needs scripts/setup.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
[ $# -ge 1 ] || trap 'rm -rf "$work"' EXIT

. "$root/scripts/env.sh"
cargo build --quiet --release -p agentc --manifest-path "$root/Cargo.toml"
agentc="$CARGO_TARGET_DIR/release/agentc"

seconds() { awk -v ns="$1" 'BEGIN { printf "%.1f s", ns / 1e9 }'; }

# timed NAME ROOT: runs `agentc build` in ROOT and prints how long it took.
timed() {
    local start end
    start=$(date +%s%N)
    (cd "$2" && "$agentc" build >"$2/build-$1.log" 2>&1) || {
        cat "$2/build-$1.log" >&2
        exit 1
    }
    end=$(date +%s%N)
    printf '  %-8s %s\n' "$1:" "$(seconds $((end - start)))"
}

# bench NAME AGENT_FILES...: a fresh project with those agents and the repository's tools/.
bench() {
    local name="$1" dir="$work/$1"
    shift
    rm -rf "$dir"
    mkdir -p "$dir/agents"
    cp "$@" "$dir/agents/"
    cp -r "$root/tools" "$dir/tools"
    ln -s "$root/node_modules" "$dir/node_modules"
    echo "$name ($(cd "$dir/agents" && ls | tr '\n' ' '))"
    timed cold "$dir"
    timed no-op "$dir"
    grep -q "worker-build skipped" "$dir/build-no-op.log" || echo "  (the no-op build did not skip worker-build)"
    local first
    first="$(ls "$dir"/agents/*.yaml | head -n 1)"
    sed -i -E 's/^description: (.*)$/description: \1 Changed for the benchmark./' "$first"
    timed changed "$dir"
    local wasm="$dir/.agentc/worker/build/index_bg.wasm"
    printf '  wasm:    %s bytes raw, %s bytes gzip\n' "$(wc -c <"$wasm")" "$(gzip -9 -c "$wasm" | wc -c)"
    printf '  lib.rs:  %s lines generated\n' "$(wc -l <"$dir/.agentc/worker/src/lib.rs")"
}

bench weather "$root/agents/weather.yaml"
bench examples "$root"/agents/*.yaml
