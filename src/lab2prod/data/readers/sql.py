"""SQL sources: a query's result through SQLAlchemy, with credentials never printed."""

from __future__ import annotations

import re

import pandas as pd

from lab2prod.errors import SourceError

# the password field of a URL (scheme://user:PASSWORD@host) and of a key=value connection string
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^:/@\s]*:)[^@\s]*(?=@)")
_DSN_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s'\";&]+)", re.IGNORECASE
)


def mask_credentials(text: str) -> str:
    """Return `text` with the password fields of any URL or key=value connection string in it as ``***``.

    Only those fields are masked: a driver's message keeps every other word, even one that happens
    to contain the password's letters (with the password ``p``: "port 9 failed" stays as it is).
    """
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***", text)
    return _DSN_PASSWORD.sub(lambda m: f"{m['head']}***", text)


def query_sql(url: str, query: str) -> pd.DataFrame:
    """Return the result of `query` on the database at SQLAlchemy `url` (credentials never printed)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # noqa: BLE001 any parse failure: one line that never echoes the url
        raise SourceError(
            "source url is not a SQLAlchemy URL (dialect+driver://user:password@host/db)"
        ) from None
    safe = parsed.render_as_string(hide_password=True)
    engine = None
    try:
        engine = sa.create_engine(parsed)
        with engine.connect() as con:
            result = con.execute(sa.text(query))
            table = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    except Exception as exc:  # noqa: BLE001 any driver's error: one line, the password masked
        cause = getattr(exc, "orig", None) or exc
        detail = (str(cause).strip().splitlines() or [""])[0][:200]
        detail = mask_credentials(detail)
        raise SourceError(
            f"{safe}: query failed ({type(cause).__name__}: {detail}): check the url and the query"
        ) from None
    finally:
        if engine is not None:
            engine.dispose()
    return table
