#!/usr/bin/env bash
# Times `agentc check` over a few hundred agent files and prints the time per file.
# The files are copies of the valid fixtures (each renamed so names stay unique), so every check
# runs the whole pipeline: YAML loading, schema validation, semantic checks and lowering.
# Usage: bench/check.sh [number of files, default 300]. The target is 2 ms per file or less.
# Env: AGENTC_BIN=path  time this agentc binary instead of building the release one.
set -euo pipefail

count="${1:-300}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# AGENTC_BIN: time this agentc instead of building the release one.
agentc="${AGENTC_BIN:-}"
if [ -z "$agentc" ]; then
    . "$root/scripts/env.sh"
    cargo build --quiet --release -p agentc --manifest-path "$root/Cargo.toml"
    agentc="$CARGO_TARGET_DIR/release/agentc"
fi

# The work directory is a project: its agents/ and, for the fixture's Rust tool, its tools/.
# agents/orders.yaml is left out: its `lookup_order` has other parameters than the fixture's,
# and one Rust function serves one argument type.
fixtures=("$root"/compiler/tests/fixtures/good/*.yaml "$root"/agents/weather.yaml)
mkdir -p "$work/agents"
cp -r "$root/compiler/tests/fixtures/good/tools" "$work/tools"
for ((i = 0; i < count; i++)); do
    src="${fixtures[i % ${#fixtures[@]}]}"
    sed -E "s/^name: (.*)$/name: bench-$i/" "$src" > "$work/agents/agent-$i.yaml"
done

# One run that must check clean (and warms the caches), then the measured one.
(cd "$work" && "$agentc" check agents) >/dev/null 2>"$work/check.log" || {
    echo "error: the benchmark's agent files do not check clean:" >&2
    head -40 "$work/check.log" >&2
    exit 1
}
start=$(date +%s%N)
(cd "$work" && "$agentc" check agents) >/dev/null 2>&1
end=$(date +%s%N)

total_us=$(((end - start) / 1000))
awk -v us="$total_us" -v n="$count" 'BEGIN {
    printf "checked %d agent files in %.1f ms: %.3f ms per file (target: 2 ms)\n", n, us / 1000, us / 1000 / n
}'
