"""Garbage-collector settings for the long-running processes (the service, the sync)."""

from __future__ import annotations

import gc

__all__ = ["pause_gc", "tune_gc"]


def pause_gc() -> None:
    """No collection until ``tune_gc``, for a serving command's start: its imports and its
    app build the objects the process then lives with (170,000 of them in the service;
    a collection at the end frees under a thousand), and the collector's passes over
    them as they are made would take 70 ms of a `service run`'s start CPU, freeing
    nothing."""
    gc.disable()


def tune_gc() -> None:
    """Requests and pages allocate many short-lived containers (list envelopes, parsed
    records, SQLAlchemy rows); with CPython's default thresholds that triggers full
    collections that scan every long-lived object (measured in the service when pages
    were built in Python: p90 155 ms instead of 56 ms; in the mirror's upsert of 2,000
    NPNs' pages, 38 us a record instead of 22). Freeze what start-up built and collect
    less often. Collection starts again here if ``pause_gc`` stopped it.

    Frozen without a collection first: the service's start left 431 objects of garbage
    (144 KB, frozen with the rest, never freed), and the full collection that freed them
    took 0.12-0.17 CPU-s of every start (240,000 objects scanned), 5-8 % of it."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    gc.enable()
