// Drives an agent with the real `ai` npm package: its `AbstractChat` and `DefaultChatTransport`,
// the code React's `useChat` runs, with a plain in-memory state in place of React's.
//
// Usage: node ai_sdk.mjs <chat endpoint URL> <chat id> <message>... ; prints one JSON object:
// for each message, the chunks the transport read, the response headers and the chat's status
// and error after it, then the chat's messages. With AGENTC_INITIAL_URL set, the chat starts
// from the `messages` that URL answers (as an app does after a reload); AGENTC_API_KEY is sent as
// `Authorization: Bearer`. With AGENTC_APPROVAL set (`approve`, or `deny:REASON`), a turn that
// ends asking for approval of a call is answered with `addToolApprovalResponse`, and the request
// the chat then sends by itself (`sendAutomaticallyWhen:
// lastAssistantMessageIsCompleteWithApprovalResponses`, as an app sets it) is recorded as one
// more turn.
import {
  AbstractChat,
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
} from "ai";

const [api, chatId, ...texts] = process.argv.slice(2);

/** The state `useChat` keeps in React, kept in plain fields. */
class State {
  status = "ready";
  error = undefined;
  constructor(messages) { this.messages = messages; }
  pushMessage = (m) => { this.messages = this.messages.concat(m); };
  popMessage = () => { this.messages = this.messages.slice(0, -1); };
  replaceMessage = (i, m) => {
    this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)];
  };
  snapshot = (value) => structuredClone(value);
}

class Chat extends AbstractChat {
  constructor(init) {
    const state = new State(init.messages || []);
    super({ ...init, state });
    this.store = state;
  }
}

let chunks = [];
let headers = {};
let sent = null;
/** The transport, unchanged except that it notes what passes through. */
class RecordingTransport extends DefaultChatTransport {
  processResponseStream(stream) {
    return super.processResponseStream(stream).pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          chunks.push(chunk);
          controller.enqueue(chunk);
        },
      }),
    );
  }
}
const auth = process.env.AGENTC_API_KEY ? { authorization: "Bearer " + process.env.AGENTC_API_KEY } : {};
const transport = new RecordingTransport({
  api,
  headers: auth,
  fetch: async (url, init) => {
    sent = JSON.parse(init.body);
    const response = await fetch(url, init);
    headers = Object.fromEntries(response.headers.entries());
    return response;
  },
});

let initial = [];
if (process.env.AGENTC_INITIAL_URL) {
  const response = await fetch(process.env.AGENTC_INITIAL_URL, { headers: auth });
  if (!response.ok) throw new Error("GET " + process.env.AGENTC_INITIAL_URL + ": " + response.status);
  initial = (await response.json()).messages;
}
const chat = new Chat({
  id: chatId,
  transport,
  messages: initial,
  sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
});
const turns = [];
const record = () =>
  turns.push({
    sent_messages: sent && sent.messages.length,
    sent_keys: sent && Object.keys(sent).sort(),
    chunks,
    headers,
    status: chat.status,
    error: chat.error ? String(chat.error.message) : null,
  });
/** The approval a part of the last message waits for, if any. */
const waiting = () =>
  chat.messages.at(-1)?.parts.find((p) => p.state === "approval-requested")?.approval;
/** Answers the waiting approval; the chat sends the answer by itself: waits until it is done. */
async function answer(approval) {
  chunks = [];
  headers = {};
  sent = null;
  const [verdict, reason] = process.env.AGENTC_APPROVAL.split(/:(.*)/s);
  await chat.addToolApprovalResponse({ id: approval.id, approved: verdict === "approve", reason });
  const started = Date.now();
  while (!(sent && chat.status === "ready") && chat.status !== "error") {
    if (Date.now() - started > 30000) throw new Error("the chat never sent the approval");
    await new Promise((r) => setTimeout(r, 20));
  }
  record();
}
// A chat reloaded while a call waits starts by answering it.
if (process.env.AGENTC_APPROVAL && waiting()) await answer(waiting());
for (const text of texts) {
  chunks = [];
  headers = {};
  await chat.sendMessage({ text });
  record();
  const approval = process.env.AGENTC_APPROVAL && waiting();
  if (approval) await answer(approval);
}
console.log(JSON.stringify({ turns, messages: chat.messages }));
