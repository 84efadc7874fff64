// The per-turn figures for two Workers measured side by side: both served by their own
// workerd at the same time, so whatever else the machine is doing slows both alike and the ratios
// hold still where two runs one after the other (../shared/baseline/run.sh) differ by ±30%.
//   - c=1: requests alternate A, B, A, B; CPU per turn (each process's, from /proc) and first
//     byte (p50, the client's time to the first body bytes).
//   - c=8: A and B take turns at eight requests in flight, one chunk each; CPU per turn and req/s.
//
// usage: node bench/interleaved.mjs WORKERD N A B
//   A, B: `seed=CONFIG` (the shared baseline's config.capnp: the tutorial's TS Worker at /chat)
//         or `agentc=CONFIG:AGENT` (a bench.capnp written by bench/baseline.sh, its agent's
//         /agents/AGENT/chat). The fake AI must listen on 127.0.0.1:18700.
//   env: AUTH (an Authorization header value for agentc targets); DISTINCT=1: every turn's
//        message differs (its number appended). run.sh sends one message over and over, and the
//        tutorial's Worker stores only the last ten user messages, so after ten turns a session
//        stores the same bytes again, which SQLite does not write at all (no WAL frame, no
//        fsync); distinct messages make it write, as any real conversation does.
//        STATE_ROOT (default /tmp): where each target's Durable Object storage goes; /dev/shm
//        (a tmpfs, where a commit syncs no disk) tells the storage's cost from the rest.
// Prints B/A for each figure, per chunk and overall; exits non-zero if a request fails.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [workerd, nArg, ...specs] = process.argv.slice(2);
const n = Number(nArg);
if (!workerd || !(n >= 5) || specs.length !== 2) {
  console.error('usage: node bench/interleaved.mjs WORKERD N seed=CONFIG|agentc=CONFIG:AGENT (twice)');
  process.exit(2);
}
const MESSAGE = 'What is the weather in Paris?';
const DISTINCT = Boolean(process.env.DISTINCT);
const C = 8;

function target(spec, port) {
  const [kind, rest] = spec.split(/=(.*)/s);
  const state = fs.mkdtempSync(path.join(process.env.STATE_ROOT || '/tmp', 'agentc-interleaved.'));
  let config, args, route, key;
  if (kind === 'seed') {
    config = path.resolve(rest);
    args = ['-d', `do-disk=${state}`, '-s', `seed=127.0.0.1:${port}`, '-s', `limit=127.0.0.1:${port + 100}`];
    route = '/chat';
    key = 'sessionId';
  } else if (kind === 'agentc') {
    const [file, agent] = rest.split(':');
    config = path.resolve(file);
    args = ['-d', `state=${state}`, '-s', `http=127.0.0.1:${port}`];
    route = `/agents/${agent}/chat`;
    key = 'session_id';
  } else {
    throw new Error(`unknown target ${spec}`);
  }
  // workerd's output (the Worker's log lines among it) goes to a file, shown if the target fails.
  const log = `${state}.log`;
  const proc = spawn(workerd, ['serve', config, '--experimental', '-e', 'fake-ai=127.0.0.1:18700', ...args], {
    cwd: path.dirname(config),
    stdio: ['ignore', fs.openSync(log, 'w'), fs.openSync(log, 'a')],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: C });
  return { spec, proc, state, log, port, route, key, agent };
}

// One chat turn; resolves to its first byte, in ms after the request was sent.
function turn(t, i) {
  const message = DISTINCT ? `${MESSAGE} (${i})` : MESSAGE;
  const body = Buffer.from(JSON.stringify({ message, [t.key]: `s${i % 50}` }));
  const headers = { 'content-type': 'application/json', 'content-length': body.length };
  if (process.env.AUTH && t.key === 'session_id') headers.authorization = process.env.AUTH;
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let first;
    const req = http.request(`http://127.0.0.1:${t.port}${t.route}`, { method: 'POST', agent: t.agent, headers }, (res) => {
      res.on('data', () => {
        first ??= Number(process.hrtime.bigint() - start) / 1e6;
      });
      res.on('end', () => (res.statusCode === 200 ? resolve(first) : reject(new Error(`${t.spec}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// `count` turns at `c` in flight, numbered from `from`; resolves to their first bytes.
async function burst(t, from, count, c) {
  const firsts = [];
  let next = 0;
  const worker = async () => {
    while (next < count) firsts.push(await turn(t, from + next++));
  };
  await Promise.all(Array.from({ length: c }, worker));
  return firsts;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = (a, b) => `${(b / a).toFixed(2)}×`;

// utime + stime of a process, in clock ticks (10 ms).
function ticks(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function listening(t) {
  for (let i = 0; i < 200; i++) {
    try {
      await turn(t, 0);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${t.spec} never answered 200`);
}

const targets = [target(specs[0], 18801), target(specs[1], 18802)];
let failed = false;
try {
  await Promise.all(targets.map(listening));
  for (let i = 0; i < 300; i++) for (const t of targets) await turn(t, i);
  const chunk = Math.floor(n / 5);
  console.log(`A = ${specs[0]}\nB = ${specs[1]}${DISTINCT ? '\nevery message distinct (DISTINCT=1)' : ''}`);
  console.log(`c=1: ${chunk * 5} turns each, alternating; CPU µs per turn, first byte p50 ms`);
  const cpu1 = [0, 0], firsts = [[], []];
  for (let c = 0; c < 5; c++) {
    const before = targets.map((t) => ticks(t.proc.pid));
    const f = [[], []];
    for (let i = 0; i < chunk; i++) for (const [k, t] of targets.entries()) f[k].push(await turn(t, 1000 + c * chunk + i));
    const us = targets.map((t, k) => ((ticks(t.proc.pid) - before[k]) * 1e4) / chunk);
    const p50 = f.map(median);
    us.forEach((x, k) => { cpu1[k] += x; firsts[k].push(...f[k]); });
    console.log(`chunk ${c + 1}: CPU A ${us[0].toFixed(0).padStart(6)}  B ${us[1].toFixed(0).padStart(6)}  B/A ${ratio(...us)}   first byte A ${p50[0].toFixed(2)}  B ${p50[1].toFixed(2)}  B/A ${ratio(...p50)}`);
  }
  const p50 = firsts.map(median);
  console.log(`all:     CPU A ${(cpu1[0] / 5).toFixed(0).padStart(6)}  B ${(cpu1[1] / 5).toFixed(0).padStart(6)}  B/A ${ratio(...cpu1)}   first byte A ${p50[0].toFixed(2)}  B ${p50[1].toFixed(2)}  B/A ${ratio(...p50)}`);
  console.log(`c=${C}: ${chunk * 5} turns each, in chunks of ${chunk}, A then B; CPU µs per turn, req/s`);
  const cpu8 = [0, 0], secs = [0, 0];
  for (let c = 0; c < 5; c++) {
    const us = [], rps = [];
    for (const [k, t] of targets.entries()) {
      const before = ticks(t.proc.pid), start = process.hrtime.bigint();
      await burst(t, 100000 + c * chunk, chunk, C);
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      us.push(((ticks(t.proc.pid) - before) * 1e4) / chunk);
      rps.push(chunk / s);
      cpu8[k] += us[k];
      secs[k] += s;
    }
    console.log(`chunk ${c + 1}: CPU A ${us[0].toFixed(0).padStart(6)}  B ${us[1].toFixed(0).padStart(6)}  B/A ${ratio(...us)}   req/s A ${rps[0].toFixed(0).padStart(5)}  B ${rps[1].toFixed(0).padStart(5)}  B/A ${ratio(...rps)}`);
  }
  const rps = secs.map((s) => (chunk * 5) / s);
  console.log(`all:     CPU A ${(cpu8[0] / 5).toFixed(0).padStart(6)}  B ${(cpu8[1] / 5).toFixed(0).padStart(6)}  B/A ${ratio(...cpu8)}   req/s A ${rps[0].toFixed(0).padStart(5)}  B ${rps[1].toFixed(0).padStart(5)}  B/A ${ratio(...rps)}`);
} catch (err) {
  console.error(err.message);
  for (const t of targets) {
    const lines = fs.readFileSync(t.log, 'utf8').trim().split('\n').slice(-10).join('\n');
    if (lines) console.error(`-- ${t.spec}, workerd's last lines:\n${lines}`);
  }
  failed = true;
} finally {
  for (const t of targets) t.proc.kill();
  await new Promise((r) => setTimeout(r, 300));
  for (const t of targets) {
    fs.rmSync(t.state, { recursive: true, force: true });
    fs.rmSync(t.log, { force: true });
  }
}
process.exit(failed ? 1 : 0);
