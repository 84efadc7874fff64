// A small MCP server for agentc's end-to-end tests, built on the official TypeScript SDK
// (@modelcontextprotocol/sdk) with its Streamable HTTP transport.
//
//   node tests/mcp/server.mjs --token SECRET [--json]
//
// It listens on an ephemeral loopback port and prints `listening on PORT` once ready. Every
// MCP request must carry `Authorization: Bearer SECRET` (else 401). Sessions are stateful
// (`Mcp-Session-Id`); replies are SSE streams, or plain JSON with `--json`. Tools: `add`,
// `multiply`, `divide` (an `isError` result for a zero divisor), `wipe`, which agents are
// not meant to be offered, and `slow`, which answers after 20 s. `GET /calls` (no token needed)
// lists every tool call that ran, so tests can see what did and did not run on the server;
// `GET /requests` lists every MCP POST with its JSON-RPC method and tool and whether the client
// went away before the reply ended (`aborted`).

import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  isInitializeRequest,
} from "@modelcontextprotocol/sdk/types.js";

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const token = option("--token");
if (!token) {
  console.error("usage: server.mjs --token SECRET [--json]");
  process.exit(2);
}
const json = args.includes("--json");

const numbers = (description) => ({
  type: "object",
  description,
  properties: { a: { type: "number" }, b: { type: "number" } },
  required: ["a", "b"],
});
const TOOLS = [
  { name: "add", description: "Adds two numbers.", inputSchema: numbers("a + b") },
  { name: "multiply", description: "Multiplies two numbers.", inputSchema: numbers("a * b") },
  { name: "divide", description: "Divides a by b.", inputSchema: numbers("a / b") },
  {
    name: "wipe",
    description: "Deletes everything.",
    inputSchema: { type: "object", properties: {} },
  },
  {
    name: "slow",
    description: "Answers after 20 seconds.",
    inputSchema: { type: "object", properties: {} },
  },
];

/** Every MCP POST: `{ method, tool, aborted }`. */
const requests = [];

/** Every tool call that ran: `{ name, arguments, session }`. */
const calls = [];

function newServer() {
  const server = new Server({ name: "calc", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: input = {} } = request.params;
    calls.push({ name, arguments: input, session: extra.sessionId ?? null });
    const text = (value) => [{ type: "text", text: String(value) }];
    const { a, b } = input;
    switch (name) {
      case "add":
        return { content: text(a + b), structuredContent: { result: a + b } };
      case "multiply":
        return { content: text(a * b), structuredContent: { result: a * b } };
      case "divide":
        if (b === 0) {
          return { content: text("cannot divide by zero"), isError: true };
        }
        return { content: text(a / b) };
      case "wipe":
        return { content: text("everything is gone") };
      case "slow":
        await new Promise((resolve) => setTimeout(resolve, 20000));
        return { content: text("finally") };
      default:
        throw new Error(`unknown tool ${name}`);
    }
  });
  return server;
}

/** Open sessions: id → transport. */
const sessions = new Map();

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

const http = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, "http://localhost");
    if (url.pathname === "/calls" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(calls));
      return;
    }
    if (url.pathname === "/requests" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(requests));
      return;
    }
    if (url.pathname !== "/mcp") {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": "Bearer" });
      res.end(JSON.stringify({ error: "invalid_token" }));
      return;
    }
    const body = req.method === "POST" ? await readJson(req) : undefined;
    if (body && !Array.isArray(body)) {
      const seen = { method: body.method, tool: body.params?.name ?? null, aborted: false };
      requests.push(seen);
      res.on("close", () => {
        if (!res.writableFinished) seen.aborted = true;
      });
    }
    const id = req.headers["mcp-session-id"];
    let transport = id ? sessions.get(id) : undefined;
    if (!transport) {
      if (id || !isInitializeRequest(body)) {
        res.writeHead(id ? 404 : 400, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: "no such session" }, id: null }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: json,
        onsessioninitialized: (sid) => sessions.set(sid, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await newServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  }
});

http.listen(0, "127.0.0.1", () => {
  console.log(`listening on ${http.address().port}`);
});
