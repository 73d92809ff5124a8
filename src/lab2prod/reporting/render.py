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


def figure_data_uri(fig) -> str:
    """Return a matplotlib figure as an inline PNG data URI, so a report is one self-contained file."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
