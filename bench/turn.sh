#!/usr/bin/env bash
# Per-turn cost of a compiled agent on local workerd with a model that answers at once:
# workerd CPU per turn, first byte and whole-turn latency (p50/p95, 50 sessions round robin),
# the first request after a cold start, and the Worker's wasm size. Prints a table.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/setup" >/dev/null
. "$root/scripts/env.sh"
cargo run --quiet --release -p agentc-tests --example turn_bench -- "${1:-1000}"
