"""A loopback HTTP proxy in front of the simulator that serves one record field under another name
(an API whose names differ from the contract's), until the simulator's `--surface renamed` does.

Requests pass through with the served name mapped back (`sort=changedAt:asc` -> `createdAt:asc`), so
the simulator answers them; every record of the answer carries the field under the served name. Each
request's query is kept in `queries` for the tests to read."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx


@dataclass
class Renaming:
    path_part: str  # requests whose path holds this are renamed
    contract: str  # the field's name in the simulator's answers (the contract's)
    served: str  # the name the proxy serves it under
    queries: list[dict[str, str]] = field(default_factory=list)


@contextmanager
def renaming_proxy(upstream: str, renaming: Renaming) -> Iterator[str]:
    """Serve `upstream` with `renaming` applied on a free loopback port; yields the proxy's URL."""
    client = httpx.Client(base_url=upstream, timeout=30)

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            query = dict(parse_qsl(url.query))
            renamed = renaming.path_part in url.path
            if renamed:
                renaming.queries.append(dict(query))
                query = {k: v.replace(renaming.served, renaming.contract) for k, v in query.items()}
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
            resp = client.request(self.command, url.path, params=query, content=body, headers=headers)
            content = resp.content
            if renamed and resp.headers.get("content-type", "").startswith("application/json"):
                payload = resp.json()
                for record in _records(payload):
                    if renaming.contract in record:
                        record[renaming.served] = record.pop(renaming.contract)
                content = json.dumps(payload).encode()
            self.send_response(resp.status_code)
            for k, v in resp.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = _forward

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        client.close()


def _records(payload: Any) -> list[dict[str, Any]]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list):
                return [r for r in value if isinstance(r, dict)]
    return []
