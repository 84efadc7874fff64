#!/usr/bin/env bash
# The compiled agents beside the tutorial's hand-written Worker, on one workerd build, with the
# same fake Workers AI (the shared baseline, ../shared/baseline/run.sh; see its README).
#
# Builds two projects with agentc (bench/projects/):
#   tutorial    the tutorial's six-line agent (no tools, no policy), alone in its Worker
#   everything  an agent with every feature (tools of each kind, templated prompt, routing,
#               fallbacks, cache, rate limit, API-key auth, CORS, limits), alone in its Worker,
#               measured on turns that use none of them; under run.sh (whose requests carry no
#               API key) they pass through a one-line JS Worker in the same workerd that adds
#               the key, so run.sh's figures for it include that Worker's CPU;
# and, for the size report only, every agent of agents/ together. Then, per project:
#   run.sh with the project as the `agentc` target, and the ratios to the `seed` of that run;
#   the first request after a cold start (workerd started afresh, COLD_RUNS times);
# and the wasm of every project, raw and gzip (gzip -9).
#
# Usage: bench/baseline.sh [tutorial|everything|size|cold|interleaved|interleaved-everything|decompose|profile|profile-everything]...
# (default: size tutorial everything cold). `profile` prints V8's CPU profile of the tutorial
# Worker inside workerd (bench/profile.mjs): where each turn's time goes, by function.
# `interleaved` serves the seed and the project at once and alternates their requests
# (bench/interleaved.mjs, INTERLEAVED_N turns each at c=1 and again at c=8, default 3000): steadier
# ratios of CPU per turn, first byte and req/s. DISTINCT=1 makes every turn's message differ (see
# interleaved.mjs: with one message repeated, the seed's storage writes stop reaching the disk).
# `decompose` splits the tutorial's ratio in two, interleaved the same way: the seed against
# bench/reference/mirror.js (agentc's turn written by hand in JS: what the architecture costs),
# then that against the compiled tutorial agent (what Rust, wasm and their glue add).
# Knobs: run.sh's (N, WARM, C, DURATION), COLD_RUNS=7, BENCH_WORK (default: a directory in the
# target directory), BASELINE (default ../shared/baseline), BASELINE_WORK (run.sh's work copy),
# AGENTC_BIN (an agentc binary to build the projects with, e.g. one of another commit, for a
# before/after; default: this checkout's, built here), STATE_ROOT (default /tmp).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/env.sh"
baseline="${BASELINE:-$root/../shared/baseline}"
export BASELINE_WORK="${BASELINE_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/agentc-baseline}"
work="${BENCH_WORK:-$CARGO_TARGET_DIR/bench}"
COLD_RUNS=${COLD_RUNS:-7}
# Where the Durable Objects' storage goes (STATE_ROOT=/dev/shm: a tmpfs, where a commit costs no
# disk sync, to tell storage latency from the Worker's own).
STATE_ROOT=${STATE_ROOT:-/tmp}
PORT=18704 FRONT_KEY=agc_benchmark_key_not_a_secret
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(size tutorial everything cold)
mkdir -p "$work"

# agentc's own speed is not measured here: a debug build will do.
if [ -n "${AGENTC_BIN:-}" ]; then
    cp "$AGENTC_BIN" "$work/agentc"
else
    cargo build --quiet -p agentc --manifest-path "$root/Cargo.toml"
    # A copy: another checkout building into the same target directory must not swap it mid-run.
    cp "$CARGO_TARGET_DIR/debug/agentc" "$work/agentc"
fi
agentc="$work/agentc"

# project NAME SOURCE_DIR...: a fresh project in $work/NAME from the agents/ (and tools/) of the
# source directories, built with agentc.
project() {
    local name=$1 dir="$work/$1"
    shift
    mkdir -p "$dir/agents"
    rm -f "$dir"/agents/*.yaml
    for src in "$@"; do
        # Agent files only: `*.test.yaml` are agentc test's.
        find "$src/agents" -maxdepth 1 -name '*.yaml' ! -name '*.test.yaml' -exec cp {} "$dir/agents/" \;
        # cp -a keeps the tools' times, so an unchanged project is not rebuilt.
        if [ -d "$src/tools" ]; then rm -rf "$dir/tools" && cp -a "$src/tools" "$dir/tools"; fi
    done
    ln -sfn "$root/node_modules" "$dir/node_modules"
    # Each project's Worker crate has its own target directory: the crates share one name, so
    # a shared one would hand one project's wasm to another.
    (cd "$dir" && "$agentc" build >"$dir/build.log" 2>&1) || {
        cat "$dir/build.log" >&2
        exit 1
    }
}

# config NAME: a workerd config serving the project's Worker on $PORT, its AI binding workerd's
# own client pointed at the fake AI (`-e fake-ai=...`), sessions on disk (`-d state=...`).
config() {
    local name=$1 dir="$work/$1" digest front_service="" socket_service=agents cache_outbound=""
    digest=$(printf %s "$FRONT_KEY" | sha256sum | cut -d' ' -f1)
    if [ "$name" = everything ]; then
        cat >"$dir/front.js" <<'EOF'
// Adds the benchmark's API key, so run.sh's plain requests pass the agent's auth.
export default {
  fetch(request, env) {
    const forwarded = new Request(request);
    forwarded.headers.set("authorization", `Bearer ${env.KEY}`);
    return env.AGENTS.fetch(forwarded);
  },
};
EOF
        # Its agent has a response cache: workerd sends each Cache API operation to this service
        # (see compiler/src/devcache.rs). Every lookup misses, as on a turn that uses none of the
        # agent's features; without a cache service every lookup and store would fail.
        cat >"$dir/cache.js" <<'EOF'
// The Cache API's outbound service for the benchmark: every lookup misses, every store is taken.
export default {
  async fetch(request) {
    if (request.method === "PUT") {
      await request.arrayBuffer();
      return new Response(null, { status: 204 });
    }
    return new Response(null, { status: 504, headers: { "cf-cache-status": "MISS" } });
  },
};
EOF
        front_service="(name = \"front\", worker = (modules = [(name = \"front.js\", esModule = embed \"front.js\")], compatibilityDate = \"2026-04-20\", bindings = [(name = \"AGENTS\", service = \"agents\"), (name = \"KEY\", text = \"$FRONT_KEY\")])),
    (name = \"cache\", worker = (modules = [(name = \"cache.js\", esModule = embed \"cache.js\")], compatibilityDate = \"2026-04-20\")),"
        cache_outbound='cacheApiOutbound = "cache",'
        socket_service=front
    fi
    cat >"$dir/bench.capnp" <<EOF
# Written by bench/baseline.sh.
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "agents", worker = .agents),
    $front_service
    (name = "fake-ai", external = (address = "127.0.0.1:18700", http = ())),
    (name = "state", disk = (path = "/tmp/agentc-bench-state", writable = true)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:$PORT", http = (), service = "agents")],
);
const agents :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed ".agentc/worker/build/index.js"),
    (name = "index_bg.wasm", wasm = embed ".agentc/worker/build/index_bg.wasm"),
  ],
  compatibilityDate = "2026-04-20",
  $cache_outbound
  bindings = [
    (name = "AI", wrapped = (moduleName = "cloudflare-internal:ai-api",
                             innerBindings = [(name = "fetcher", service = "fake-ai")])),
    (name = "SESSIONS", durableObjectNamespace = "Session"),
    (name = "BENCH_API_KEYS", text = "$digest"),
    (name = "BENCH_TOKEN", text = "not-a-secret"),
  ],
  durableObjectNamespaces = [(className = "Session", uniqueKey = "agentc-bench-Session", enableSql = true)],
  durableObjectStorage = (localDisk = "state"),
);
EOF
    # run.sh's requests carry no API key: its config puts the front Worker on the socket. Every
    # other measurement here sends the key itself and is served by the agents' Worker directly,
    # so that the front's own request (a JS Worker, in the same process) is not counted as ours.
    sed "s/service = \"agents\")\],\$/service = \"$socket_service\")],/" "$dir/bench.capnp" >"$dir/bench-run.capnp"
}

workerd_bin() {
    local plat
    case "$(uname -m)" in x86_64) plat=linux-64 ;; aarch64) plat=linux-arm64 ;; *) echo "unsupported arch" >&2; exit 1 ;; esac
    echo "$BASELINE_WORK/node_modules/@cloudflare/workerd-$plat/bin/workerd"
}

# start_command NAME STATE_DIR: the command that serves the project (exec'd by run.sh).
start_command() {
    echo "$(workerd_bin) serve $work/$1/bench-run.capnp --experimental -d state=$2 -e fake-ai=\$FAKE_AI_ADDR"
}

# ratios NAME: run.sh with the project as the agentc target, then agentc ÷ seed.
ratios() {
    local name=$1 state
    project "$name" "$root/bench/projects/$name"
    config "$name"
    state=$(mktemp -d "$STATE_ROOT/agentc-bench.XXXXXX")
    echo "== $name: ../shared/baseline/run.sh with agentc = $name" >&2
    AGENTC_URL="http://127.0.0.1:$PORT/agents/$name/chat" AGENTC_START="$(start_command "$name" "$state")" \
        "$baseline/run.sh" | tee "$work/$name.results.txt"
    rm -rf "$state"
    node - "$BASELINE_WORK/out/results.jsonl" "$name" <<'EOF'
const rows = Object.fromEntries(require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l)).map((r) => [r.target, r]));
const cpu = (r, i, n) => (r.ticks.srv[i + 1] - r.ticks.srv[i]) / r.ticks.hz / n * 1e6;
const s = rows.seed, a = rows.agentc, fmt = (x) => x.toFixed(2);
const line = (what, seed, agentc, target) =>
  console.log(`${what.padEnd(26)} ${seed.toFixed(0).padStart(8)} ${agentc.toFixed(0).padStart(8)}   ${fmt(agentc / seed).padStart(5)}×  (target ${target})`);
console.log(`\n${process.argv[3]} ÷ seed, same run             seed   agentc   ratio`);
line('CPU µs per turn, c=1', cpu(s, 0, s.c1.n), cpu(a, 0, a.c1.n), process.argv[3] === 'tutorial' ? '≤ 0.80×' : '≤ 1.50×');
line(`CPU µs per turn, c=${s.c8.c}`, cpu(s, 1, s.c8.n), cpu(a, 1, a.c8.n), process.argv[3] === 'tutorial' ? '≤ 0.80×' : '≤ 1.50×');
line(`req/s, c=${s.c8.c} (client)`, s.c8.rps, a.c8.rps, '≥ 1.25×');
line(`req/s, c=${s.c8.c} (wrk)`, s.wrk.rps, a.wrk.rps, '≥ 1.25×');
console.log(`${'first byte p50 ms, c=1'.padEnd(26)} ${s.c1.ttfb_p50.toFixed(2).padStart(8)} ${a.c1.ttfb_p50.toFixed(2).padStart(8)}   ${fmt(a.c1.ttfb_p50 / s.c1.ttfb_p50).padStart(5)}×  (target ≤ 1.00×)`);
EOF
}

# cold NAME: COLD_RUNS times, a fresh workerd and state, the time from starting workerd to its
# first 200 (readiness), then the first chat request's first byte and end.
cold() {
    local name=$1 dir="$work/$1" ai_pid i
    [ -f "$dir/bench.capnp" ] || { project "$name" "$root/bench/projects/$name"; config "$name"; }
    [ -f "$BASELINE_WORK/fake-ai.mjs" ] || { echo "run '$0 tutorial' first (it sets up the baseline)" >&2; exit 1; }
    (cd "$BASELINE_WORK" && exec node fake-ai.mjs 18700) >/dev/null 2>&1 &
    ai_pid=$!
    sleep 0.5
    echo "== $name: first request after a cold start, $COLD_RUNS runs (ms)"
    printf '%-6s %12s %12s %12s\n' run "listening" "first byte" "whole turn"
    for i in $(seq "$COLD_RUNS"); do
        local state pid start listening t
        state=$(mktemp -d "$STATE_ROOT/agentc-bench.XXXXXX")
        start=$(date +%s%N)
        "$(workerd_bin)" serve "$dir/bench.capnp" --experimental -d state="$state" -e fake-ai=127.0.0.1:18700 >"$state.log" 2>&1 &
        pid=$!
        until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.005; done
        listening=$(( ($(date +%s%N) - start) / 1000 ))
        t=$(curl -s -o /dev/null -w '%{time_starttransfer} %{time_total}' -X POST -H 'content-type: application/json' \
            -H "authorization: Bearer $FRONT_KEY" \
            -d '{"message":"What is the weather in Paris?","session_id":"cold"}' "http://127.0.0.1:$PORT/agents/$name/chat")
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        rm -rf "$state" "$state.log"
        awk -v i="$i" -v l="$listening" -v t="$t" 'BEGIN { split(t, a, " "); printf "%-6s %12.1f %12.1f %12.1f\n", i, l / 1000, a[1] * 1000, a[2] * 1000 }'
    done
    kill "$ai_pid"
    wait "$ai_pid" 2>/dev/null || true
}

# profile NAME: V8's CPU profile of the project's Worker over PROFILE_N turns (bench/profile.mjs).
profile() {
    local name=$1 dir="$work/$1" ai_pid pid state
    [ -f "$dir/bench.capnp" ] || { project "$name" "$root/bench/projects/$name"; config "$name"; }
    (cd "$BASELINE_WORK" && exec node fake-ai.mjs 18700) >/dev/null 2>&1 &
    ai_pid=$!
    state=$(mktemp -d "$STATE_ROOT/agentc-bench.XXXXXX")
    "$(workerd_bin)" serve "$dir/bench.capnp" --experimental -d state="$state" -e fake-ai=127.0.0.1:18700 \
        -i 127.0.0.1:9230 >"$state.log" 2>&1 &
    pid=$!
    until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.05; done
    echo "== $name: CPU profile inside workerd, ${PROFILE_N:-2000} turns"
    AUTH="Bearer $FRONT_KEY" node --experimental-websocket "$root/bench/profile.mjs" 127.0.0.1:9230 \
        "http://127.0.0.1:$PORT/agents/$name/chat" "${PROFILE_N:-2000}" || true
    kill "$pid" "$ai_pid"
    wait "$pid" "$ai_pid" 2>/dev/null || true
    rm -rf "$state" "$state.log"
}

# interleaved NAME: CPU per turn, first byte and req/s of the project's Worker and of the seed,
# served at once and asked in turn (bench/interleaved.mjs): ratios that the machine's other load
# moves far less.
interleaved() {
    local name=$1 dir="$work/$1" ai_pid status=0
    project "$name" "$root/bench/projects/$name"
    config "$name"
    [ -f "$BASELINE_WORK/config.capnp" ] && [ -f "$BASELINE_WORK/build/seed.js" ] || {
        echo "run '$0 tutorial' first (it sets up the baseline)" >&2
        exit 1
    }
    (cd "$BASELINE_WORK" && exec node fake-ai.mjs 18700) >/dev/null 2>&1 &
    ai_pid=$!
    sleep 0.5
    echo "== $name ÷ seed, interleaved (targets: CPU ≤ $([ "$name" = tutorial ] && echo 0.80 || echo 1.50)×, first byte ≤ 1.00×, req/s ≥ 1.25×)"
    AUTH="Bearer $FRONT_KEY" STATE_ROOT="$STATE_ROOT" node "$root/bench/interleaved.mjs" "$(workerd_bin)" "${INTERLEAVED_N:-3000}" \
        "seed=$BASELINE_WORK/config.capnp" "agentc=$dir/bench.capnp:$name" || status=$?
    kill "$ai_pid" 2>/dev/null || true
    wait "$ai_pid" 2>/dev/null || true
    return "$status"
}

# decompose: seed ÷ the JS mirror of agentc's turn, then the mirror ÷ the compiled tutorial agent.
decompose() {
    local dir="$work/tutorial" ai_pid status=0
    project tutorial "$root/bench/projects/tutorial"
    config tutorial
    [ -f "$BASELINE_WORK/config.capnp" ] || {
        echo "run '$0 tutorial' first (it sets up the baseline)" >&2
        exit 1
    }
    (cd "$BASELINE_WORK" && exec node fake-ai.mjs 18700) >/dev/null 2>&1 &
    ai_pid=$!
    sleep 0.5
    echo "== the JS mirror of agentc's turn (bench/reference/mirror.js) ÷ seed, interleaved"
    STATE_ROOT="$STATE_ROOT" node "$root/bench/interleaved.mjs" "$(workerd_bin)" "${INTERLEAVED_N:-3000}" \
        "seed=$BASELINE_WORK/config.capnp" "seed=$root/bench/reference/config.capnp" || status=$?
    echo "== tutorial ÷ the JS mirror, interleaved"
    AUTH="Bearer $FRONT_KEY" STATE_ROOT="$STATE_ROOT" node "$root/bench/interleaved.mjs" "$(workerd_bin)" \
        "${INTERLEAVED_N:-3000}" "seed=$root/bench/reference/config.capnp" "agentc=$dir/bench.capnp:tutorial" || status=$?
    kill "$ai_pid" 2>/dev/null || true
    wait "$ai_pid" 2>/dev/null || true
    return "$status"
}

size_line() {
    local wasm="$work/$1/.agentc/worker/build/index_bg.wasm"
    printf '%-11s %9s B raw  %9s B gzip  (%s KiB gzip)  %s\n' "$1" "$(wc -c <"$wasm")" "$(gzip -9 -c "$wasm" | wc -c)" \
        "$(($(gzip -9 -c "$wasm" | wc -c) / 1024))" "$(cd "$work/$1/agents" && ls | tr '\n' ' ')"
}

for target in "${targets[@]}"; do
    case "$target" in
        tutorial | everything) ratios "$target" ;;
        interleaved) interleaved tutorial ;;
        interleaved-everything) interleaved everything ;;
        decompose) decompose ;;
        profile) profile tutorial ;;
        profile-everything) profile everything ;;
        cold) cold tutorial && cold everything ;;
        size)
            project tutorial "$root/bench/projects/tutorial"
            project everything "$root/bench/projects/everything"
            project examples "$root"
            echo "== wasm size (targets: tutorial ≤ 250 KiB gzip, every feature ≤ 350 KiB gzip)"
            size_line tutorial
            size_line everything
            size_line examples
            ;;
        *) echo "unknown target $target (tutorial, everything, size, cold, interleaved, interleaved-everything, profile, profile-everything)" >&2; exit 2 ;;
    esac
done
