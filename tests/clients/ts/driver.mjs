#!/usr/bin/env node
// A real MCP client (the official TypeScript SDK) that runs named scenarios against one MCP
// server and prints a JSON report on stdout. vecgate's end-to-end tests run it both directly
// against a backend (to prove the scenario and the driver are sound) and through vecgate.
//
// Usage:
//   node driver.mjs (--url URL | --stdio CMD [ARG...] --) --plan FILE [--scenarios a,b,c]
//                   [--timeout-ms N]
// The plan (JSON, shared with the Python driver; see ../plans/README.md) names the tools,
// resources and prompts each scenario uses. Exit 0 when every selected scenario passed,
// 1 when one failed (the report says which and why), 2 on bad usage.

import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { CANNED_SAMPLING_TEXT, cannedElicitation, ALL_SCENARIOS, textOf, resolveName, pickUri } from "./plan.mjs";

function usage(message) {
  process.stderr.write(`driver.mjs: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { scenarios: null, timeoutMs: 30000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--url") args.url = argv[++i];
    else if (a === "--plan") args.plan = argv[++i];
    else if (a === "--scenarios") args.scenarios = argv[++i].split(",").filter(Boolean);
    else if (a === "--timeout-ms") args.timeoutMs = Number(argv[++i]);
    else if (a === "--stdio") {
      const rest = [];
      for (i++; i < argv.length && argv[i] !== "--"; i++) rest.push(argv[i]);
      if (rest.length === 0) usage("--stdio needs a command");
      args.stdio = rest;
    } else usage(`unknown argument ${a}`);
  }
  if (!args.url === !args.stdio) usage("give exactly one of --url or --stdio");
  if (!args.plan) usage("--plan is required");
  return args;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const plan = JSON.parse(readFileSync(args.plan, "utf8"));
  const selected = args.scenarios ?? ALL_SCENARIOS.filter((s) => s === "initialize" || plan[s] !== undefined);
  for (const s of selected) {
    if (!ALL_SCENARIOS.includes(s)) usage(`unknown scenario ${s}`);
    if (s !== "initialize" && plan[s] === undefined) usage(`plan ${args.plan} has no section for scenario ${s}`);
  }
  const report = { driver: "typescript", sdk: "@modelcontextprotocol/sdk@1.32.2", target: args.url ?? args.stdio.join(" "), ok: true, scenarios: {}, failures: [] };

  const client = new Client(
    { name: "vecgate-test-ts", version: "0.1.0" },
    { capabilities: { sampling: {}, elicitation: { form: {} } } },
  );
  const seen = { sampling: [], elicitation: [], updated: [], logs: [] };
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    seen.sampling.push(request.params);
    return { role: "assistant", content: { type: "text", text: CANNED_SAMPLING_TEXT }, model: "vecgate-canned-model", stopReason: "endTurn" };
  });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    seen.elicitation.push(request.params);
    return { action: "accept", content: cannedElicitation(request.params.requestedSchema) };
  });
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { seen.updated.push(n.params.uri); });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { seen.logs.push(n.params.level); });

  const transport = args.url
    ? new StreamableHTTPClientTransport(new URL(args.url))
    : new StdioClientTransport({ command: args.stdio[0], args: args.stdio.slice(1), stderr: "inherit" });
  const t = args.timeoutMs;
  let tools = null;
  const listTools = async () => {
    if (tools) return tools;
    const all = [];
    let cursor;
    let pages = 0;
    do {
      const page = await withTimeout(client.listTools(cursor ? { cursor } : {}), t, "tools/list");
      all.push(...page.tools);
      cursor = page.nextCursor;
      pages++;
      check(pages <= 1000, "tools/list: more than 1000 pages (cursor loop?)");
    } while (cursor);
    tools = { list: all, pages };
    return tools;
  };
  const toolName = async (name) => resolveName(name, (await listTools()).list.map((x) => x.name), "tool");
  const call = async (section, options = {}) => {
    const name = await toolName(section.tool);
    const result = await withTimeout(client.callTool({ name, arguments: section.arguments ?? {} }, undefined, { timeout: t, ...options }), t, `tools/call ${name}`);
    return { name, result, text: textOf(result.content) };
  };

  const scenarios = {
    initialize: async () => {
      await withTimeout(client.connect(transport, { timeout: t }), t, "initialize");
      const info = client.getServerVersion();
      check(info && typeof info.name === "string", "initialize: no serverInfo");
      const caps = client.getServerCapabilities() ?? {};
      return { serverInfo: info, capabilities: caps, protocolVersion: transport.protocolVersion ?? null, sessionId: transport.sessionId ?? null };
    },
    tools: async () => {
      const { list, pages } = await listTools();
      const names = list.map((x) => x.name);
      check(new Set(names).size === names.length, "tools/list: duplicate tool names across pages");
      const p = plan.tools;
      if (p.min_count !== undefined) check(names.length >= p.min_count, `tools/list: ${names.length} tools, expected at least ${p.min_count}`);
      if (p.min_pages !== undefined) check(pages >= p.min_pages, `tools/list: ${pages} pages, expected at least ${p.min_pages}`);
      for (const n of p.must_include ?? []) resolveName(n, names, "tool");
      return { count: names.length, pages, names };
    },
    calls: async () => {
      const out = [];
      for (const c of plan.calls) {
        const { name, result, text } = await call(c);
        check(!result.isError, `tools/call ${name}: isError: ${text}`);
        if (c.expect_text) check(text.includes(c.expect_text), `tools/call ${name}: result lacks ${JSON.stringify(c.expect_text)}: ${text.slice(0, 300)}`);
        out.push({ tool: name, text: text.slice(0, 500) });
      }
      return { calls: out };
    },
    progress: async () => {
      const p = plan.progress;
      const events = [];
      const { name, result, text } = await call(p, { onprogress: (e) => events.push(e), resetTimeoutOnProgress: true });
      check(!result.isError, `tools/call ${name}: isError: ${text}`);
      const min = p.min_notifications ?? 1;
      check(events.length >= min, `progress: ${events.length} notifications for ${name}, expected at least ${min}`);
      for (let i = 1; i < events.length; i++) check(events[i].progress > events[i - 1].progress, "progress: values must increase");
      return { tool: name, notifications: events.length, last: events.at(-1) ?? null };
    },
    resources: async () => {
      const p = plan.resources;
      const list = await withTimeout(client.listResources(), t, "resources/list");
      const uris = list.resources.map((r) => r.uri);
      if (p.min_count !== undefined) check(uris.length >= p.min_count, `resources/list: ${uris.length} resources, expected at least ${p.min_count}`);
      const out = { count: uris.length, uris: uris.slice(0, 50) };
      if (p.read) {
        const uri = pickUri(p.read, uris);
        const read = await withTimeout(client.readResource({ uri }), t, `resources/read ${uri}`);
        check(read.contents.length > 0, `resources/read ${uri}: no contents`);
        const body = read.contents.map((c) => c.text ?? c.blob ?? "").join("");
        if (p.read.expect_text) check(body.includes(p.read.expect_text), `resources/read ${uri}: lacks ${JSON.stringify(p.read.expect_text)}`);
        out.read = { uri, bytes: body.length };
      }
      if (p.templates) {
        const templ = await withTimeout(client.listResourceTemplates(), t, "resources/templates/list");
        check(templ.resourceTemplates.length >= (p.templates.min_count ?? 1), "resources/templates/list: too few templates");
        out.templates = templ.resourceTemplates.map((x) => x.uriTemplate);
      }
      return out;
    },
    subscribe: async () => {
      const p = plan.subscribe;
      const list = await withTimeout(client.listResources(), t, "resources/list");
      const uri = pickUri(p, list.resources.map((r) => r.uri));
      await withTimeout(client.subscribeResource({ uri }), t, `resources/subscribe ${uri}`);
      if (p.trigger) await call(p.trigger);
      const deadline = Date.now() + (p.timeout_ms ?? 15000);
      while (!seen.updated.includes(uri) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      check(seen.updated.includes(uri), `subscribe: no notifications/resources/updated for ${uri} within ${p.timeout_ms ?? 15000} ms (got ${JSON.stringify(seen.updated)})`);
      await withTimeout(client.unsubscribeResource({ uri }), t, `resources/unsubscribe ${uri}`);
      if (p.trigger_off) await call(p.trigger_off);
      return { uri, updates: seen.updated.filter((u) => u === uri).length };
    },
    prompts: async () => {
      const p = plan.prompts;
      const list = await withTimeout(client.listPrompts(), t, "prompts/list");
      const names = list.prompts.map((x) => x.name);
      if (p.min_count !== undefined) check(names.length >= p.min_count, `prompts/list: ${names.length} prompts, expected at least ${p.min_count}`);
      const out = { count: names.length, names };
      if (p.get) {
        const name = resolveName(p.get.name, names, "prompt");
        const got = await withTimeout(client.getPrompt({ name, arguments: p.get.arguments ?? {} }), t, `prompts/get ${name}`);
        check(got.messages.length > 0, `prompts/get ${name}: no messages`);
        const text = got.messages.map((m) => textOf([m.content])).join("\n");
        if (p.get.expect_text) check(text.includes(p.get.expect_text), `prompts/get ${name}: lacks ${JSON.stringify(p.get.expect_text)}: ${text.slice(0, 300)}`);
        out.get = { name, messages: got.messages.length };
      }
      return out;
    },
    completion: async () => {
      const p = plan.completion;
      const ref = { ...p.ref };
      if (ref.type === "ref/prompt") ref.name = resolveName(ref.name, (await withTimeout(client.listPrompts(), t, "prompts/list")).prompts.map((x) => x.name), "prompt");
      const got = await withTimeout(client.complete({ ref, argument: p.argument, ...(p.context ? { context: p.context } : {}) }), t, "completion/complete");
      const values = got.completion.values;
      if (p.expect_value) check(values.includes(p.expect_value), `completion/complete: ${JSON.stringify(values)} lacks ${p.expect_value}`);
      return { values };
    },
    logging: async () => {
      await withTimeout(client.setLoggingLevel(plan.logging.level ?? "debug"), t, "logging/setLevel");
      if (plan.logging.trigger) await call(plan.logging.trigger);
      const min = plan.logging.min_messages ?? 0;
      const deadline = Date.now() + (plan.logging.timeout_ms ?? 10000);
      while (seen.logs.length < min && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      check(seen.logs.length >= min, `logging: ${seen.logs.length} notifications/message, expected at least ${min}`);
      if (plan.logging.trigger_off) await call(plan.logging.trigger_off);
      return { level: plan.logging.level ?? "debug", messages: seen.logs.length };
    },
    sampling: async () => {
      const before = seen.sampling.length;
      const { name, result, text } = await call(plan.sampling);
      check(!result.isError, `tools/call ${name}: isError: ${text}`);
      check(seen.sampling.length > before, `sampling: ${name} returned without sending sampling/createMessage`);
      check(text.includes(CANNED_SAMPLING_TEXT), `sampling: ${name} result lacks the canned answer: ${text.slice(0, 300)}`);
      return { tool: name, requests: seen.sampling.length - before };
    },
    elicitation: async () => {
      const before = seen.elicitation.length;
      const { name, result, text } = await call(plan.elicitation);
      check(!result.isError, `tools/call ${name}: isError: ${text}`);
      check(seen.elicitation.length > before, `elicitation: ${name} returned without sending elicitation/create`);
      const expect = plan.elicitation.expect_text ?? "vecgate-canned";
      check(text.includes(expect), `elicitation: ${name} result lacks ${JSON.stringify(expect)}: ${text.slice(0, 300)}`);
      return { tool: name, requests: seen.elicitation.length - before };
    },
    ping: async () => {
      const started = performance.now();
      await withTimeout(client.ping(), t, "ping");
      return { ms: Math.round(performance.now() - started) };
    },
    cancel: async () => {
      const p = plan.cancel;
      const name = await toolName(p.tool);
      const controller = new AbortController();
      const started = performance.now();
      const pending = client.callTool({ name, arguments: p.arguments ?? {} }, undefined, { signal: controller.signal, timeout: t });
      setTimeout(() => controller.abort("vecgate test cancels"), p.after_ms ?? 300);
      let outcome;
      try {
        await withTimeout(pending, t, `tools/call ${name}`);
        outcome = "completed";
      } catch (e) {
        outcome = String(e?.message ?? e);
      }
      const ms = performance.now() - started;
      check(outcome !== "completed", `cancel: ${name} completed although cancelled`);
      check(ms < (p.max_ms ?? 5000), `cancel: the cancelled call took ${Math.round(ms)} ms to give up`);
      // The session must survive a cancellation.
      await withTimeout(client.ping(), t, "ping after cancel");
      return { tool: name, ms: Math.round(ms), error: outcome.slice(0, 200) };
    },
  };

  for (const s of selected) {
    const started = performance.now();
    try {
      const result = await scenarios[s]();
      report.scenarios[s] = { ok: true, ms: Math.round(performance.now() - started), ...result };
    } catch (e) {
      report.ok = false;
      const message = `${e?.message ?? e}`;
      report.failures.push(message);
      report.scenarios[s] = { ok: false, ms: Math.round(performance.now() - started), error: message };
      if (s === "initialize") break;
    }
  }
  try {
    await withTimeout(client.close(), 5000, "close");
  } catch (e) {
    report.failures.push(`close: ${e?.message ?? e}`);
    report.ok = false;
  }
  process.stdout.write(JSON.stringify(report, null, 1) + "\n");
  if (!report.ok) process.stderr.write(`driver.mjs: FAILED: ${report.failures.join("; ")}\n`);
  process.exit(report.ok ? 0 : 1);
}

main().catch((e) => {
  process.stderr.write(`driver.mjs: ${e?.stack ?? e}\n`);
  process.exit(1);
});
