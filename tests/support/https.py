"""An HTTPS server on 127.0.0.1 whose certificate no CA vouches for (self-signed, for
127.0.0.1 and localhost, valid to 2126): trusted only where ``CERT`` is named."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["CERT", "https_server"]

CERT = Path(__file__).parent / "tls" / "localhost.pem"  # the certificate and its key


@contextmanager
def https_server(
    handler: type[http.server.BaseHTTPRequestHandler], *, tls: bool = True
) -> Iterator[int]:
    """``handler`` serving on a free port over TLS (``tls=False``: plain HTTP, as a
    server an https:// URL is wrongly given for); the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(CERT)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
