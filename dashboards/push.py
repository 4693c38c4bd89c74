"""``rollguard dashboards push``: folder, Prometheus datasource and dashboards into Grafana.

Every HTTP call goes through grafana-api-sdk's ``Api`` layer (auth headers, JSON, retries).
Its ``Folder``/``Datasource`` helpers are not used: on a refusal they raise a bare
``Exception`` and only log Grafana's reply, while ours names the step and the reply (the
request bodies and success checks are the same as theirs). Idempotent: the folder and the
datasource are looked up by uid first and created only when missing (updated only when they
differ); dashboards are saved with ``overwrite: true`` under their fixed uids, so pushing
twice leaves one copy of each.

Grafana HTTP API used (https://grafana.com/docs/grafana/latest/developers/http_api/):
``GET /api/folders/:uid``, ``POST /api/folders``, ``PUT /api/folders/:uid``,
``GET /api/datasources/uid/:uid``, ``POST /api/datasources``,
``PUT /api/datasources/uid/:uid``, ``POST /api/dashboards/db``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from grafana_api.api import Api
from grafana_api.model import APIEndpoints, APIModel, RequestsMethods

from dashboards import render
from dashboards.panels import DATASOURCE_UID
from topics.errors import RollguardError

FOLDER_UID: Final = "rollguard"
FOLDER_TITLE: Final = "rollguard"
NOT_FOUND: Final = 404


class PushError(RollguardError):
    """Grafana refused or failed a request; the message names the step and the reply."""


@dataclass
class PushReport:
    """What one push did, step by step (``created``, ``updated``, ``unchanged``, ``saved``)."""

    folder: str = ""
    datasource: str = ""
    dashboards: dict[str, str] = field(default_factory=dict)


def api_model(
    url: str, token: str | None = None, user: str | None = None, password: str | None = None
) -> APIModel:
    """Connection settings for grafana-api-sdk: bearer token or basic auth, few retries."""
    return APIModel(
        host=url.rstrip("/"),
        token=token,
        username=user,
        password=password,
        timeout=10.0,
        retries=1,
    )


def datasource_body(prometheus_url: str) -> dict[str, Any]:
    """The Prometheus datasource the dashboards' ``datasource`` variable defaults to."""
    return {
        "name": "rollguard-prometheus",
        "uid": DATASOURCE_UID,
        "type": "prometheus",
        "access": "proxy",
        "url": prometheus_url,
        "isDefault": False,
        "jsonData": {"timeInterval": "5s", "httpMethod": "POST"},
    }


def push(
    model: APIModel,
    prometheus_url: str,
    *,
    folder_uid: str = FOLDER_UID,
    folder_title: str = FOLDER_TITLE,
) -> PushReport:
    """Create or update the folder, the datasource and every dashboard."""
    report = PushReport()
    report.folder = _ensure_folder(model, folder_uid, folder_title)
    report.datasource = _ensure_datasource(model, datasource_body(prometheus_url))
    for name, payload in render.render_all().items():
        dashboard = json.loads(payload)
        body = {
            "dashboard": dashboard,
            "folderUid": folder_uid,
            "overwrite": True,
            "message": "rollguard dashboards push",
        }
        reply = _call(model, f"{APIEndpoints.DASHBOARDS.value}/db", RequestsMethods.POST, body)
        _expect(reply, "status", "success", f"saving dashboard {name}")
        report.dashboards[str(dashboard["uid"])] = "saved"
    return report


def _ensure_folder(model: APIModel, uid: str, title: str) -> str:
    path = f"{APIEndpoints.FOLDERS.value}/{uid}"
    found = _get(model, path)
    if found is None:
        reply = _call(
            model, APIEndpoints.FOLDERS.value, RequestsMethods.POST, {"uid": uid, "title": title}
        )
        _expect(reply, "id", None, f"creating folder {uid!r}")
        return "created"
    if found.get("title") == title:
        return "unchanged"
    reply = _call(model, path, RequestsMethods.PUT, {"uid": uid, "title": title, "overwrite": True})
    _expect(reply, "id", None, f"updating folder {uid!r}")
    return "updated"


def _ensure_datasource(model: APIModel, body: dict[str, Any]) -> str:
    path = f"{APIEndpoints.DATASOURCES.value}/uid/{body['uid']}"
    found = _get(model, path)
    if found is None:
        reply = _call(model, APIEndpoints.DATASOURCES.value, RequestsMethods.POST, body)
        _expect(reply, "message", "Datasource added", f"creating datasource {body['uid']!r}")
        return "created"
    if all(found.get(k) == body[k] for k in ("name", "type", "url", "access")):
        return "unchanged"
    reply = _call(model, path, RequestsMethods.PUT, body)
    _expect(reply, "message", "Datasource updated", f"updating datasource {body['uid']!r}")
    return "updated"


def _expect(reply: Any, key: str, value: object, step: str) -> None:
    """The success checks grafana-api-sdk's own helpers make, with the reply in the error."""
    ok = isinstance(reply, dict) and (
        reply.get(key) is not None if value is None else reply.get(key) == value
    )
    if not ok:
        raise PushError(f"{step} failed: Grafana answered {reply}")


def _get(model: APIModel, path: str) -> dict[str, Any] | None:
    """GET a resource; ``None`` when Grafana answers 404."""
    reply = Api(model).call_the_api(path, RequestsMethods.GET, response_status_code=True)
    if not isinstance(reply, dict):
        raise PushError(f"GET {path}: unexpected reply {reply!r}")
    status = reply.get("status")
    if status == NOT_FOUND:
        return None
    if not isinstance(status, int) or status >= 300:
        raise PushError(f"GET {path} failed: {reply}")
    return reply


def _call(model: APIModel, path: str, method: RequestsMethods, body: dict[str, Any]) -> Any:
    try:
        return Api(model).call_the_api(path, method, json.dumps(body))
    except Exception as exc:  # httpx errors and the SDK's bare Exception
        raise PushError(f"{method.value} {path} failed: {exc}") from exc
