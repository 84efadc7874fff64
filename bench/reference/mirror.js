// agentc's chat turn written by hand in plain JavaScript, to measure what the architecture costs
// without Rust, wasm, worker-rs or wasm-bindgen (`bench/baseline.sh decompose`). It does the job
// a compiled tutorial agent does, the way agentc does it, and nothing more:
//   - the Worker reads and checks the body and hands the turn to the session's Durable Object
//     (one hop: the object streams the answer back through the Worker);
//   - the object keeps the session's last ten messages in memory, read once from its SQLite
//     storage, calls the model with the system prompt, that window and the message, decodes
//     Workers AI's stream, and sends each chunk's text on as this API's `delta` events;
//   - when the model is done it stores the user's message and the answer (one INSERT), writes
//     the per-turn log line and sends `done`, which the object's output gate holds until the
//     commit is durable.
// What it leaves out, which agentc does: the start and idle timeouts on the model call, the
// wait that lets the text out before the commit, owner rows, the turn lock, input limits,
// errors as JSON. Served like the seed: POST /chat {message, sessionId}.
const SYSTEM = 'You are a helpful AI agent. Be concise and accurate.';
const MODEL = '@cf/meta/llama-3.1-8b-instruct';
const WINDOW = 10;
const encoder = new TextEncoder();

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== '/chat' || request.method !== 'POST') return new Response('Not found', { status: 404 });
    let body;
    try {
      body = JSON.parse(await request.text());
    } catch {
      return Response.json({ error: 'the body is not JSON' }, { status: 400 });
    }
    if (typeof body.message !== 'string' || typeof body.sessionId !== 'string') {
      return Response.json({ error: 'message and sessionId must be strings' }, { status: 400 });
    }
    const session = env.SESSIONS.getByName(body.sessionId);
    return session.fetch('http://session/turn', { method: 'POST', body: JSON.stringify({ message: body.message }) });
  },
};

export class Session {
  constructor(state, env) {
    this.sql = state.storage.sql;
    this.env = env;
    this.recent = null;
  }

  async fetch(request) {
    const { message } = JSON.parse(await request.text());
    if (!this.recent) {
      this.sql.exec('CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, role TEXT NOT NULL, content TEXT NOT NULL)');
      this.recent = this.sql.exec('SELECT role, content FROM messages ORDER BY seq DESC LIMIT ?', WINDOW).toArray().reverse();
    }
    const messages = [{ role: 'system', content: SYSTEM }, ...this.recent, { role: 'user', content: message }];
    const started = Date.now();
    const answer = await this.env.AI.run(MODEL, { messages, stream: true });
    let controller;
    const body = new ReadableStream({ start: (c) => (controller = c) });
    this.#stream(answer, message, started, controller);
    return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
  }

  async #stream(answer, message, started, controller) {
    const reader = answer.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    let reply = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      let frames = '';
      let end;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const event = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
        const text = JSON.parse(event.slice(6)).response;
        if (text) {
          reply += text;
          frames += `event: delta\ndata: ${JSON.stringify({ text })}\n\n`;
        }
      }
      if (frames) controller.enqueue(encoder.encode(frames));
    }
    this.sql.exec('INSERT INTO messages (role, content) VALUES (?, ?), (?, ?)', 'user', message, 'assistant', reply);
    this.recent.push({ role: 'user', content: message }, { role: 'assistant', content: reply });
    this.recent = this.recent.slice(-WINDOW);
    console.log(JSON.stringify({ event: 'turn', model: MODEL, steps: 1, total_ms: Date.now() - started }));
    controller.enqueue(encoder.encode(`event: done\ndata: ${JSON.stringify({ model: MODEL, steps: 1 })}\n\n`));
    controller.close();
  }
}
