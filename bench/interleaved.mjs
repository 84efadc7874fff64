// CPU per chat turn of two Workers measured side by side: both served by their own workerd at
// the same time, the requests alternating A, B, A, B at c=1, each process's CPU read from /proc.
// Whatever else the machine is doing then slows both alike, so the ratio holds still where two
// runs one after the other (../shared/baseline/run.sh) differ by ±30%.
//
// usage: node bench/interleaved.mjs WORKERD N A B
//   A, B: `seed=CONFIG` (the shared baseline's config.capnp: the tutorial's TS Worker at /chat)
//         or `agentc=CONFIG:AGENT` (a bench.capnp written by bench/baseline.sh, its agent's
//         /agents/AGENT/chat). The fake AI must listen on 127.0.0.1:18700.
//   env: AUTH (an Authorization header value for agentc targets)
// Prints the ratio B/A in five chunks and overall; exits non-zero if a request fails.
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

function target(spec, port) {
  const [kind, rest] = spec.split(/=(.*)/s);
  const state = fs.mkdtempSync('/tmp/agentc-interleaved.');
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
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return { spec, proc, state, log, port, route, key, agent };
}

function turn(t, i) {
  const body = Buffer.from(JSON.stringify({ message: MESSAGE, [t.key]: `s${i % 50}` }));
  const headers = { 'content-type': 'application/json', 'content-length': body.length };
  if (process.env.AUTH && t.key === 'session_id') headers.authorization = process.env.AUTH;
  return new Promise((resolve, reject) => {
    const req = http.request(`http://127.0.0.1:${t.port}${t.route}`, { method: 'POST', agent: t.agent, headers }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${t.spec}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

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
  const total = [0, 0];
  console.log(`A = ${specs[0]}\nB = ${specs[1]}\n${chunk * 5} turns each, alternating, c=1; CPU µs per turn`);
  for (let c = 0; c < 5; c++) {
    const before = targets.map((t) => ticks(t.proc.pid));
    for (let i = 0; i < chunk; i++) for (const t of targets) await turn(t, c * chunk + i);
    const us = targets.map((t, k) => ((ticks(t.proc.pid) - before[k]) * 1e4) / chunk);
    total[0] += us[0];
    total[1] += us[1];
    console.log(`chunk ${c + 1}: A ${us[0].toFixed(0).padStart(6)}  B ${us[1].toFixed(0).padStart(6)}  B/A ${(us[1] / us[0]).toFixed(2)}×`);
  }
  console.log(`all:     A ${(total[0] / 5).toFixed(0).padStart(6)}  B ${(total[1] / 5).toFixed(0).padStart(6)}  B/A ${(total[1] / total[0]).toFixed(2)}×`);
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
