"""A URL's user and password are hidden wherever text holds one (``url_userinfo.masked``),
a password holding spaces or tabs too, as SQLAlchemy and redis-py both take one; what is
no password is left as it is."""

from __future__ import annotations

import pytest

from producersync.url_userinfo import masked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pa ss@db/x", "postgresql://***@db/x"),
        ("postgresql://u:pa\tss@db/x", "postgresql://***@db/x"),
        ("redis://:pa  ss@cache:6379/0", "redis://***@cache:6379/0"),
        (
            "error: 'postgresql://u:correct horse battery staple@db:5432/x': refused",
            "error: 'postgresql://***@db:5432/x': refused",
        ),
        # Its last word holding "@" and "/" as a password may.
        ("postgresql://u:pa ss/w@rd@db/x", "postgresql://***@db/x"),
        (
            "first postgresql://u:hunter2@db/x then postgresql://v:two words@db/y",
            "first postgresql://***@db/x then postgresql://***@db/y",
        ),
        # An e-mail address further on is no end of it.
        (
            "postgresql://u:pa ss@db/x, mail me@example.com",
            "postgresql://***@db/x, mail me@example.com",
        ),
    ],
)
def test_a_password_holding_whitespace_is_hidden(text: str, expected: str) -> None:
    assert masked(text) == expected
    assert masked(expected) == expected  # masked once is masked


@pytest.mark.parametrize(
    "text",
    [
        "http://host:8080 and mail me@example.com",
        "http://localhost:8080, then write to ops@example.com",
        "https://example.com:443/a/b then c@d",
        "http://[::1]:8000/x mail me@example.com",
        # Another URL, or a line's end, comes before any "@".
        "redis://cache:abc then http://x.example/ me@example.com",
        "see http://host:name\nfrom me@example.com",
    ],
)
def test_what_is_no_password_is_left_as_it_is(text: str) -> None:
    assert masked(text) == text
