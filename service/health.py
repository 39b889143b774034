"""A tiny HTTP endpoint per process: /healthz (alive), /readyz (ready, with details), /metrics.

Hand-rolled on asyncio streams because it serves three fixed paths to a probe and Prometheus;
a web framework would be a larger dependency than the feature.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import structlog

from service.metrics import Metrics

log = structlog.get_logger(__name__)

# check name -> "ok" (or "ok: details") when fine, else a one-line problem
Readiness = Callable[[], dict[str, str]]


class HealthServer:
    def __init__(self, host: str, port: int, metrics: Metrics, readiness: Readiness) -> None:
        self._host = host
        self._port = port
        self._metrics = metrics
        self._readiness = readiness
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int | None:
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self._host, self._port)
        except OSError as exc:
            # Another process may hold the port (two instances on one laptop): keep running.
            log.warning(
                "health_endpoint_unavailable", host=self._host, port=self._port, error=exc.strerror
            )
            return
        log.info("health_endpoint_started", host=self._host, port=self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else "/"
            status, ctype, body = self._respond(path.split("?", 1)[0])
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def _respond(self, path: str) -> tuple[str, str, bytes]:
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            checks = self._readiness()
            ready = all(v == "ok" or v.startswith("ok:") for v in checks.values())
            body = json.dumps({"ready": ready, "checks": checks}).encode()
            return ("200 OK" if ready else "503 Service Unavailable"), "application/json", body
        if path == "/metrics":
            return "200 OK", "text/plain; version=0.0.4", self._metrics.render()
        return "404 Not Found", "text/plain", b"not found\n"
