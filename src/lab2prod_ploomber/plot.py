"""`ploomber plot` draws with Graphviz only: its d3 and mermaid pages load their JavaScript from CDNs.

Ploomber 0.23.3's `--backend d3` and `--backend mermaid` stop with `KeyError: 'links'` under
networkx 3.6, whose `node_link_data` names the edges `edges`. Mending that would not make them
usable: the d3 page loads d3 and d3-dag from two CDNs and the mermaid page loads mermaid from a
third, so with no network (the rule for every page lab2prod writes) the page stays blank. No
installed package ships those scripts as files a page could load (JupyterLab has mermaid only
inside its own webpack bundles), so rather than bundle a copy by hand, these backends are refused
with one line that names the one that works: pygraphviz, whose wheel bundles Graphviz (PNG, or SVG
for a browser). An `.html` output without `--backend` is refused too: Ploomber picks d3 for it.

`install()` wraps `ploomber.DAG.plot` (Ploomber's own stays as its `__wrapped__`); patches.py lists
it and calls it when `lab2prod_ploomber` is imported with Ploomber loaded, which is the case for every Ploomber command that reads these pipelines (they name
lab2prod_ploomber's executor and `resources_` functions), `ploomber plot` included.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ploomber.dag.dag import DAG
from ploomber.dag.plot import check_pygraphviz_installed
from ploomber.exceptions import PlotException

# the backends whose page asks CDNs for its scripts, and what each page loads
CDN_BACKENDS = {"d3": "d3 and d3-dag", "mermaid": "mermaid"}
WORKING = (
    "use the default backend, pygraphviz (`ploomber plot` writes pipeline.png; "
    "`--output dag.svg` an SVG for a browser)"
)


def refusal(backend: str | None, output: str, pygraphviz_installed: bool = True) -> str | None:
    """Return the one-line reason `ploomber plot` refuses this backend and output, or None when it draws.

    `backend` and `output` are `DAG.plot`'s arguments (`output` a path, or "embed" in a notebook);
    without `--backend`, Ploomber picks d3 for an `.html` output or when pygraphviz is missing.
    Raises ValueError for a backend Ploomber does not know.
    """
    if backend not in {None, "pygraphviz", *CDN_BACKENDS}:
        raise ValueError(
            f"unknown plot backend {backend!r}: Ploomber has d3, mermaid and pygraphviz ({WORKING})"
        )
    chosen = backend
    if backend is None:
        html_output = output != "embed" and Path(output).suffix == ".html"
        chosen = "d3" if html_output or not pygraphviz_installed else "pygraphviz"
    if chosen not in CDN_BACKENDS:
        return None
    what = (
        f"--backend {chosen}"
        if backend
        else f"an .html output ({output}) needs --backend d3, which"
    )
    return (
        f"{what} writes a page that loads {CDN_BACKENDS[chosen]} from CDNs (nothing drawn offline), "
        f"so lab2prod refuses it: {WORKING}"
    )


def install() -> None:
    """Make `DAG.plot` (so `ploomber plot`) refuse the CDN backends in one line; calling it again does nothing."""

    if getattr(DAG.plot, "_lab2prod_offline", False):
        return
    ploomber_plot = DAG.plot

    @functools.wraps(ploomber_plot)
    def plot(self, output="embed", include_products=False, backend=None, image_only=False):
        try:
            reason = refusal(backend, str(output), check_pygraphviz_installed())
        except ValueError as exc:
            raise PlotException(str(exc)) from None
        if reason:
            raise PlotException(reason)
        return ploomber_plot(
            self,
            output=output,
            include_products=include_products,
            backend=backend,
            image_only=image_only,
        )

    plot._lab2prod_offline = True
    DAG.plot = plot
