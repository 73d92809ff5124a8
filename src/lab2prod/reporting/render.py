"""Render HTML reports from the package's templates, written atomically."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import jinja2

from lab2prod.data.lake import atomic_write_text

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("lab2prod.reporting", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


def render(template: str, path: str | Path, **context: Any) -> Path:
    """Render `template` with `context` into the HTML file at `path`; return the path."""
    html = _ENV.get_template(template).render(**context)
    return atomic_write_text(Path(path), html)


def shown_path(path: str | Path | None, root: str | Path | None) -> str | None:
    """Return `path` as a page shows it: relative to the project `root` when inside it, else its name.

    A page is read on other machines and in the MLflow UI: an absolute path of the build's machine
    says nothing there and tells where the project lives.
    """
    if not path:
        return None if path is None else str(path)
    candidate = Path(path)
    if not candidate.is_absolute():
        return candidate.as_posix()
    if root is not None:
        try:
            return candidate.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return candidate.name


def figure_data_uri(fig) -> str:
    """Return a matplotlib figure as an inline PNG data URI, so a report is one self-contained file."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
