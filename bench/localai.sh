#!/usr/bin/env bash
# Benchmarks localai on the local models (localai/models.json: `default`, Qwen2.5-Coder-1.5B-Instruct,
# and `small`, Qwen2.5-Coder-0.5B-Instruct, both Q4_K_M) on this machine and prints a table per
# model: load time, time to first token for a short and a ~180-token prompt and for the next turn of
# a conversation (prefix reused), generation speed and peak RSS. Decoding is greedy. Nothing is
# asserted: timings on a shared 2-core machine swing a lot, so medians of several runs are printed.
#
# Usage: bench/localai.sh [RUNS] [MODEL...]   (default 5 runs per row; models: default small)
# Env:   LOCALAI_BIN=path   use this binary instead of building the release one
#        LOCALAI_ARGS="..."  extra arguments for localai (e.g. "--threads 1")
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-5}"
shift || true
models=("$@")
[ "${#models[@]}" -gt 0 ] || models=(default small)

"$root/scripts/setup-model" "${models[@]}" >&2

bin="${LOCALAI_BIN:-}"
if [ -z "$bin" ]; then
  . "$root/scripts/env.sh"
  echo "==> building localai (release)" >&2
  (cd "$root" && cargo build --release --quiet -p localai)
  bin="$CARGO_TARGET_DIR/release/localai"
fi

log="$(mktemp)"
out="$(mktemp)"
pid=""
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
trap 'stop; rm -f "$log" "$out"' EXIT

for model in "${models[@]}"; do
: > "$out"
started=$(date +%s.%N)
# shellcheck disable=SC2086 # LOCALAI_ARGS is a list of words.
"$bin" --listen 127.0.0.1:0 --model "$model" ${LOCALAI_ARGS:-} >"$out" 2>"$log" &
pid=$!
for _ in $(seq 1 600); do
  grep -q "listening on" "$out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.05
done
ready=$(date +%s.%N)
url="$(sed -n 's/^localai listening on //p' "$out")"
[ -n "$url" ] || { echo "error: localai did not start" >&2; cat "$log" >&2; exit 1; }

python3 - "$url" "$pid" "$runs" "$started" "$ready" "$bin" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse

url, pid, runs, started, ready, binary = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
host = urllib.parse.urlparse(url)

def stream(messages, max_tokens):
    """Sends a streamed binding request; returns (ttft, seconds from first to last token, usage)."""
    body = json.dumps({"inputs": {"messages": messages, "max_tokens": max_tokens, "stream": True}})
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=600)
    t0 = time.perf_counter()
    conn.request("POST", "/run?version=3", body, {"cf-consn-model-id": "@cf/meta/llama-3.1-8b-instruct",
                                                   "content-type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200, response.read()
    first = last = None
    usage = None
    buffer = b""
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            # SSE: `data:` lines carry the event; lines starting with `:` are comments (localai
            # sends `: keep-alive` while a long prompt is read).
            data = b"\n".join(line[len(b"data:"):].lstrip(b" ") for line in event.split(b"\n")
                              if line.startswith(b"data:"))
            if not data or data == b"[DONE]":
                continue
            payload = json.loads(data)
            if payload.get("response"):
                now = time.perf_counter()
                first = first or now
                last = now
            if payload.get("usage"):
                usage = payload["usage"]
    conn.close()
    return first - t0, last - first, usage

LONG = (
    "Here are my notes from this week's planning meeting. The team agreed to move the release of "
    "the mobile app from the first to the third week of next month, because the payment provider "
    "needs two more weeks to certify the new checkout flow. Maria will own the certification work "
    "and report progress every Tuesday. The web dashboard stays on schedule; Tom raised a concern "
    "about the load tests, which still fail above two thousand concurrent users, and asked for a "
    "dedicated day to profile the database queries. We also discussed hiring: two backend roles are "
    "open, and interviews start on Monday. Finally, the office will be closed on Friday for the "
    "public holiday, so the weekly demo moves to Thursday afternoon. Summarize these notes in one "
    "sentence, and keep it short: mention the new release date and who owns the certification."
)

def messages(run, user):
    # A different first line per run, so the prompt cache cannot reuse the previous run's prompt.
    return [{"role": "system", "content": f"Session {run}. You are a helpful assistant."},
            {"role": "user", "content": user}]

def median(values):
    return statistics.median(values)

rows = []
for name, user in [("short prompt", "Say hello."), ("long prompt", LONG)]:
    ttfts, tokens = [], None
    for run in range(runs):
        ttft, _, usage = stream(messages(f"{name} {run}", user), 8)
        ttfts.append(ttft)
        tokens = usage["prompt_tokens"]
    rows.append((f"first token, {name} ({tokens} tokens)", f"{median(ttfts) * 1000:.0f} ms",
                 f"{min(ttfts) * 1000:.0f}-{max(ttfts) * 1000:.0f} ms"))

# The next turn of the same conversation: the cached prefix is reused.
base = messages("cached", LONG)
stream(base, 8)
ttfts = []
for run in range(runs):
    ttft, _, usage = stream(base + [{"role": "assistant", "content": "Noted."},
                                    {"role": "user", "content": f"Thanks ({run})."}], 8)
    ttfts.append(ttft)
rows.append((f"first token, next turn ({usage['prompt_tokens']} tokens, prefix cached)",
             f"{median(ttfts) * 1000:.0f} ms", f"{min(ttfts) * 1000:.0f}-{max(ttfts) * 1000:.0f} ms"))

speeds = []
for run in range(runs):
    _, span, usage = stream(messages(f"speed {run}", "Count from 1 to 300, separated by commas."), 128)
    speeds.append((usage["completion_tokens"] - 1) / span)
rows.append(("generation (128 tokens)", f"{median(speeds):.1f} tokens/s",
             f"{min(speeds):.1f}-{max(speeds):.1f} tokens/s"))

status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
conn = http.client.HTTPConnection(host.hostname, host.port)
conn.request("GET", "/_localai/health")
health = json.loads(conn.getresponse().read())
model = health["model"]
rows.insert(0, ("load (start to listening)", f"{(ready - started) * 1000:.0f} ms",
                f"model ready in {health['load_seconds'] * 1000:.0f} ms"))
rows.append(("peak RSS (VmHWM)", status["VmHWM"].strip().replace(" kB", "") + " kB",
             f"{int(status['VmHWM'].split()[0]) / 1024:.0f} MiB"))

print(f"localai benchmark: {model['name']}, {model['threads']} threads, context {model['ctx_size']}, "
      f"greedy, median of {runs} runs")
print(f"binary: {binary}")
width = max(len(r[0]) for r in rows)
print(f"| {'measure'.ljust(width)} | {'median':>14} | {'range':<22} |")
print(f"|{'-' * (width + 2)}|{'-' * 16}|{'-' * 24}|")
for measure, value, spread in rows:
    print(f"| {measure.ljust(width)} | {value:>14} | {spread:<22} |")
PY
stop
echo
done
