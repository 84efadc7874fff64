// Where a Worker's time goes, from inside the isolate: V8's sampling CPU profiler over workerd's
// inspector protocol while N chat turns run one after another (50 sessions round robin). Prints
// the functions by self time and by inclusive time (wasm functions by their Rust names when the
// module keeps its name section), and the share of JS, wasm, GC and the rest.
//
// usage: node --experimental-websocket bench/profile.mjs <inspector host:port> <chat url> [N]
//   env: AUTH (an Authorization header value), BODY_FMT (%s = session id), TOP (rows, 40),
//   SAVE (a file to write the raw profile to, for chrome://inspect or another reading)
// workerd must run with `-i <host:port>` (bench/baseline.sh profile does this).
import http from 'node:http';

const [inspector, url, nArg] = process.argv.slice(2);
const n = Number(nArg || 2000);
const top = Number(process.env.TOP || 40);
const fmt = process.env.BODY_FMT || '{"message":"What is the weather in Paris?","session_id":"%s"}';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function turn(i) {
  const body = Buffer.from(fmt.replace('%s', `p${i % 50}`));
  const headers = { 'content-type': 'application/json', 'content-length': body.length };
  if (process.env.AUTH) headers.authorization = process.env.AUTH;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const targets = await (await fetch(`http://${inspector}/json/list`)).json();
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
let nextId = 1;
const pending = new Map();
ws.onmessage = (event) => {
  const msg = JSON.parse(event.data);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
  }
};
const send = (method, params = {}) => new Promise((resolve) => {
  const id = nextId++;
  pending.set(id, resolve);
  ws.send(JSON.stringify({ id, method, params }));
});

for (let i = 0; i < 200; i++) await turn(i); // warm: sessions exist, code is compiled
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: 50 });
await send('Profiler.start');
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) await turn(i);
const wall = Number(process.hrtime.bigint() - t0) / 1e6;
const { result } = await send('Profiler.stop');
ws.close();
agent.destroy();

if (process.env.SAVE) (await import('node:fs')).writeFileSync(process.env.SAVE, JSON.stringify(result.profile));
const { nodes, samples, timeDeltas } = result.profile;
const byId = new Map(nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of nodes) for (const child of node.children || []) parent.set(child, node.id);
const self = new Map();
for (let i = 0; i < samples.length; i++) self.set(samples[i], (self.get(samples[i]) || 0) + (timeDeltas[i] || 0));
const name = (node) => {
  const f = node.callFrame;
  const where = f.url ? f.url.replace(/^.*\//, '') : '';
  return `${f.functionName || '(anonymous)'}${where ? ` [${where}]` : ''}`;
};
const selfBy = new Map(), inclBy = new Map();
let total = 0;
const kinds = { wasm: 0, js: 0, gc: 0, program: 0, idle: 0 };
for (const [id, us] of self) {
  const node = byId.get(id);
  total += us;
  const key = name(node);
  selfBy.set(key, (selfBy.get(key) || 0) + us);
  const f = node.callFrame.functionName;
  const kind = f === '(idle)' ? 'idle' : f === '(garbage collector)' ? 'gc' : f === '(program)' ? 'program'
    : node.callFrame.url.includes('wasm') || /^\$?[a-z_]+::|wasm-function/.test(f) ? 'wasm' : 'js';
  kinds[kind] += us;
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const k = name(byId.get(at));
    if (!seen.has(k)) { inclBy.set(k, (inclBy.get(k) || 0) + us); seen.add(k); }
  }
}
const busy = total - kinds.idle;
const perTurn = (us) => (us / n).toFixed(1).padStart(8);
console.log(`${n} turns in ${wall.toFixed(0)} ms; sampled ${(total / 1000).toFixed(0)} ms, busy ${(busy / 1000).toFixed(0)} ms = ${(busy / n).toFixed(0)} µs per turn`);
console.log('per turn (µs):', Object.entries(kinds).map(([k, us]) => `${k} ${(us / n).toFixed(0)}`).join(', '));
const print = (title, map) => {
  console.log(`\n${title} (µs per turn)`);
  [...map].filter(([k]) => !k.startsWith('(idle)') && !k.startsWith('(root)')).sort((a, b) => b[1] - a[1]).slice(0, top)
    .forEach(([k, us]) => console.log(`${perTurn(us)}  ${k.slice(0, 150)}`));
};
print('self time', selfBy);
print('inclusive time', inclBy);
