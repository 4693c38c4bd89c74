"""Headless Chromium driven over the DevTools protocol: load a page at a given viewport,
evaluate JavaScript in it, take a screenshot. For the report's screenshot test and the
README's picture (``python -m tests.chromium REPORT.html OUT.png [#anchor]``).

The browser runs with a fresh profile, no network features (no QUIC, background
networking, component updates or sync), and is stopped through the process group this
module created for it (never by name).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.tools import chromium

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


class Chromium:
    """``with Chromium() as browser: png, value = browser.shoot(url, js)``."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or chromium()
        if found is None:
            raise RuntimeError("chromium not installed: run `bash scripts/install dev` as root")
        self.binary = found
        self._profile = tempfile.TemporaryDirectory(prefix="rollguard-chromium-")
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> Chromium:
        profile = Path(self._profile.name)
        self._proc = subprocess.Popen(
            [self.binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(profile / "stderr.log").open("wb"),
            start_new_session=True,  # its renderers join this group: stopped with it
        )
        marker = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text().strip():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = (profile / "stderr.log").read_text(errors="replace")[-2000:]
                self.__exit__(None, None, None)
                raise RuntimeError(f"chromium did not start: {log}")
            time.sleep(0.1)
        self.port = int(marker.read_text().split()[0])
        return self

    def __exit__(self, *_: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the group started above, by its id
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self._profile.cleanup()

    def shoot(
        self, url: str, script: str = "null", *, width: int = 1400, height: int = 900
    ) -> tuple[bytes, Any]:
        """Load ``url`` in a ``width`` x ``height`` viewport; return a PNG of the viewport
        and the JSON value of ``script`` evaluated once the page has loaded."""
        return asyncio.run(self._shoot(url, script, width, height))

    async def _shoot(self, url: str, script: str, width: int, height: int) -> tuple[bytes, Any]:
        base = f"http://127.0.0.1:{self.port}"
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{base}/json/new?about:blank") as response:
                target = await response.json()
            ids = itertools.count(1)
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:

                async def call(method: str, **params: Any) -> dict[str, Any]:
                    msg_id = next(ids)
                    await ws.send_json({"id": msg_id, "method": method, "params": params})
                    while True:
                        reply = json.loads((await ws.receive()).data)
                        if reply.get("id") == msg_id:
                            if "error" in reply:
                                raise RuntimeError(f"{method}: {reply['error']}")
                            result: dict[str, Any] = reply["result"]
                            return result

                await call("Page.enable")
                await call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await call("Page.navigate", url=url)
                ready = (
                    "document.readyState === 'complete' && [...document.images]"
                    ".every(i => i.complete)"
                )
                for _ in range(600):
                    done = await call("Runtime.evaluate", expression=ready, returnByValue=True)
                    if done["result"].get("value"):
                        break
                    await asyncio.sleep(0.1)
                value = await call(
                    "Runtime.evaluate",
                    expression=f"JSON.stringify({script})",
                    returnByValue=True,
                )
                shot = await call("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"]), json.loads(value["result"]["value"])


def main() -> int:
    """``python -m tests.chromium REPORT.html OUT.png``: the README's 1400x900 screenshot."""
    report, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    with Chromium() as browser:
        png, _ = browser.shoot(report.as_uri())
    out.write_bytes(png)
    print(f"wrote {out} ({len(png):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
