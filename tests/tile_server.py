"""A small XYZ tile server for tests: a folder of ``{z}/{x}/{y}.png`` served on 127.0.0.1 (random free port).

``failing`` tiles (a set of (z, x, y), or ``"all"``) answer HTTP 500, like a flaky WMS (or, with
``failure="xml"``, HTTP 200 with an XML service exception instead of an image); other missing tiles answer 404.
Every request is counted in ``requests`` so tests can see what QGIS asked for, and ``on_request`` (if set) is
called with each tile key from the server's thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _TileHandler(SimpleHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server API name
        key = _tile_key(self.path)
        with self.server.lock:
            self.server.requests[key or self.path] += 1
        if self.server.on_request is not None:
            self.server.on_request(key)
        if self.server.failing == "all" or key in self.server.failing:
            if self.server.failure == "xml":
                body = b"<ServiceExceptionReport><ServiceException>Failure</ServiceException></ServiceExceptionReport>"
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.ogc.se_xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(500, "Tile backend failure (test)")
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    failing: set[tuple[int, int, int]] | str
    failure: str
    on_request: Callable[[tuple[int, int, int] | None], None] | None
    requests: Counter
    lock: threading.Lock


def _tile_key(path: str) -> tuple[int, int, int] | None:
    parts = path.split("?")[0].strip("/").split("/")
    if len(parts) != 3 or not parts[2].endswith(".png"):
        return None
    try:
        return int(parts[0]), int(parts[1]), int(parts[2][:-4])
    except ValueError:
        return None


class TileServer:
    """Serve ``folder`` over HTTP in a background thread; use as a context manager."""

    def __init__(self, folder: str | Path, failing: set[tuple[int, int, int]] | str | None = None,
                 on_request: Callable[[tuple[int, int, int] | None], None] | None = None,
                 failure: str = "500") -> None:
        handler = partial(_TileHandler, directory=str(folder))
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.httpd.failing = failing if failing == "all" else set(failing or ())
        self.httpd.on_request = on_request
        self.httpd.failure = failure
        self.httpd.requests = Counter()
        self.httpd.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="tile-server", daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def requests(self) -> Counter:
        return self.httpd.requests

    def xyz_uri(self, zmin: int, zmax: int) -> str:
        """QGIS data source string of an XYZ layer on this server (provider ``wms``)."""
        return f"type=xyz&url=http://127.0.0.1:{self.port}/{{z}}/{{x}}/{{y}}.png&zmin={zmin}&zmax={zmax}"

    def __enter__(self) -> TileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
