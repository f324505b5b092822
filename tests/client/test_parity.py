"""``AsyncClient`` is ``Client`` awaited: the same resources, methods, signatures and
defaults, compared mechanically, and the same answers and errors from one scripted API."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from functools import cached_property
from typing import Any

import anyio
import httpx2
import pytest

from producersync.client import AsyncClient, AsyncPage, Client, SyncPage
from tests.client.fake import FakeAPI, error, json_response, license_row, page

# Client.request takes a Cancellation; an AsyncClient call is cancelled with its task.
_SYNC_ONLY_PARAMETERS = {"request": {"cancel"}}


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def _twin_name(annotation: Any) -> str:
    """A return annotation with the Sync/Async of its classes dropped."""
    return re.sub(r"\b(Sync|Async)", "", str(annotation))


def _parameters(function: Callable[..., Any], skip: set[str]) -> list[tuple[Any, ...]]:
    return [
        (p.name, p.kind, p.default, str(p.annotation))
        for p in inspect.signature(function).parameters.values()
        if p.name not in skip
    ]


def _resources(sync_cls: type = Client, twin_cls: type = AsyncClient, at: str = "") -> list[Any]:
    """Each resource of both clients, those hanging off another (``webhooks.endpoints``)
    too, as (name, sync class, async class)."""
    pairs = []
    for name in sorted(_public(sync_cls)):
        sync, sync_twin = (
            inspect.getattr_static(sync_cls, name),
            inspect.getattr_static(twin_cls, name),
        )
        if isinstance(sync, cached_property):
            assert isinstance(sync_twin, cached_property)
            ours = inspect.get_annotations(sync.func, eval_str=True)["return"]
            theirs = inspect.get_annotations(sync_twin.func, eval_str=True)["return"]
            pairs.append(pytest.param(at + name, ours, theirs, id=at + name))
            pairs += _resources(
                getattr(ours, "__origin__", ours), getattr(theirs, "__origin__", theirs), f"{name}."
            )
    return pairs


def test_every_method_of_both_clients_is_documented() -> None:
    """``close`` had no docstring on either client."""
    for cls in (Client, AsyncClient):
        for name in _public(cls):
            member = getattr(cls, name)
            if callable(member):
                assert inspect.getdoc(member), f"{cls.__name__}.{name}"


def test_both_clients_have_the_same_attributes_and_arguments() -> None:
    assert _public(Client) == _public(AsyncClient)
    skip = {"transport"}  # a BaseTransport for one, an AsyncBaseTransport for the other
    assert _parameters(Client.__init__, skip) == _parameters(AsyncClient.__init__, skip)
    for name, skip in _SYNC_ONLY_PARAMETERS.items():
        assert _parameters(getattr(Client, name), skip) == _parameters(
            getattr(AsyncClient, name), set()
        )


@pytest.mark.parametrize(("name", "sync", "twin"), _resources())
def test_every_resource_method_has_an_async_twin_of_the_same_signature(
    name: str, sync: type, twin: type
) -> None:
    sync_cls = getattr(sync, "__origin__", sync)
    twin_cls = getattr(twin, "__origin__", twin)
    assert _twin_name(sync_cls.__name__) == _twin_name(twin_cls.__name__)
    assert _public(sync_cls) == _public(twin_cls)
    for method in _public(sync_cls) - {"spec"}:
        if isinstance(inspect.getattr_static(sync_cls, method), cached_property):
            continue  # a resource of its own, compared as one
        ours, theirs = getattr(sync_cls, method), getattr(twin_cls, method)
        assert _parameters(ours, set()) == _parameters(theirs, set()), method
        ours_returns = inspect.signature(ours).return_annotation
        theirs_returns = inspect.signature(theirs).return_annotation
        assert _twin_name(ours_returns) == _twin_name(theirs_returns), method
        # A lazy list is made without a request, so it is not awaited; every call that
        # sends one is.
        lazy = "Pager" in str(ours_returns) or "RecordPages" in str(ours_returns)
        assert inspect.iscoroutinefunction(theirs) is not lazy, method
        assert not inspect.iscoroutinefunction(ours), method
        # Read in help() and an editor: every async method had none, and four sync ones.
        assert inspect.getdoc(ours), method
        assert inspect.getdoc(theirs) == inspect.getdoc(ours), method


def test_both_clients_pages_offer_the_same_and_read_the_next_awaited_or_not() -> None:
    assert _public(SyncPage) == _public(AsyncPage)
    assert not inspect.iscoroutinefunction(SyncPage.get_next_page)
    assert inspect.iscoroutinefunction(AsyncPage.get_next_page)


def _scripted(request: httpx2.Request) -> httpx2.Response:
    token = request.url.params.get("continuationToken")
    if request.url.path == "/v1/licenses/404":
        return error(404)
    if request.url.path == "/v2/licenses" and token is None:
        return json_response(200, page("licenses", [license_row(1), license_row(2)], "t2"))
    if token == "t2":
        return json_response(200, page("licenses", [license_row(3), license_row(4)], "t3"))
    if token == "t3":
        return json_response(200, page("licenses", [], None))
    return error(400, "unexpected")


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:  # the class and message are what is compared
        return type(exc), str(exc)


async def _aoutcome(call: Callable[[], Any]) -> Any:
    try:
        return await call()
    except Exception as exc:
        return type(exc), str(exc)


def test_both_clients_read_the_same_pages_and_raise_the_same_errors() -> None:
    sync_fake, async_fake = FakeAPI(_scripted), FakeAPI(_scripted)
    with sync_fake.client() as client:
        sync = [
            _outcome(
                lambda: [[r.id for r in p.items] for p in client.licenses.list(page_size=2).pages()]
            ),
            _outcome(lambda: client.licenses.get(404)),
            _outcome(lambda: list(client.licenses.list(states=["ZZ"], page_size=2, npns=[]))),
        ]

    async def pages(client: AsyncClient) -> list[list[int]]:
        return [[r.id for r in p.items] async for p in client.licenses.list(page_size=2).pages()]

    async def empty(client: AsyncClient) -> list[Any]:
        return [r async for r in client.licenses.list(states=["ZZ"], page_size=2, npns=[])]

    async def main() -> list[Any]:
        async with async_fake.async_client() as client:
            return [
                await _aoutcome(lambda: pages(client)),
                await _aoutcome(lambda: client.licenses.get(404)),
                await _aoutcome(lambda: empty(client)),
            ]

    assert anyio.run(main) == sync
    assert sync[0] == [[1, 2], [3, 4], []]  # the end marker is a page without records
    assert [str(r.url) for r in async_fake.api_requests] == [
        str(r.url) for r in sync_fake.api_requests
    ]
