#!/usr/bin/env bash
# Bounded loopback load test of the rate limiter on local workerd: rounds of BURST concurrent
# requests on each of two API keys against an agent limited to 60 per hour per key. Prints how
# many passed (must be exactly 60 per key), latencies, throughput and whether every admitted
# turn is in history. Usage: bench/ratelimit.sh [BURST=200] [ROUNDS=3]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/setup" >/dev/null
. "$root/scripts/env.sh"
# The Worker's per-turn log lines and localai's request log are noise here.
cargo run --quiet --release -p agentc-tests --example ratelimit_bench -- "${1:-200}" "${2:-3}" \
  2> >(grep -v '^localai: binding request' >&2) | grep -v '^{"event":"agentc.turn"'
