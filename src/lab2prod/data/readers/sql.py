"""SQL sources: a query's result through SQLAlchemy, with credentials never printed."""

from __future__ import annotations

import re
import threading

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


CONNECT_TIMEOUT = 10.0  # seconds to connect (and for the server's first answer)
STATEMENT_TIMEOUT = 600.0  # seconds the query may run and its rows take to arrive
_GRACE = 5.0  # beyond both: what the watchdog waits for a driver's own timeout to fire


def query_sql(
    url: str,
    query: str,
    connect_timeout: float = CONNECT_TIMEOUT,
    statement_timeout: float = STATEMENT_TIMEOUT,
) -> pd.DataFrame:
    """Return the result of `query` on the database at SQLAlchemy `url` (credentials never printed).

    A server that accepts the connection and never answers cannot hang the caller: the driver gets a
    connect and a statement timeout where it takes them (PostgreSQL, MySQL), and whatever the
    driver, the query runs in a thread given both timeouts and a few seconds more.
    """
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # noqa: BLE001 any parse failure: one line that never echoes the url
        raise SourceError(
            "source url is not a SQLAlchemy URL (dialect+driver://user:password@host/db)"
        ) from None
    safe = parsed.render_as_string(hide_password=True)
    outcome: dict[str, object] = {}

    def run() -> None:
        engine = None
        try:
            engine = sa.create_engine(
                parsed,
                connect_args=_timeout_args(
                    parsed.get_backend_name(), connect_timeout, statement_timeout
                ),
            )
            with engine.connect() as con:
                result = con.execute(sa.text(query))
                outcome["table"] = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        except Exception as exc:  # noqa: BLE001 any driver's error: one line, the password masked
            outcome["error"] = exc
        finally:
            if engine is not None:
                engine.dispose()

    # a daemon thread: one stuck in a driver's blocking read does not keep the process alive
    worker = threading.Thread(target=run, name="lab2prod-sql", daemon=True)
    worker.start()
    worker.join(connect_timeout + statement_timeout + _GRACE)
    if worker.is_alive():
        raise SourceError(
            f"{safe}: no answer within {connect_timeout:g} s to connect and {statement_timeout:g} s "
            "for the query: check that the server is up and answering, or raise the source's "
            "options.connect_timeout / options.statement_timeout"
        )
    if "error" in outcome:
        exc = outcome["error"]
        cause = getattr(exc, "orig", None) or exc
        detail = mask_credentials((str(cause).strip().splitlines() or [""])[0][:200])
        hint = (
            f"no answer within the timeouts ({connect_timeout:g} s to connect, "
            f"{statement_timeout:g} s for the query): check that the server is up and answering"
            if "timeout" in detail.lower() or "timed out" in detail.lower()
            else "check the url and the query"
        )
        raise SourceError(f"{safe}: query failed ({type(cause).__name__}: {detail}): {hint}")
    return outcome["table"]


def _timeout_args(backend: str, connect: float, statement: float) -> dict[str, object]:
    """Return the driver's own connect and statement timeouts, for the backends that take them."""
    if backend == "postgresql":
        # libpq and psycopg count whole seconds; the statement timeout is the server's, in ms
        return {
            "connect_timeout": max(1, round(connect)),
            "options": f"-c statement_timeout={round(statement * 1000)}",
        }
    if backend in ("mysql", "mariadb"):
        return {"connect_timeout": connect, "read_timeout": statement, "write_timeout": statement}
    return {}


def sql_timeouts(options: dict[str, object], source: str) -> dict[str, float]:
    """Return the timeouts a sql source's options set (connect_timeout, statement_timeout, seconds)."""
    chosen = {}
    for key in ("connect_timeout", "statement_timeout"):
        if key in options:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise SourceError(
                    f"source {source!r}: options.{key} must be a number of seconds above 0, not {value!r}"
                )
            chosen[key] = float(value)
    return chosen
