"""Decision annotations in Grafana: one ``POST /api/annotations`` per published command.

For workers started with ``--grafana-url``. The worker calls :meth:`GrafanaAnnotator.post`
(synchronous, blocking HTTP through grafana-api-sdk) or :meth:`GrafanaAnnotator.apost`
(async: the same call in a thread, so the event loop never waits on Grafana) after the
control topic acknowledged the command. An annotation is a convenience for humans: a
failure is logged and counted (``failures``), never raised, so Grafana being down cannot
delay or change a decision.

The annotation is an organisation annotation (no ``dashboardUID`` unless one is given),
tagged ``rollguard``, ``rollout:<id>``, ``action:<action>`` (plus ``advisory``), so the
*Rollouts overview* and *Rollout detail* dashboards pick it up by tag filter. Its time is
the command's ``issued_at`` (event time); its text: title, the reason's headline, the rule,
then the reason's statistics line (:func:`monitor.core.explain.lines`).
Grafana API: https://grafana.com/docs/grafana/latest/developers/http_api/annotations/
"""

from __future__ import annotations

import asyncio
import logging

from grafana_api.annotations import Annotations
from grafana_api.model import AnnotationObject, APIModel

from monitor.core.explain import lines
from topics.commands import Command

log = logging.getLogger(__name__)


def annotation_for(command: Command, dashboard_uid: str | None = None) -> AnnotationObject:
    """The Grafana annotation of one command (a point in time: ``timeEnd == time``)."""
    ms = round(command.issued_at * 1000)
    tags = ["rollguard", f"rollout:{command.rollout_id}", f"action:{command.action}"]
    if command.advisory:
        tags.append("advisory")
    title = f"{command.action.upper()} {command.rollout_id} (stage {command.stage})"
    headline, statistics = lines(command.reason)
    text = [title, headline] + ([f"rule: {command.rule}"] if command.rule else [])
    return AnnotationObject(
        time=ms,
        time_end=ms,
        tags=tags,
        text="\n".join([*text, statistics] if statistics else text),
        dashboard_uid=dashboard_uid,
    )


class GrafanaAnnotator:
    """Posts each decision to Grafana's annotations API (never raises on Grafana errors)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        dashboard_uid: str | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"grafana url must start with http:// or https://, got {url!r}")
        if not token and not (user and password):
            raise ValueError("grafana annotations need a token or a user and password")
        self._model = APIModel(
            host=url.rstrip("/"),
            token=token,
            username=user,
            password=password,
            timeout=timeout_s,
            retries=0,
        )
        self._dashboard_uid = dashboard_uid
        self.posted = 0
        self.failures = 0

    def post(self, command: Command) -> None:
        """Create the annotation of ``command``; log and count a failure, never raise."""
        try:
            Annotations(self._model).create_annotation(annotation_for(command, self._dashboard_uid))
        except Exception as exc:  # httpx errors and grafana-api-sdk's bare Exception
            self.failures += 1
            log.warning(
                "grafana annotation for %s/%s failed: %r",
                command.rollout_id,
                command.command_id,
                exc,
            )
            return
        self.posted += 1

    async def apost(self, command: Command) -> None:
        """:meth:`post` in a worker thread, for the asyncio publish path."""
        await asyncio.to_thread(self.post, command)
