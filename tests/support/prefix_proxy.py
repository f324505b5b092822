"""A proxy that serves a service under a path prefix, as an httpx2 transport: a request
for ``/producersync/x`` reaches the service as ``/x`` (the prefix stripped, as nginx's
``proxy_pass http://service/;`` does), and one outside the prefix reaches nothing."""

from __future__ import annotations

import httpx2

from tests.support import plain_http

__all__ = ["through_prefix"]


class _Stripping(httpx2.BaseTransport):
    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._next = httpx2.HTTPTransport(verify=plain_http.tls_context())

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.raw_path.decode("ascii")
        if not path.startswith(self._prefix + "/"):
            return httpx2.Response(404, text=f"nothing is served at {path}", request=request)
        request.url = request.url.copy_with(raw_path=path[len(self._prefix) :].encode("ascii"))
        return self._next.handle_request(request)

    def close(self) -> None:
        self._next.close()


def through_prefix(base_url: str, prefix: str, **options: object) -> httpx2.Client:
    """A client of the service at ``base_url`` (its root) as a browser reaches it through
    the proxy at the same address: each path it asks for is the full one, the prefix's."""
    return httpx2.Client(
        base_url=base_url,
        transport=_Stripping(prefix),
        **options,  # type: ignore[arg-type]
    )
