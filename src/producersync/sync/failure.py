"""How a failed call to the API reads in a run's record (``sync status``), its log line
and a command's error: with the id the API gave the request, the one thing its operator
(AgentSync's support) finds the request by."""

from __future__ import annotations

from producersync.client import AuthenticationError, ProducerSyncError

__all__ = ["request_noted", "run_failure"]


def request_noted(text: str, exc: BaseException) -> str:
    """``text``, followed by ``(request_id …)`` when ``exc`` is an SDK error of a request
    the server named. The SDK's message leaves it out (``exc.request_id`` holds it), and
    what the sync recorded of a failure was that message alone: a run failed on a 500
    named no request to quote in a ticket."""
    request_id = exc.request_id if isinstance(exc, ProducerSyncError) else None
    return text if request_id is None else f"{text} (request_id {request_id})"


def run_failure(exc: BaseException) -> str:
    """A failed run's error, for its record and its log line. Credentials refused said
    only "401 Unauthorized: client authentication failed", every run after a client
    secret's rotation, without the settings to change."""
    error = request_noted(f"{type(exc).__name__}: {exc}", exc)
    if isinstance(exc, AuthenticationError) and exc.credentials_refused:
        error += (
            " (client credentials refused: PRODUCERSYNC_CLIENT_ID and "
            "PRODUCERSYNC_CLIENT_SECRET must be a live client's; after `admin client "
            "rotate-secret`, restart sync run with the new secret)"
        )
    return error
