"""A stateful fake of the few Cloudflare API v4 endpoints botguard uses (aiohttp, 127.0.0.1).

The real SDK talks to it through ``base_url``. It keeps accounts' IP lists (items, async bulk
operations that complete after a number of polls, one pending operation per account) and zones'
``http_request_firewall_custom`` entrypoints (rule ids, refs, versions), answers in the
documented envelope, logs every request and counts writes (a ``?dry_run=true`` request is
validated, never applied, and not counted as a write). Faults are queued per (method, route
name), optionally for one zone only: a 429 with Retry-After, a 5-minute lockout, a "lost
response" (the write is applied, then a 500 is returned).

Tokens carry permission groups ("Account Filter Lists Edit", "Zone WAF Read", ... optionally
for one zone or account: "Zone WAF Edit@<zone id>"); Edit includes Read; a request the token
may not make gets 403 with code 10000, as Cloudflare answers. ``/user/tokens/verify`` (and the
account-owned form) answers for any known token; a token's own policies are readable only with
"API Tokens Read" ("Account API Tokens Read" for an account-owned token).

Deliberately permissive where the real API is strict only if a test asks for it
(``unique_refs=False``), so a test can *see* a duplicated rule instead of an API error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PHASE = "http_request_firewall_custom"
TOKEN = "test-token"
_NAME = re.compile(r"^[a-z0-9_]{1,50}$")


LISTS_READ, LISTS_EDIT = "Account Filter Lists Read", "Account Filter Lists Edit"
WAF_READ, WAF_EDIT = "Zone WAF Read", "Zone WAF Edit"
FULL = frozenset({LISTS_EDIT, WAF_EDIT})


@dataclass
class Fault:
    """One injected failure for the next matching request."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    apply_first: bool = False  # lost response: do the write, then fail
    zone: str | None = None  # only for requests to this zone
    dry_run: bool = False  # also for ?dry_run=true requests (by default a fault waits for the real write)


@dataclass
class FakeToken:
    """An API token: its id, permission groups, owner (``user`` or an account id) and status."""

    id: str
    grants: frozenset[str] = FULL
    owner: str = "user"
    status: str = "active"

    def may(self, group: str, scope: str) -> bool:
        return group in self.grants or f"{group}@{scope}" in self.grants


@dataclass
class FakeState:
    """Everything the fake knows; tests seed and inspect it directly."""

    lists: dict[str, dict[str, Any]] = field(default_factory=dict)  # list id -> list (+ "items")
    entrypoints: dict[str, dict[str, Any]] = field(default_factory=dict)  # zone id -> ruleset
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)  # operation id -> {status, polls, account}
    log: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    queries: list[str] = field(default_factory=list)  # the query string of each logged request
    headers: list[dict[str, str]] = field(default_factory=list)
    tokens: dict[str, FakeToken] = field(default_factory=lambda: {TOKEN: FakeToken("7" * 32)})
    faults: dict[tuple[str, str], list[Fault]] = field(default_factory=dict)
    lockout: int = 0  # while > 0 every request gets 429 retry-after 300 (decremented per request)
    polls_to_complete: int = 2
    fail_ops: bool = False  # bulk operations end "failed" (the write is not applied)
    unique_refs: bool = True
    rule_quota: int = 20
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def writes(self) -> list[tuple[str, str]]:
        """Requests that may change state (dry runs excluded: they are validated, never applied)."""
        return [(m, p) for (m, p), q in zip(self.log, self.queries, strict=True)
                if m != "GET" and "dry_run=true" not in q]  # fmt: skip

    @property
    def dry_runs(self) -> list[tuple[str, str]]:
        return [(m, p) for (m, p), q in zip(self.log, self.queries, strict=True) if "dry_run=true" in q]

    def token(self, grants: set[str] | frozenset[str], owner: str = "user", value: str = TOKEN) -> None:
        """Replace the token ``value`` by one with exactly these permission groups."""
        self.tokens[value] = FakeToken(self.tokens[value].id if value in self.tokens else self.new_id(),
                                       frozenset(grants), owner)  # fmt: skip

    def new_id(self) -> str:
        return f"{next(self.ids):032x}"

    def fail(self, method: str, route: str, fault: Fault, times: int = 1) -> None:
        self.faults.setdefault((method, route), []).extend([fault] * times)


def envelope(result: Any, status: int = 200, errors: list[dict] | None = None, info: dict | None = None,
             headers: dict[str, str] | None = None) -> web.Response:  # fmt: skip
    body: dict[str, Any] = {"success": not errors, "errors": errors or [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return web.json_response(body, status=status, headers=headers)


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return envelope(None, status, [{"code": code, "message": message}], headers=headers)


class FakeCloudflare:
    """The aiohttp app plus its state; :meth:`routes` maps (method, path) to handlers."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        app = web.Application(middlewares=[self._middleware])
        a, z = "/client/v4/accounts/{account}", "/client/v4/zones/{zone}"
        self.names: dict[str, str] = {}
        for i, (method, path, name, handler) in enumerate(
            [
                ("GET", "/client/v4/user/tokens/verify", "verify", self.verify),
                ("GET", a + "/tokens/verify", "verify", self.verify),
                ("GET", "/client/v4/user/tokens/{token}", "token", self.token_get),
                ("GET", a + "/tokens/{token}", "token", self.token_get),
                ("GET", a + "/rules/lists", "lists", self.lists_get),
                ("POST", a + "/rules/lists", "lists", self.lists_create),
                ("GET", a + "/rules/lists/bulk_operations/{op}", "bulk_op", self.bulk_op),
                ("GET", a + "/rules/lists/{list}", "list", self.list_get),
                ("GET", a + "/rules/lists/{list}/items", "items", self.items_get),
                ("POST", a + "/rules/lists/{list}/items", "items", self.items_append),
                ("PUT", a + "/rules/lists/{list}/items", "items", self.items_replace),
                ("DELETE", a + "/rules/lists/{list}/items", "items", self.items_delete),
                ("GET", z + "/rulesets/phases/{phase}/entrypoint", "entrypoint", self.entry_get),
                ("PUT", z + "/rulesets/phases/{phase}/entrypoint", "entrypoint", self.entry_put),
                ("POST", z + "/rulesets", "rulesets", self.ruleset_create),
                ("POST", z + "/rulesets/{rs}/rules", "rules", self.rule_create),
                ("PATCH", z + "/rulesets/{rs}/rules/{rule}", "rule", self.rule_edit),
                ("DELETE", z + "/rulesets/{rs}/rules/{rule}", "rule", self.rule_delete),
            ]
        ):
            app.router.add_route(method, path, handler, name=f"r{i}")
            self.names[f"r{i}"] = name
        self.app = app

    # ------------------------------------------------------------ plumbing

    def _required(self, request: web.Request, name: str) -> tuple[str | None, str, str]:
        """The permission group a request needs (None: any valid token), its read twin and scope."""
        if name in ("lists", "list", "items", "bulk_op"):
            group, read, scope = LISTS_EDIT, LISTS_READ, request.match_info["account"]
        elif name in ("entrypoint", "rulesets", "rules", "rule"):
            group, read, scope = WAF_EDIT, WAF_READ, request.match_info["zone"]
        elif name == "token":
            account = request.match_info.get("account")
            return ("Account API Tokens Read" if account else "API Tokens Read"), "", account or "user"
        else:
            return None, "", ""
        return group, (read if request.method == "GET" else group), scope

    def _fault(self, request: web.Request, name: str) -> Fault | None:
        queue = self.state.faults.get((request.method, name)) or []
        dry = request.query.get("dry_run") == "true"
        for i, fault in enumerate(queue):
            if (fault.zone is None or fault.zone == request.match_info.get("zone")) and (
                fault.dry_run or not dry
            ):
                return queue.pop(i)
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        s = self.state
        s.log.append((request.method, request.path))
        s.queries.append(request.query_string)
        s.headers.append(dict(request.headers))
        route = request.match_info.route
        name = self.names.get(route.name or "", "")
        auth = request.headers.get("Authorization", "")
        token = s.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if token is None:
            return (
                error(401, 1000, "Invalid API Token")
                if name == "verify"
                else error(401, 10000, "Authentication error")
            )
        if s.lockout > 0:
            s.lockout -= 1
            return error(429, 10000, "Rate limited: global limit", {"Retry-After": "300"})
        group, needed, scope = self._required(request, name)
        if group is not None and not (
            token.may(group, scope) or (needed != group and token.may(needed, scope))
        ):
            if name in ("entrypoint", "rulesets", "rules", "rule"):  # rulesets say it without a code
                return envelope(None, 403, [{"message": "request is not authorized"}])
            return error(403, 10000, "Authentication error")
        fault = self._fault(request, name)
        if fault and not fault.apply_first:
            return error(
                fault.status, 10013 if fault.status == 429 else 10001, "injected fault", fault.headers
            )
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            return error(404, 7003, "Could not route to the requested resource")
        if fault:  # lost response: applied, the client never hears
            return error(fault.status, 10002, "injected lost response", fault.headers)
        return response

    # ------------------------------------------------------------ tokens

    def _token(self, request: web.Request) -> FakeToken:
        return self.state.tokens[request.headers["Authorization"].removeprefix("Bearer ")]

    async def verify(self, request: web.Request) -> web.Response:
        token, account = self._token(request), request.match_info.get("account")
        if (token.owner == "user") != (account is None) or (account and token.owner != account):
            return error(401, 1000, "Invalid API Token")
        return envelope({"id": token.id, "status": token.status, "expires_on": None, "not_before": None})

    async def token_get(self, request: web.Request) -> web.Response:
        token = next((t for t in self.state.tokens.values() if t.id == request.match_info["token"]), None)
        if token is None:
            raise web.HTTPNotFound()
        policies = []
        for i, grant in enumerate(sorted(token.grants)):
            group, _, scope = grant.partition("@")
            if group.startswith("Zone"):
                key = f"com.cloudflare.api.account.zone.{scope or '*'}"
            else:
                key = f"com.cloudflare.api.account.{scope or '*'}"
            policies.append({"id": f"{i:032x}", "effect": "allow", "resources": {key: "*"},
                             "permission_groups": [{"id": f"{i + 100:032x}", "name": group}]})  # fmt: skip
        return envelope({"id": token.id, "name": "botguard", "status": token.status, "policies": policies,
                         "issued_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z"})  # fmt: skip

    # ------------------------------------------------------------ lists

    def _public_list(self, lst: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in lst.items() if k != "items"}
        out["num_items"] = len(lst["items"])
        return out

    async def lists_get(self, request: web.Request) -> web.Response:
        acct = request.match_info["account"]
        return envelope([self._public_list(x) for x in self.state.lists.values() if x["account"] == acct])

    async def lists_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        acct = request.match_info["account"]
        if not _NAME.match(body.get("name", "")) or body.get("kind") != "ip":
            return error(400, 10001, "invalid list name or kind")
        if any(x["name"] == body["name"] and x["account"] == acct for x in self.state.lists.values()):
            return error(400, 10001, "list name already exists")
        lid = self.state.new_id()
        self.state.lists[lid] = {"id": lid, "account": acct, "name": body["name"], "kind": "ip",
                                 "description": body.get("description", ""), "num_referencing_filters": 0,
                                 "created_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z",
                                 "items": {}}  # fmt: skip
        return envelope(self._public_list(self.state.lists[lid]))

    def _list(self, request: web.Request) -> dict[str, Any]:
        lst = self.state.lists.get(request.match_info["list"])
        if lst is None:
            raise web.HTTPNotFound()
        return lst

    async def list_get(self, request: web.Request) -> web.Response:
        return envelope(self._public_list(self._list(request)))

    async def items_get(self, request: web.Request) -> web.Response:
        items = list(self._list(request)["items"].values())
        per_page = min(int(request.query.get("per_page", "500")), 500)
        start = int(request.query.get("cursor", "0"))
        page = items[start : start + per_page]
        cursors = {"after": str(start + per_page)} if start + per_page < len(items) else {}
        return envelope(page, info={"cursors": cursors})

    def _pending(self, account: str) -> bool:
        return any(
            op["account"] == account and op["status"] not in ("completed", "failed")
            for op in self.state.ops.values()
        )

    def _operation(self, account: str) -> web.Response:
        oid = self.state.new_id()
        self.state.ops[oid] = {"account": account, "status": "pending", "polls": self.state.polls_to_complete}
        return envelope({"operation_id": oid})

    @staticmethod
    def _check_ip(value: str) -> bool:
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError:
            return False
        return net.version == 4 or net.prefixlen <= 64

    async def _items_write(self, request: web.Request, replace: bool) -> web.Response:
        lst = self._list(request)
        if self._pending(lst["account"]):
            return error(429, 10045, "a bulk operation is already pending")
        body = await request.json()
        if not all(self._check_ip(item.get("ip", "")) for item in body):
            return error(400, 10001, "invalid IP list item")
        if replace:
            lst["items"] = {}
        existing = {i["ip"] for i in lst["items"].values()}
        for item in body:
            if item["ip"] not in existing:
                iid = self.state.new_id()
                lst["items"][iid] = {"id": iid, "ip": item["ip"], "comment": item.get("comment", ""),
                                     "created_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z"}  # fmt: skip
        if sum(len(x["items"]) for x in self.state.lists.values()) > 10_000:
            return error(400, 10001, "list item limit exceeded")
        return self._operation(lst["account"])

    async def items_append(self, request: web.Request) -> web.Response:
        return await self._items_write(request, replace=False)

    async def items_replace(self, request: web.Request) -> web.Response:
        return await self._items_write(request, replace=True)

    async def items_delete(self, request: web.Request) -> web.Response:
        lst = self._list(request)
        if self._pending(lst["account"]):
            return error(429, 10045, "a bulk operation is already pending")
        for item in (await request.json()).get("items", []):
            lst["items"].pop(item["id"], None)
        return self._operation(lst["account"])

    async def bulk_op(self, request: web.Request) -> web.Response:
        op = self.state.ops.get(request.match_info["op"])
        if op is None:
            raise web.HTTPNotFound()
        op["polls"] -= 1
        if op["polls"] <= 0:
            op["status"] = "failed" if self.state.fail_ops else "completed"
        oid = request.match_info["op"]
        if op["status"] == "failed":
            return envelope({"id": oid, "status": "failed", "completed": "2026-01-01T00:00:00Z",
                             "error": "This list is at the maximum number of items"})  # fmt: skip
        if op["status"] == "completed":
            return envelope({"id": oid, "status": "completed", "completed": "2026-01-01T00:00:00Z"})
        return envelope({"id": oid, "status": "running" if op["polls"] == 1 else "pending"})

    # ------------------------------------------------------------ rulesets

    def _entry(self, request: web.Request) -> dict[str, Any]:
        entry = self.state.entrypoints.get(request.match_info["zone"])
        if entry is None or ("rs" in request.match_info and entry["id"] != request.match_info["rs"]):
            raise web.HTTPNotFound()
        return entry

    def _new_rule(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        rule = {k: v for k, v in body.items() if k in ("action", "expression", "description", "enabled", "ref",
                                                          "action_parameters", "logging")}  # fmt: skip
        rule.setdefault("enabled", True)
        rule["id"] = body.get("id") or self.state.new_id()
        rule.setdefault("ref", rule["id"])
        rule["version"] = version
        rule["last_updated"] = "2026-01-01T00:00:00Z"
        return rule

    def _invalid(self, entry: dict[str, Any], rule: dict[str, Any]) -> web.Response | None:
        if rule.get("action") not in (
            "block",
            "managed_challenge",
            "js_challenge",
            "challenge",
            "log",
            "skip",
        ):
            return error(400, 20021, "invalid action")
        if len(rule.get("expression", "")) > 4096 or not rule.get("expression"):
            return error(400, 20200, "expression too long or empty")
        refs = [r["ref"] for r in entry["rules"] if r["id"] != rule["id"]]
        if self.state.unique_refs and rule["ref"] in refs:
            return error(400, 20217, "ref must be unique")
        return None

    def _bump(self, entry: dict[str, Any]) -> None:
        entry["version"] = str(int(entry["version"]) + 1)
        entry["last_updated"] = "2026-01-01T00:00:00Z"

    async def entry_get(self, request: web.Request) -> web.Response:
        return envelope(self._entry(request))

    async def entry_put(self, request: web.Request) -> web.Response:
        entry = self._entry(request)
        body = await request.json()
        rules = [self._new_rule(r, entry["version"]) for r in body.get("rules", [])]
        entry["rules"] = rules
        self._bump(entry)
        return envelope(entry)

    async def ruleset_create(self, request: web.Request) -> web.Response:
        zone = request.match_info["zone"]
        body = await request.json()
        if zone in self.state.entrypoints or body.get("phase") != PHASE:
            return error(400, 20016, "entrypoint exists or wrong phase")
        entry = {"id": self.state.new_id(), "kind": "zone", "name": body.get("name", "default"), "phase": PHASE,
                 "version": "1", "last_updated": "2026-01-01T00:00:00Z", "description": "", "rules": []}  # fmt: skip
        for raw in body.get("rules", []):
            rule = self._new_rule(raw, "1")
            if (bad := self._invalid(entry, rule)) is not None:
                return bad
            entry["rules"].append(rule)
        if request.query.get("dry_run") == "true":
            return envelope(None)
        self.state.entrypoints[zone] = entry
        return envelope(entry)

    async def rule_create(self, request: web.Request) -> web.Response:
        entry = self._entry(request)
        body = await request.json()
        rule = self._new_rule(body, str(int(entry["version"]) + 1))
        if (bad := self._invalid(entry, rule)) is not None:
            return bad
        if len(entry["rules"]) >= self.state.rule_quota:
            return error(400, 20215, "rule quota exceeded")
        if request.query.get("dry_run") == "true":
            return envelope(None)
        position = body.get("position") or {}
        index = position.get("index", len(entry["rules"]) + 1) - 1
        entry["rules"].insert(index, rule)
        self._bump(entry)
        return envelope(entry)

    def _rule(self, entry: dict[str, Any], rule_id: str) -> dict[str, Any]:
        for rule in entry["rules"]:
            if rule["id"] == rule_id:
                return rule
        raise web.HTTPNotFound()

    async def rule_edit(self, request: web.Request) -> web.Response:
        entry = self._entry(request)
        rule = self._rule(entry, request.match_info["rule"])
        merged = {**rule, **{k: v for k, v in (await request.json()).items() if k != "position"}}
        if (bad := self._invalid(entry, merged)) is not None:
            return bad
        if request.query.get("dry_run") == "true":
            return envelope(None)
        rule.update(merged)
        self._bump(entry)
        rule["version"] = entry["version"]
        return envelope(entry)

    async def rule_delete(self, request: web.Request) -> web.Response:
        entry = self._entry(request)
        rule = self._rule(entry, request.match_info["rule"])
        if request.query.get("dry_run") == "true":
            return envelope(None)
        entry["rules"].remove(rule)
        self._bump(entry)
        return envelope(entry)


class FakeServer:
    """Runs a :class:`FakeCloudflare` on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self, state: FakeState | None = None) -> None:
        self.state = state or FakeState()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/v4"

    def start(self) -> FakeServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self) -> None:
        self.runner = web.AppRunner(FakeCloudflare(self.state).app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def dumps(value: Any) -> str:
    """Canonical JSON of a fake object (byte-for-byte comparisons in tests)."""
    return json.dumps(value, sort_keys=True)
