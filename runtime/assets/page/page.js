// The agentc chat page: talks to this Worker's public API (same origin), nothing else.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const agents = JSON.parse($("agents").textContent);
  const log = $("log"), input = $("input"), send = $("send"), picker = $("agent");
  const store = {
    get: (k) => { try { return localStorage.getItem(k); } catch { return null; } },
    set: (k, v) => { try { localStorage.setItem(k, v); } catch { /* private mode */ } },
  };
  const keys = {
    get: (a) => { try { return sessionStorage.getItem("agentc.key." + a); } catch { return null; } },
    set: (a, v) => { try { sessionStorage.setItem("agentc.key." + a, v); } catch { /* ignore */ } },
  };
  let agent = null, busy = false, pendingRetry = null, waitTimer = null;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function status(text) { $("status").textContent = text; }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  // The conversation's session id, kept per agent; none until the first answer of a new one.
  function sessionKey() { return "agentc.session." + agent.name; }
  function session() { return store.get(sessionKey()); }
  function setSession(id) {
    if (id) store.set(sessionKey(), id);
    else { try { localStorage.removeItem(sessionKey()); } catch { /* ignore */ } }
    $("session").textContent = id ? "session " + id : "new conversation";
  }
  function headers(json) {
    const h = json ? { "content-type": "application/json" } : {};
    const key = keys.get(agent.name);
    if (key) h.authorization = "Bearer " + key;
    return h;
  }
  function setBusy(on) {
    busy = on;
    send.disabled = on || waitTimer != null;
    $("new").disabled = on;
    $("forget").disabled = on;
    picker.disabled = on;
  }

  // --- messages -------------------------------------------------------------------------
  function userMessage(text) {
    const node = el("div", "msg user");
    node.append(el("div", "text", text));
    log.append(node);
    scroll();
  }
  // An assistant turn: its answer text, its tool calls folded below, and what answered it.
  function assistantMessage() {
    const node = el("div", "msg assistant");
    const text = el("div", "text");
    const tools = el("details", "tools");
    const summary = el("summary");
    tools.append(summary);
    tools.hidden = true;
    const meta = el("div", "meta");
    node.append(text, tools, meta);
    log.append(node);
    const calls = new Map();
    const turn = {
      node,
      append(t) { text.textContent += t; scroll(); },
      call(c) {
        const item = el("div", "tool");
        item.dataset.id = c.id;
        item.append(el("span", "name", c.name), el("pre", "args", JSON.stringify(c.arguments, null, 1)));
        tools.append(item);
        calls.set(c.id, item);
        tools.hidden = false;
        summary.textContent = calls.size === 1 ? "1 tool call" : calls.size + " tool calls";
        scroll();
      },
      result(id, ok, value) {
        const item = calls.get(id);
        if (!item) return;
        item.dataset.ok = String(ok);
        const shown = typeof value === "string" ? value : JSON.stringify(value, null, 1);
        item.append(el("pre", "result", (ok ? "\u2192 " : "\u2717 ") + shown));
      },
      meta(parts) {
        meta.replaceChildren(...parts.filter(Boolean).map((p) => el("span", "", p)));
      },
      state(s) { node.dataset.state = s; },
    };
    return turn;
  }
  function notice(text, detail, wait) {
    const node = el("div", "notice" + (wait ? " wait" : ""), text);
    if (detail) node.append(el("small", "", detail));
    log.append(node);
    scroll();
    return node;
  }
  function emptyHint() {
    if (!log.children.length) {
      log.append(el("p", "empty", agent
        ? "Say something to " + agent.name + "." + (agent.tools.length ? " It can use: " + agent.tools.join(", ") + "." : "")
        : "No agent is listed on this page."));
    }
  }
  function clearHint() { log.querySelectorAll(".empty").forEach((n) => n.remove()); }

  // --- errors, as a person would want to read them ---------------------------------------
  async function readError(response) {
    let message = "", code = "";
    try {
      const body = await response.json();
      message = (body.error && body.error.message) || "";
      code = (body.error && body.error.code) || "";
    } catch { /* not JSON */ }
    return { status: response.status, message, code, retryAfter: response.headers.get("retry-after") };
  }
  function explain(err, retry) {
    switch (err.status) {
      case 401:
        askKey(keys.get(agent.name) ? "That key was not accepted. Enter another API key for " + agent.name + "." : agent.name + " needs an API key.", retry);
        return;
      case 413:
        notice("That message is too long for " + agent.name + ". Shorten it and send it again.", err.message);
        return;
      case 429: {
        const secs = Math.max(1, parseInt(err.retryAfter || "1", 10) || 1);
        const node = notice("\u00a0", err.message, true);
        countdown(node, secs, err.code === "token_budget_exceeded" ? "The token budget is used up" : "Too many requests");
        return;
      }
      case 502:
        notice("The model could not answer right now. Nothing was saved; try again in a moment.", err.message);
        return;
      case 409:
        notice("This conversation no longer matches the server's. Start a new conversation.", err.message);
        return;
      default:
        notice("The request failed (" + err.status + (err.code ? " " + err.code : "") + ").", err.message);
    }
  }
  function countdown(node, secs, what) {
    const line = node.firstChild || node.insertBefore(document.createTextNode(""), node.firstChild);
    const tick = () => {
      line.textContent = secs > 0 ? what + ": you can send again in " + secs + " s." : what + ": you can send again now.";
      if (secs-- <= 0) { clearInterval(waitTimer); waitTimer = null; setBusy(busy); }
    };
    clearInterval(waitTimer);
    waitTimer = setInterval(tick, 1000);
    tick();
    setBusy(busy);
  }
  function askKey(why, retry) {
    $("key-why").textContent = why;
    $("key").hidden = false;
    $("key-input").value = "";
    $("key-input").focus();
    pendingRetry = retry;
    status("Waiting for an API key.");
  }
  $("key").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    keys.set(agent.name, key);
    $("key").hidden = true;
    const retry = pendingRetry;
    pendingRetry = null;
    if (retry) retry();
  });

  // --- the event stream of one turn -------------------------------------------------------
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message", data = "";
        for (const line of frame.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) onEvent(name, JSON.parse(data));
      }
      if (done) return;
    }
  }

  // Posts a message. A new conversation is sent without a session id, for the Worker to issue
  // one; a Worker that wants the client to name sessions says so with a 400, and gets a fresh
  // random id. A stored session the Worker no longer knows (404) starts a new conversation.
  async function post(text) {
    const url = "/agents/" + encodeURIComponent(agent.name) + "/chat";
    const attempt = (id) => fetch(url, {
      method: "POST",
      headers: headers(true),
      body: JSON.stringify(id ? { message: text, session_id: id } : { message: text }),
    });
    let id = session();
    let response = await attempt(id);
    if (response.status === 404 && id) {
      const err = await readError(response.clone());
      if (err.code === "session_not_found") { setSession(null); id = null; response = await attempt(null); }
    }
    if (response.status === 400 && !id) {
      const err = await readError(response.clone());
      if (/session_id/.test(err.message)) { id = newId(); response = await attempt(id); }
    }
    if (response.ok) setSession(response.headers.get("x-agentc-session") || id);
    return response;
  }

  async function sendMessage(text) {
    if (busy) return;
    clearHint();
    setBusy(true);
    status("Sending to " + agent.name + "\u2026");
    let response;
    try {
      response = await post(text);
    } catch (e) {
      notice("Could not reach the Worker.", String(e));
      setBusy(false);
      status("Offline?");
      return false;
    }
    if (!response.ok) {
      const err = await readError(response);
      setBusy(false);
      status("Ready.");
      explain(err, () => sendMessage(text).then((ok) => { if (ok && input.value === text) input.value = ""; }));
      return false;
    }
    userMessage(text);
    const turn = assistantMessage();
    turn.state("streaming");
    const h = (n) => response.headers.get(n);
    const rate = h("x-ratelimit-limit") ? "rate limit " + h("x-ratelimit-remaining") + "/" + h("x-ratelimit-limit") + " left" : "";
    const known = ["model " + (h("x-agentc-model") || "?"), "route " + (h("x-agentc-route") || "?"), h("x-agentc-cache") ? "cache " + h("x-agentc-cache") : "", rate];
    turn.meta(known);
    status(agent.name + " is answering\u2026");
    let ended = false;
    try {
      await readEvents(response, (name, data) => {
        if (name === "delta") turn.append(data.text);
        else if (name === "tool_call") turn.call(data);
        else if (name === "tool_result") turn.result(data.id, data.ok, data.ok ? data.result : data.error);
        else if (name === "done") {
          ended = true;
          known[0] = "model " + data.model;
          if (data.session_id) setSession(data.session_id);
          const tokens = data.usage ? data.usage.prompt_tokens + data.usage.completion_tokens : 0;
          turn.meta(known.concat([data.steps + (data.steps === 1 ? " step" : " steps"), tokens + " tokens"]));
          turn.state("done");
        } else if (name === "error") {
          ended = true;
          turn.state("failed");
          notice("The answer broke off: " + data.message + " Nothing of this turn was saved.", data.code);
        }
      });
    } catch (e) {
      turn.state("failed");
      notice("The answer broke off.", String(e));
      ended = true;
    }
    if (!ended) { turn.state("failed"); notice("The answer ended early; nothing of this turn was saved."); }
    setBusy(false);
    status("Ready.");
    return true;
  }

  // --- history, new conversation, forget -------------------------------------------------
  function renderHistory(messages) {
    let turn = null;
    for (const m of messages) {
      if (m.role === "user") { userMessage(m.content); turn = null; continue; }
      if (m.role === "assistant") {
        if (!turn) { turn = assistantMessage(); turn.state("done"); }
        if (m.content) turn.append(m.content);
        for (const c of m.tool_calls || []) turn.call(c);
        if (!(m.tool_calls || []).length) turn = null;
      } else if (m.role === "tool" && turn) {
        let value = m.content;
        try { value = JSON.parse(m.content); } catch { /* plain text */ }
        turn.result(m.tool_call_id, true, value);
      }
    }
  }
  async function loadHistory() {
    log.replaceChildren();
    const id = session();
    setSession(id);
    if (!id && !agent.auth) { emptyHint(); status("Ready."); return; }
    status("Loading the conversation\u2026");
    let response;
    try {
      // Without a session, an agent with keys is still asked (for a session that cannot exist),
      // so that the page asks for the key before the first message rather than after it.
      response = await fetch("/agents/" + encodeURIComponent(agent.name) + "/sessions/" + encodeURIComponent(id || "none"), { headers: headers(false) });
    } catch (e) {
      notice("Could not reach the Worker.", String(e));
      return;
    }
    if (response.status === 404 || (response.ok && !id)) {
      // The stored conversation is gone (forgotten elsewhere, or expired): start a new one.
      if (id) setSession(null);
      emptyHint();
      status(id ? "The stored conversation no longer exists; this is a new one." : "Ready.");
      return;
    }
    if (!response.ok) {
      explain(await readError(response), loadHistory);
      emptyHint();
      return;
    }
    const body = await response.json();
    renderHistory(body.messages || []);
    emptyHint();
    status(body.messages && body.messages.length ? "Conversation restored (" + body.messages.length + " messages)." : "Ready.");
    scroll();
  }
  function newConversation() {
    setSession(null);
    loadHistory();
    input.focus();
  }
  async function forget() {
    if (!session()) { newConversation(); status("Nothing to forget: the conversation is new."); return; }
    setBusy(true);
    let response;
    try {
      response = await fetch("/agents/" + encodeURIComponent(agent.name) + "/sessions/" + encodeURIComponent(session()), { method: "DELETE", headers: headers(false) });
    } catch (e) {
      notice("Could not reach the Worker.", String(e));
      setBusy(false);
      return;
    }
    setBusy(false);
    if (!response.ok && response.status !== 404) { explain(await readError(response), forget); return; }
    setSession(null);
    await loadHistory();
    status("Forgotten: the conversation was deleted on the server.");
  }

  // --- wiring ------------------------------------------------------------------------------
  function pick(name) {
    agent = agents.find((a) => a.name === name) || agents[0] || null;
    if (!agent) { emptyHint(); setBusy(true); status("No agent is listed on this page."); return; }
    store.set("agentc.agent", agent.name);
    picker.value = agent.name;
    $("about").textContent = (agent.description || "") + (agent.auth ? " (needs an API key)" : "");
    $("key").hidden = true;
    loadHistory();
  }
  for (const a of agents) picker.append(new Option(a.name, a.name));
  picker.addEventListener("change", () => pick(picker.value));
  $("new").addEventListener("click", newConversation);
  $("forget").addEventListener("click", forget);
  $("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim() || busy || waitTimer) return;
    input.value = "";
    if (!(await sendMessage(text)) && !input.value) input.value = text;
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
  });
  pick(store.get("agentc.agent"));
})();
