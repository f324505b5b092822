"""A fast webhook receiver for the benchmarks, run as its own process:

    python -m bench._receiver PORT

Every POST gets 200 at once; ``GET /stats`` tells how many arrived, how many distinct
(path, ``webhook-id``) pairs, and the wall-clock time of the first and the last.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson
import uvicorn

_state: dict[str, Any] = {"count": 0, "ids": set(), "first": None, "last": None}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    if scope["method"] == "POST":
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        now = time.time()
        _state["count"] += 1
        _state["first"] = _state["first"] or now
        _state["last"] = now
        for name, value in scope["headers"]:
            if name == b"webhook-id":
                _state["ids"].add((scope["path"], value))
        payload = b"ok"
    elif scope["path"] == "/reset":
        _state.update(count=0, ids=set(), first=None, last=None)
        payload = b"{}"
    else:
        payload = orjson.dumps(
            {
                "count": _state["count"],
                "distinct": len(_state["ids"]),
                "first": _state["first"],
                "last": _state["last"],
            }
        )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )
