"""A stand-in Grafana for ``dashboards push`` and ``GrafanaAnnotator``: real HTTP (aiohttp
on a loopback port, in a thread), each request checked against Grafana's documented HTTP API.

Grafana itself cannot run on these machines. What the fake checks, per endpoint, is taken
from Grafana's HTTP API reference (https://grafana.com/docs/grafana/latest/developers/http_api/
— pages folder, data_source, dashboard, annotations; the legacy ``/api`` routes, still
served by Grafana 11/12) and from the replies grafana-api-sdk 0.9.1 expects
(``grafana_api/folder.py`` create_folder: reply with ``id``; ``datasource.py``
create_datasource / update_datasource: ``message`` "Datasource added" / "Datasource
updated"; ``dashboard.py``: ``status`` "success"; ``annotations.py`` create_annotation:
``message`` "Annotation added" and ``id``):

- every request: ``Authorization`` is ``Bearer <token>`` or ``Basic <user:password>``;
  bodies are JSON objects sent with ``Content-Type: application/json``;
- ``GET /api/folders/:uid`` → 200 folder or 404; ``POST /api/folders`` body ⊆ {uid, title,
  parentUid, description}, title required, uid ≤ 40 chars, 409 if the uid exists;
  ``PUT /api/folders/:uid`` body {title, version | overwrite};
- ``GET /api/datasources/uid/:uid`` → 200 or 404; ``POST /api/datasources`` needs name,
  type, access, url (409 on a duplicate name); ``PUT /api/datasources/uid/:uid``;
- ``POST /api/dashboards/db`` body ⊆ {dashboard, folderId, folderUid, message, overwrite};
  dashboard has title and uid (≤ 40 chars) and a null/absent id; folderUid must exist; an
  existing uid without ``overwrite: true`` → 412;
- ``POST /api/annotations`` body ⊆ {dashboardUID, dashboardId, panelId, time, timeEnd,
  tags, text}; text required; time/timeEnd integers in epoch milliseconds; tags strings.

Anything else is answered 404 and recorded as a violation.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

TOKEN = "glsa_test_token"
MS_2000 = 946_684_800_000
MS_2100 = 4_102_444_800_000


@dataclass
class FakeGrafana:
    url: str = ""
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    fail_annotations: bool = False

    def calls(self, method: str, prefix: str) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] == method and r[1].startswith(prefix)]


def _check_auth(fake: FakeGrafana, request: web.Request) -> None:
    auth = request.headers.get("Authorization", "")
    basic = "Basic " + base64.b64encode(b"admin:secret").decode()
    if auth not in (f"Bearer {TOKEN}", basic):
        fake.violations.append(f"{request.method} {request.path}: bad Authorization {auth!r}")


async def _body(fake: FakeGrafana, request: web.Request, allowed: set[str]) -> dict[str, Any]:
    if request.content_type != "application/json":
        fake.violations.append(
            f"{request.method} {request.path}: content type {request.content_type}"
        )
    body = await request.json()
    if not isinstance(body, dict):
        fake.violations.append(f"{request.method} {request.path}: body is not an object")
        return {}
    extra = set(body) - allowed
    if extra:
        fake.violations.append(f"{request.method} {request.path}: unknown fields {sorted(extra)}")
    return body


def _app(fake: FakeGrafana) -> web.Application:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        _check_auth(fake, request)
        body = await request.json() if request.can_read_body else None
        fake.requests.append((request.method, request.path_qs, body))
        return await handler(request)

    async def get_folder(request: web.Request) -> web.Response:
        folder = fake.folders.get(request.match_info["uid"])
        if folder is None:
            return web.json_response({"message": "folder not found"}, status=404)
        return web.json_response(folder)

    async def create_folder(request: web.Request) -> web.Response:
        body = await _body(fake, request, {"uid", "title", "parentUid", "description"})
        uid, title = body.get("uid"), body.get("title")
        if not isinstance(title, str) or not title:
            fake.violations.append("POST /api/folders: title missing")
            return web.json_response({"message": "title missing"}, status=400)
        if not isinstance(uid, str) or len(uid) > 40:
            fake.violations.append(f"POST /api/folders: bad uid {uid!r}")
            return web.json_response({"message": "bad uid"}, status=400)
        if uid in fake.folders:
            return web.json_response({"message": "folder exists"}, status=409)
        folder = {
            "id": len(fake.folders) + 1,
            "uid": uid,
            "title": title,
            "version": 1,
            "url": f"/dashboards/f/{uid}/{title}",
        }
        fake.folders[uid] = folder
        return web.json_response(folder)

    async def update_folder(request: web.Request) -> web.Response:
        body = await _body(fake, request, {"uid", "title", "version", "overwrite", "description"})
        folder = fake.folders.get(request.match_info["uid"])
        if folder is None:
            return web.json_response({"message": "folder not found"}, status=404)
        if "version" not in body and body.get("overwrite") is not True:
            fake.violations.append("PUT /api/folders/:uid needs version or overwrite")
        folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
        return web.json_response(folder)

    async def get_datasource(request: web.Request) -> web.Response:
        ds = fake.datasources.get(request.match_info["uid"])
        if ds is None:
            return web.json_response({"message": "Data source not found"}, status=404)
        return web.json_response(ds)

    ds_fields = {
        "name",
        "uid",
        "type",
        "access",
        "url",
        "isDefault",
        "jsonData",
        "secureJsonData",
        "basicAuth",
        "basicAuthUser",
        "user",
        "database",
        "withCredentials",
        "version",
    }

    async def create_datasource(request: web.Request) -> web.Response:
        body = await _body(fake, request, ds_fields)
        missing = {"name", "type", "access", "url"} - set(body)
        if missing:
            fake.violations.append(f"POST /api/datasources: missing {sorted(missing)}")
            return web.json_response({"message": "missing"}, status=400)
        if any(d["name"] == body["name"] for d in fake.datasources.values()):
            return web.json_response(
                {"message": "data source with the same name already exists"}, status=409
            )
        ds = {**body, "id": len(fake.datasources) + 1, "orgId": 1, "readOnly": False}
        fake.datasources[str(body.get("uid"))] = ds
        return web.json_response(
            {"datasource": ds, "id": ds["id"], "message": "Datasource added", "name": ds["name"]}
        )

    async def update_datasource(request: web.Request) -> web.Response:
        body = await _body(fake, request, ds_fields)
        ds = fake.datasources.get(request.match_info["uid"])
        if ds is None:
            return web.json_response({"message": "Data source not found"}, status=404)
        ds.update(body)
        return web.json_response(
            {"datasource": ds, "id": ds["id"], "message": "Datasource updated"}
        )

    async def save_dashboard(request: web.Request) -> web.Response:
        body = await _body(
            fake, request, {"dashboard", "folderId", "folderUid", "message", "overwrite"}
        )
        dash = body.get("dashboard")
        if (
            not isinstance(dash, dict)
            or not dash.get("title")
            or not isinstance(dash.get("uid"), str)
        ):
            fake.violations.append("POST /api/dashboards/db: dashboard without title/uid")
            return web.json_response({"message": "bad dashboard"}, status=400)
        if len(dash["uid"]) > 40 or dash.get("id") is not None:
            fake.violations.append("POST /api/dashboards/db: uid > 40 chars or id set")
        folder_uid = body.get("folderUid")
        if folder_uid is not None and folder_uid not in fake.folders:
            return web.json_response({"message": "folder not found"}, status=400)
        existing = fake.dashboards.get(dash["uid"])
        if existing is not None and body.get("overwrite") is not True:
            return web.json_response(
                {"message": "version-mismatch", "status": "version-mismatch"}, status=412
            )
        version = 1 if existing is None else existing["version"] + 1
        fake.dashboards[dash["uid"]] = {
            "dashboard": dash,
            "folderUid": folder_uid,
            "version": version,
        }
        return web.json_response(
            {
                "id": len(fake.dashboards),
                "uid": dash["uid"],
                "status": "success",
                "version": version,
                "url": f"/d/{dash['uid']}/x",
                "slug": "x",
            }
        )

    async def create_annotation(request: web.Request) -> web.Response:
        body = await _body(
            fake,
            request,
            {"dashboardUID", "dashboardId", "panelId", "time", "timeEnd", "tags", "text"},
        )
        if not isinstance(body.get("text"), str) or not body["text"]:
            fake.violations.append("POST /api/annotations: text missing")
        for key in ("time", "timeEnd"):
            value = body.get(key)
            if key in body and (not isinstance(value, int) or not MS_2000 <= value <= MS_2100):
                fake.violations.append(f"POST /api/annotations: {key} not epoch ms: {value!r}")
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            fake.violations.append("POST /api/annotations: tags must be strings")
        if fake.fail_annotations:
            return web.json_response({"message": "Failed to save annotation"}, status=500)
        fake.annotations.append(body)
        return web.json_response({"message": "Annotation added", "id": len(fake.annotations)})

    async def unknown(request: web.Request) -> web.Response:
        fake.violations.append(f"undocumented call {request.method} {request.path}")
        return web.json_response({"message": "Not found"}, status=404)

    app = web.Application(middlewares=[record])
    app.router.add_get("/api/folders/{uid}", get_folder)
    app.router.add_post("/api/folders", create_folder)
    app.router.add_put("/api/folders/{uid}", update_folder)
    app.router.add_get("/api/datasources/uid/{uid}", get_datasource)
    app.router.add_post("/api/datasources", create_datasource)
    app.router.add_put("/api/datasources/uid/{uid}", update_datasource)
    app.router.add_post("/api/dashboards/db", save_dashboard)
    app.router.add_post("/api/annotations", create_annotation)
    app.router.add_route("*", "/{tail:.*}", unknown)
    return app


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(_app(fake), access_log=None)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        fake.url = f"http://127.0.0.1:{port}"
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    started.wait(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
