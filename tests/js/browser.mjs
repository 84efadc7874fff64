// Drives the chat page in headless Chromium (Debian's `chromium`, through `playwright-core`),
// as a person would, and writes a screenshot of each state.
//
// Usage: node browser.mjs <Worker URL> <localai URL> <output dir> ; prints one JSON object with
// what it saw. The scripted model behind the Worker must give, in order: a get_weather call, an
// answer held after two chunks (released here), an answer for `guarded`, a failure, and an
// answer for `budget` that uses up its token budget.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, localai, out] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "agentc-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.AGENTC_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1000, height: 700 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const seen = { console: [] };
let step = 0;
const page = context.pages()[0] || (await context.newPage());
// Script errors only: Chromium also logs every 4xx/5xx response, which this test provokes.
page.on("console", (m) => {
  if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) seen.console.push(m.text());
});
page.on("pageerror", (e) => seen.console.push(String(e)));
page.setDefaultTimeout(30000);
const shot = async (name) => {
  step += 1;
  await page.screenshot({ path: join(out, String(step).padStart(2, "0") + "-" + name + ".png") });
};
const last = (selector) => page.locator(selector).last();
const send = async (text) => {
  await page.fill("#input", text);
  await page.press("#input", "Enter");
};

try {
  const response = await page.goto(base + "/");
  seen.page = {
    status: response.status(),
    type: response.headers()["content-type"],
    csp: response.headers()["content-security-policy"],
    agents: await page.locator("#agent option").allTextContents(),
  };
  await page.selectOption("#agent", "toolbox");
  await page.waitForSelector(".empty");
  await shot("loaded");

  // Every change of the newest answer, as the page shows it.
  await page.evaluate(() => {
    window.growth = [];
    new MutationObserver(() => {
      const m = [...document.querySelectorAll(".msg.assistant")].pop();
      if (!m) return;
      const text = m.querySelector(".text").textContent, state = m.dataset.state;
      const prev = window.growth[window.growth.length - 1];
      if (!prev || prev.text !== text || prev.state !== state) window.growth.push({ text, state });
    }).observe(document.getElementById("log"), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await send("What is the weather in Paris?");
  // The model holds its answer after two chunks: the page shows it half-written.
  await page.waitForFunction(() => {
    const m = [...document.querySelectorAll(".msg.assistant")].pop();
    return m && m.dataset.state === "streaming" && m.querySelector(".text").textContent === "It is sunny ";
  });
  seen.tool_while_streaming = await last(".tool .name").textContent();
  await shot("streaming");
  await fetch(localai + "/_localai/release", { method: "POST" });
  await page.waitForSelector('.msg.assistant[data-state="done"]');
  seen.growth = await page.evaluate(() => window.growth);
  seen.answer = await last(".msg.assistant .text").textContent();
  seen.meta = await last(".msg.assistant .meta").textContent();
  seen.session = await page.evaluate(() => localStorage.getItem("agentc.session.toolbox"));
  await shot("answered");
  await page.click("details.tools summary");
  seen.tool = {
    name: await last(".tool .name").textContent(),
    args: await last(".tool .args").textContent(),
    result: await last(".tool .result").textContent(),
  };
  await shot("tool-call-open");

  // A reload restores the conversation from the server.
  await page.reload();
  await page.waitForSelector(".msg.assistant .text");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Conversation restored"));
  seen.reloaded = {
    user: await page.locator(".msg.user .text").allTextContents(),
    answer: await last(".msg.assistant .text").textContent(),
    tool: await last(".tool .name").textContent(),
    session: await page.evaluate(() => localStorage.getItem("agentc.session.toolbox")),
  };
  await shot("reloaded");

  // Forget deletes it on the server and starts afresh.
  await page.click("#forget");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Forgotten"));
  seen.forgotten = {
    messages: await page.locator(".msg").count(),
    session: await page.evaluate(() => localStorage.getItem("agentc.session.toolbox")),
  };
  await shot("forgotten");

  // An agent behind API keys: the page asks for one on the 401.
  await page.selectOption("#agent", "guarded");
  await page.waitForSelector("#key:not([hidden])");
  seen.key_prompt = await page.locator("#key-why").textContent();
  await shot("key-prompt");
  await page.fill("#key-input", "agc_wrong_key");
  await page.press("#key-input", "Enter");
  await page.waitForFunction(() => document.getElementById("key-why").textContent.startsWith("That key was not accepted"));
  seen.wrong_key = await page.locator("#key-why").textContent();
  await page.fill("#key-input", "agc_test_key_alice");
  await page.press("#key-input", "Enter");
  await page.waitForSelector("#key", { state: "hidden" });
  await send("Hello");
  await page.waitForSelector('.msg.assistant[data-state="done"]');
  seen.guarded_answer = await last(".msg.assistant .text").textContent();

  // Errors, as a person would want to read them.
  await send("x".repeat(300));
  await page.waitForSelector(".notice");
  seen.too_long = await last(".notice").textContent();
  seen.kept_input = (await page.inputValue("#input")).length;
  await shot("too-long");
  await send("Are you there?");
  await page.waitForFunction(() => document.querySelectorAll(".notice").length === 2);
  seen.model_failed = await last(".notice").textContent();
  await shot("model-failed");

  await page.selectOption("#agent", "budget");
  await page.waitForSelector(".empty");
  await send("Spend it");
  await page.waitForSelector('.msg.assistant[data-state="done"]');
  await send("And more");
  await page.waitForSelector(".notice.wait");
  seen.rate_limited = await last(".notice").textContent();
  seen.send_disabled = await page.isDisabled("#send");
  await shot("rate-limited");
} catch (err) {
  seen.failure = String(err && err.stack || err);
  await shot("failure").catch(() => {});
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(seen));
