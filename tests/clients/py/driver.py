#!/usr/bin/env python3
"""A real MCP client (the official Python SDK, `mcp==2.3.0`) that runs named scenarios against
one MCP server and prints a JSON report on stdout.

The twin of ../ts/driver.mjs: same arguments, same plan files (../plans/*.json), same report
shape, same canned answers. vecgate's end-to-end tests run it directly against a backend and
through vecgate.

Usage:
  python driver.py (--url URL | --stdio CMD [ARG...] --) --plan FILE [--scenarios a,b,c]
                   [--timeout-ms N]
Exit 0 when every selected scenario passed, 1 when one failed (the report says which and why),
2 on bad usage.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

import anyio
import mcp_types as types
from mcp.client.session import ClientRequestContext, ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning

# The driver exercises 2025-11-25 features on purpose; their 2026-07-28 deprecation is not news.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

ALL_SCENARIOS = [
    "initialize", "tools", "calls", "progress", "resources", "subscribe", "prompts",
    "completion", "logging", "sampling", "elicitation", "ping", "cancel",
]
CANNED_SAMPLING_TEXT = "vecgate-canned-sampling-answer"
CANNED_ELICITATION_TEXT = "vecgate-canned-elicitation"


class ScenarioFailed(Exception):
    """A check of a scenario did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioFailed(message)


def usage(message: str) -> None:
    sys.stderr.write(f"driver.py: {message}\n")
    sys.exit(2)


def parse_args(argv: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {"scenarios": None, "timeout_ms": 30000, "url": None, "stdio": None, "plan": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--url":
            i += 1
            args["url"] = argv[i]
        elif a == "--plan":
            i += 1
            args["plan"] = argv[i]
        elif a == "--scenarios":
            i += 1
            args["scenarios"] = [s for s in argv[i].split(",") if s]
        elif a == "--timeout-ms":
            i += 1
            args["timeout_ms"] = int(argv[i])
        elif a == "--stdio":
            rest = []
            i += 1
            while i < len(argv) and argv[i] != "--":
                rest.append(argv[i])
                i += 1
            if not rest:
                usage("--stdio needs a command")
            args["stdio"] = rest
        else:
            usage(f"unknown argument {a}")
        i += 1
    if (args["url"] is None) == (args["stdio"] is None):
        usage("give exactly one of --url or --stdio")
    if args["plan"] is None:
        usage("--plan is required")
    return args


def canned_value(prop: dict[str, Any]) -> Any:
    """A value for one elicitation form property that satisfies its schema (as plan.mjs)."""
    if "const" in prop:
        return prop["const"]
    if prop.get("enum"):
        return prop["enum"][0]
    for key in ("oneOf", "anyOf"):
        if prop.get(key):
            return canned_value(prop[key][0])
    kind = prop.get("type")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        if "default" in prop:
            return prop["default"]
        if "minimum" in prop:
            return prop["minimum"]
        return min(1, prop["maximum"]) if "maximum" in prop else 1
    if kind == "array":
        item = prop.get("items", {})
        n = max(1, prop.get("minItems", 1))
        pool = item.get("enum") or [x.get("const") for x in item.get("anyOf", item.get("oneOf", []))]
        return pool[:n] if pool else [canned_value(item)] * n
    return {
        "email": "canned@vecgate.test",
        "uri": "https://vecgate.test/canned",
        "date": "2000-01-01",
        "date-time": "2000-01-01T00:00:00Z",
    }.get(prop.get("format", ""), CANNED_ELICITATION_TEXT)


def text_of(content: list[Any]) -> str:
    parts = []
    for c in content or []:
        if isinstance(c, types.TextContent):
            parts.append(c.text)
        elif isinstance(c, types.EmbeddedResource) and isinstance(c.resource, types.TextResourceContents):
            parts.append(c.resource.text)
    return "\n".join(parts)


def resolve_name(name: str, listed: list[str], kind: str) -> str:
    """The listed name a plan's name stands for: itself, or its one `{pool}__{name}` form."""
    if name in listed:
        return name
    namespaced = [n for n in listed if n.endswith(f"__{name}")]
    if len(namespaced) == 1:
        return namespaced[0]
    raise ScenarioFailed(f"{kind} {name!r} not listed ({len(namespaced)} namespaced matches among {len(listed)})")


def pick_uri(spec: dict[str, Any], uris: list[str]) -> str:
    if "uri" in spec:
        if spec["uri"] not in uris and not spec.get("unlisted"):
            raise ScenarioFailed(f"resource {spec['uri']} not listed")
        return spec["uri"]
    for u in uris:
        if spec["uri_contains"] in u:
            return u
    raise ScenarioFailed(f"no listed resource URI contains {spec['uri_contains']!r} (listed: {uris[:10]})")


class Driver:
    """One client session and the scenarios run on it."""

    def __init__(self, plan: dict[str, Any], timeout_s: float) -> None:
        self.plan = plan
        self.timeout_s = timeout_s
        self.session: ClientSession | None = None
        self.tools: tuple[list[types.Tool], int] | None = None
        self.sampling: list[Any] = []
        self.elicitation: list[Any] = []
        self.updated: list[str] = []
        self.logs: list[str] = []

    # --- callbacks the client registers (these make it advertise sampling and elicitation) ---
    async def on_sampling(self, context: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.sampling.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=CANNED_SAMPLING_TEXT),
            model="vecgate-canned-model",
            stop_reason="endTurn",
        )

    async def on_elicitation(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicitation.append(params)
        schema = getattr(params, "requested_schema", None) or {}
        if not isinstance(schema, dict):
            schema = schema.model_dump(by_alias=True, exclude_none=True)
        content = {k: canned_value(v) for k, v in schema.get("properties", {}).items()}
        return types.ElicitResult(action="accept", content=content)

    async def on_logging(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params.level)

    async def on_message(self, message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.updated.append(str(message.params.uri))

    # --- helpers ---
    @property
    def s(self) -> ClientSession:
        assert self.session is not None
        return self.session

    async def timed(self, what: str, awaitable: Any) -> Any:
        with anyio.fail_after(self.timeout_s):
            try:
                return await awaitable
            except TimeoutError:
                raise
            except ScenarioFailed:
                raise
            except Exception as e:  # the SDK's MCPError and transport errors
                raise ScenarioFailed(f"{what}: {type(e).__name__}: {e}") from e

    async def list_tools(self) -> tuple[list[types.Tool], int]:
        if self.tools is None:
            tools: list[types.Tool] = []
            cursor = None
            pages = 0
            while True:
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await self.timed("tools/list", self.s.list_tools(params=params))
                tools.extend(page.tools)
                pages += 1
                cursor = page.next_cursor
                check(pages <= 1000, "tools/list: more than 1000 pages (cursor loop?)")
                if not cursor:
                    break
            self.tools = (tools, pages)
        return self.tools

    async def tool_name(self, name: str) -> str:
        tools, _ = await self.list_tools()
        return resolve_name(name, [t.name for t in tools], "tool")

    async def call(self, section: dict[str, Any], progress: Any = None) -> tuple[str, types.CallToolResult, str]:
        name = await self.tool_name(section["tool"])
        result = await self.timed(
            f"tools/call {name}",
            self.s.call_tool(name, section.get("arguments", {}), progress_callback=progress),
        )
        return name, result, text_of(result.content)

    async def wait_for(self, condition: Any, timeout_ms: int) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        while not condition() and time.monotonic() < deadline:
            await anyio.sleep(0.05)

    # --- scenarios ---
    async def initialize(self) -> dict[str, Any]:
        result = await self.timed("initialize", self.s.initialize())
        return {
            "serverInfo": result.server_info.model_dump(by_alias=True, exclude_none=True),
            "capabilities": result.capabilities.model_dump(by_alias=True, exclude_none=True),
            "protocolVersion": result.protocol_version,
        }

    async def tools_(self) -> dict[str, Any]:
        tools, pages = await self.list_tools()
        names = [t.name for t in tools]
        p = self.plan["tools"]
        check(len(set(names)) == len(names), "tools/list: duplicate tool names across pages")
        if "min_count" in p:
            check(len(names) >= p["min_count"], f"tools/list: {len(names)} tools, expected at least {p['min_count']}")
        if "min_pages" in p:
            check(pages >= p["min_pages"], f"tools/list: {pages} pages, expected at least {p['min_pages']}")
        for n in p.get("must_include", []):
            resolve_name(n, names, "tool")
        return {"count": len(names), "pages": pages, "names": names}

    async def calls(self) -> dict[str, Any]:
        out = []
        for c in self.plan["calls"]:
            name, result, text = await self.call(c)
            check(not result.is_error, f"tools/call {name}: isError: {text}")
            if "expect_text" in c:
                check(c["expect_text"] in text, f"tools/call {name}: result lacks {c['expect_text']!r}: {text[:300]}")
            out.append({"tool": name, "text": text[:500]})
        return {"calls": out}

    async def progress(self) -> dict[str, Any]:
        p = self.plan["progress"]
        events: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            events.append(progress)

        name, result, text = await self.call(p, progress=on_progress)
        check(not result.is_error, f"tools/call {name}: isError: {text}")
        minimum = p.get("min_notifications", 1)
        check(len(events) >= minimum, f"progress: {len(events)} notifications for {name}, expected at least {minimum}")
        check(all(b > a for a, b in zip(events, events[1:])), "progress: values must increase")
        return {"tool": name, "notifications": len(events), "last": events[-1] if events else None}

    async def resources(self) -> dict[str, Any]:
        p = self.plan["resources"]
        listed = await self.timed("resources/list", self.s.list_resources())
        uris = [str(r.uri) for r in listed.resources]
        if "min_count" in p:
            check(len(uris) >= p["min_count"], f"resources/list: {len(uris)} resources, expected at least {p['min_count']}")
        out: dict[str, Any] = {"count": len(uris), "uris": uris[:50]}
        if "read" in p:
            uri = pick_uri(p["read"], uris)
            read = await self.timed(f"resources/read {uri}", self.s.read_resource(uri))
            check(len(read.contents) > 0, f"resources/read {uri}: no contents")
            body = "".join(getattr(c, "text", None) or getattr(c, "blob", "") for c in read.contents)
            if "expect_text" in p["read"]:
                check(p["read"]["expect_text"] in body, f"resources/read {uri}: lacks {p['read']['expect_text']!r}")
            out["read"] = {"uri": uri, "bytes": len(body)}
        if "templates" in p:
            templ = await self.timed("resources/templates/list", self.s.list_resource_templates())
            check(len(templ.resource_templates) >= p["templates"].get("min_count", 1), "resources/templates/list: too few templates")
            out["templates"] = [t.uri_template for t in templ.resource_templates]
        return out

    async def subscribe(self) -> dict[str, Any]:
        p = self.plan["subscribe"]
        listed = await self.timed("resources/list", self.s.list_resources())
        uri = pick_uri(p, [str(r.uri) for r in listed.resources])
        await self.timed(f"resources/subscribe {uri}", self.s.subscribe_resource(uri))
        if "trigger" in p:
            await self.call(p["trigger"])
        timeout_ms = p.get("timeout_ms", 15000)
        await self.wait_for(lambda: uri in self.updated, timeout_ms)
        check(uri in self.updated, f"subscribe: no notifications/resources/updated for {uri} within {timeout_ms} ms (got {self.updated})")
        await self.timed(f"resources/unsubscribe {uri}", self.s.unsubscribe_resource(uri))
        if "trigger_off" in p:
            await self.call(p["trigger_off"])
        return {"uri": uri, "updates": self.updated.count(uri)}

    async def prompts(self) -> dict[str, Any]:
        p = self.plan["prompts"]
        listed = await self.timed("prompts/list", self.s.list_prompts())
        names = [x.name for x in listed.prompts]
        if "min_count" in p:
            check(len(names) >= p["min_count"], f"prompts/list: {len(names)} prompts, expected at least {p['min_count']}")
        out: dict[str, Any] = {"count": len(names), "names": names}
        if "get" in p:
            name = resolve_name(p["get"]["name"], names, "prompt")
            got = await self.timed(f"prompts/get {name}", self.s.get_prompt(name, p["get"].get("arguments", {})))
            check(len(got.messages) > 0, f"prompts/get {name}: no messages")
            text = "\n".join(text_of([m.content]) for m in got.messages)
            if "expect_text" in p["get"]:
                check(p["get"]["expect_text"] in text, f"prompts/get {name}: lacks {p['get']['expect_text']!r}: {text[:300]}")
            out["get"] = {"name": name, "messages": len(got.messages)}
        return out

    async def completion(self) -> dict[str, Any]:
        p = self.plan["completion"]
        ref = p["ref"]
        if ref["type"] == "ref/prompt":
            listed = await self.timed("prompts/list", self.s.list_prompts())
            name = resolve_name(ref["name"], [x.name for x in listed.prompts], "prompt")
            reference: Any = types.PromptReference(type="ref/prompt", name=name)
        else:
            reference = types.ResourceTemplateReference(type="ref/resource", uri=ref["uri"])
        got = await self.timed(
            "completion/complete",
            self.s.complete(reference, p["argument"], context_arguments=(p.get("context") or {}).get("arguments")),
        )
        values = list(got.completion.values)
        if "expect_value" in p:
            check(p["expect_value"] in values, f"completion/complete: {values} lacks {p['expect_value']}")
        return {"values": values}

    async def logging(self) -> dict[str, Any]:
        p = self.plan["logging"]
        level = p.get("level", "debug")
        await self.timed("logging/setLevel", self.s.set_logging_level(level))
        if "trigger" in p:
            await self.call(p["trigger"])
        minimum = p.get("min_messages", 0)
        await self.wait_for(lambda: len(self.logs) >= minimum, p.get("timeout_ms", 10000))
        check(len(self.logs) >= minimum, f"logging: {len(self.logs)} notifications/message, expected at least {minimum}")
        if "trigger_off" in p:
            await self.call(p["trigger_off"])
        return {"level": level, "messages": len(self.logs)}

    async def sampling_(self) -> dict[str, Any]:
        before = len(self.sampling)
        name, result, text = await self.call(self.plan["sampling"])
        check(not result.is_error, f"tools/call {name}: isError: {text}")
        check(len(self.sampling) > before, f"sampling: {name} returned without sending sampling/createMessage")
        check(CANNED_SAMPLING_TEXT in text, f"sampling: {name} result lacks the canned answer: {text[:300]}")
        return {"tool": name, "requests": len(self.sampling) - before}

    async def elicitation_(self) -> dict[str, Any]:
        before = len(self.elicitation)
        name, result, text = await self.call(self.plan["elicitation"])
        check(not result.is_error, f"tools/call {name}: isError: {text}")
        check(len(self.elicitation) > before, f"elicitation: {name} returned without sending elicitation/create")
        expect = self.plan["elicitation"].get("expect_text", "vecgate-canned")
        check(expect in text, f"elicitation: {name} result lacks {expect!r}: {text[:300]}")
        return {"tool": name, "requests": len(self.elicitation) - before}

    async def ping(self) -> dict[str, Any]:
        started = time.monotonic()
        await self.timed("ping", self.s.send_ping())
        return {"ms": round((time.monotonic() - started) * 1000)}

    async def cancel(self) -> dict[str, Any]:
        p = self.plan["cancel"]
        name = await self.tool_name(p["tool"])
        started = time.monotonic()
        completed = False
        # Leaving the scope cancels the call; the SDK then sends notifications/cancelled.
        with anyio.move_on_after(p.get("after_ms", 300) / 1000):
            await self.s.call_tool(name, p.get("arguments", {}))
            completed = True
        ms = (time.monotonic() - started) * 1000
        check(not completed, f"cancel: {name} completed before it could be cancelled")
        check(ms < p.get("max_ms", 5000), f"cancel: the cancelled call took {round(ms)} ms to give up")
        await self.timed("ping after cancel", self.s.send_ping())
        return {"tool": name, "ms": round(ms)}

    async def run(self, name: str) -> dict[str, Any]:
        method = {"tools": self.tools_, "sampling": self.sampling_, "elicitation": self.elicitation_}.get(name)
        return await (method or getattr(self, name))()


async def main() -> int:
    args = parse_args(sys.argv[1:])
    with open(args["plan"]) as f:
        plan = json.load(f)
    selected = args["scenarios"] or [s for s in ALL_SCENARIOS if s == "initialize" or s in plan]
    for s in selected:
        if s not in ALL_SCENARIOS:
            usage(f"unknown scenario {s}")
        if s != "initialize" and s not in plan:
            usage(f"plan {args['plan']} has no section for scenario {s}")
    target = args["url"] or " ".join(args["stdio"])
    report: dict[str, Any] = {"driver": "python", "sdk": "mcp==2.3.0", "target": target, "ok": True, "scenarios": {}, "failures": []}
    driver = Driver(plan, args["timeout_ms"] / 1000)

    if args["url"]:
        transport = streamable_http_client(args["url"])
    else:
        cmd = args["stdio"]
        transport = stdio_client(StdioServerParameters(command=cmd[0], args=cmd[1:]))

    async def scenarios() -> None:
        for s in selected:
            started = time.monotonic()
            try:
                result = await driver.run(s)
                report["scenarios"][s] = {"ok": True, "ms": round((time.monotonic() - started) * 1000), **result}
            except (ScenarioFailed, TimeoutError) as e:
                message = str(e) if isinstance(e, ScenarioFailed) else f"{s}: no answer within {args['timeout_ms']} ms"
                report["ok"] = False
                report["failures"].append(message)
                report["scenarios"][s] = {"ok": False, "ms": round((time.monotonic() - started) * 1000), "error": message}
                if s == "initialize":
                    return

    try:
        with anyio.fail_after(args["timeout_ms"] / 1000 * (len(selected) + 2)):
            async with transport as (read, write):
                async with ClientSession(
                    read,
                    write,
                    sampling_callback=driver.on_sampling,
                    elicitation_callback=driver.on_elicitation,
                    logging_callback=driver.on_logging,
                    message_handler=driver.on_message,
                    client_info=types.Implementation(name="vecgate-test-py", version="0.1.0"),
                ) as session:
                    driver.session = session
                    await scenarios()
    except Exception as e:  # transport failure outside any scenario (connect, close)
        report["ok"] = False
        report["failures"].append(f"transport: {type(e).__name__}: {e}")
    print(json.dumps(report, indent=1, default=str))
    if not report["ok"]:
        sys.stderr.write(f"driver.py: FAILED: {'; '.join(report['failures'])}\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
