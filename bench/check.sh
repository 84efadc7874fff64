#!/usr/bin/env bash
# Times `agentc check` over a few hundred agent files and prints the time per file.
# The files are copies of the valid fixtures (each renamed so names stay unique), so every check
# runs the whole pipeline: YAML loading, schema validation, semantic checks and lowering.
# Usage: bench/check.sh [number of files, default 300]. The target is 2 ms per file or less.
set -euo pipefail

count="${1:-300}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --quiet --release -p agentc --manifest-path "$root/Cargo.toml"
agentc="$root/target/release/agentc"

fixtures=("$root"/compiler/tests/fixtures/good/*.yaml "$root"/agents/*.yaml)
for ((i = 0; i < count; i++)); do
    src="${fixtures[i % ${#fixtures[@]}]}"
    sed -E "s/^name: (.*)$/name: bench-$i/" "$src" > "$work/agent-$i.yaml"
done

# One warm-up run, then the measured one.
"$agentc" check "$work" 2>/dev/null
start=$(date +%s%N)
"$agentc" check "$work" 2>/dev/null
end=$(date +%s%N)

total_us=$(((end - start) / 1000))
awk -v us="$total_us" -v n="$count" 'BEGIN {
    printf "checked %d agent files in %.1f ms: %.3f ms per file (target: 2 ms)\n", n, us / 1000, us / 1000 / n
}'
