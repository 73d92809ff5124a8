"""Every override of Ploomber's, Papermill's and Jupyter's internals, listed as data and installed here.

Ploomber is archived (0.23.3 is its last release), so lab2prod keeps it working by overriding
a few of its internals and of the Jupyter packages beneath it. Each override is one `Patch`
below: what it overrides, why, the upstream issue when there is one, the exact versions it was
written against (constraints.txt pins them) and where its code lives. Its code stays in the module
named by `code`; its installation is either `install()` here (`installer`, called when the
package is imported and `needs` is loaded) or a setting that names a lab2prod class in place of
Ploomber's (`installed_by`). `tests/lab2prod_ploomber/test_patches.py` has one test per patch
that fails when the patch stops being needed (Ploomber's bug no longer shows without it) or stops
working (what it overrides is gone or changed), and one that the installed versions are the
targeted ones. `docs/explanation/ploomber.md` shows `markdown_table()`.

On an upgrade of any targeted package: bump `targets`, run those tests, then drop what no
longer fails without its patch.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass

PLOOMBER = ("ploomber", "0.23.3")
JUPYTER_CLIENT = ("jupyter_client", "7.4.9")
PAPERMILL = ("papermill", "2.7.0")
JUPYTEXT = ("jupytext", "1.19.6")
NETWORKX = ("networkx", "3.6.1")

# the message of Ploomber's warning about nbconvert_export_kwargs on an .ipynb product
# (ploomber.tasks.notebook.NotebookConverter.convert); warnings.filterwarnings matches it from the start
NBCONVERT_WARNING = r"Output .* is a notebook file\. nbconvert_export_kwargs"


@dataclass(frozen=True)
class Patch:
    """One override of a dependency's internals: what, why, against which versions, and where."""

    name: str
    overrides: tuple[str, ...]  # module.attr of each overridden object
    why: str  # one sentence: what breaks without the patch
    targets: tuple[tuple[str, str], ...]  # (distribution, exact version) written against
    code: str  # module.attr of the patch's code
    installed_by: str  # what puts the patch in place
    upstream: str | None = None  # the upstream issue, when there is one
    installer: str | None = None  # module:function that `install()` calls
    needs: str | None = None  # the module that must already be loaded for `installer` to run


def filter_nbconvert_warning() -> None:
    """Silence Ploomber's false warning that an .ipynb product ignores nbconvert_export_kwargs."""
    warnings.filterwarnings("ignore", message=NBCONVERT_WARNING, category=UserWarning)


PATCHES: tuple[Patch, ...] = (
    Patch(
        name="nbconvert-kwargs-warning",
        overrides=("ploomber.tasks.notebook.NotebookConverter.convert",),
        why=(
            "Ploomber gives a notebook task's nbconvert_export_kwargs to each product and warns "
            "that the .ipynb one ignores them, on every task of both pipelines, which apply them "
            "to the .html product"
        ),
        targets=(PLOOMBER,),
        code="lab2prod_ploomber.patches.filter_nbconvert_warning",
        installed_by="importing lab2prod_ploomber (a warnings filter)",
        upstream="https://github.com/ploomber/ploomber/issues/980",
        installer="lab2prod_ploomber.patches:filter_nbconvert_warning",
    ),
    Patch(
        name="parallel-idle-sleep",
        overrides=("ploomber.executors.Parallel.__call__",),
        why=(
            "Ploomber's parallel executor schedules in a loop that never sleeps: the main process "
            "spins one core while the tasks run; the counter it reads on every idle pass, "
            "self._i, is a property that sleeps"
        ),
        targets=(PLOOMBER,),
        code="lab2prod_ploomber.executors.Parallel._i",
        installed_by="pipeline.yaml: executor lab2prod_ploomber.executors.Parallel",
    ),
    Patch(
        name="kernel-on-unix-sockets",
        overrides=(
            "jupyter_client.manager.AsyncKernelManager.transport",
            "jupyter_client.manager.AsyncKernelManager.connection_file",
            "jupyter_client.manager.AsyncKernelManager._launch_kernel",
            "jupyter_client.manager.AsyncKernelManager.cleanup_resources",
        ),
        why=(
            "jupyter_client picks a kernel's TCP ports by binding port 0 and closing the socket; "
            "two kernels starting at once can get the same port and one dies with "
            "'Address already in use'; the kernel talks over Unix sockets in a private folder"
        ),
        targets=(JUPYTER_CLIENT, PAPERMILL),
        code="lab2prod_ploomber.kernels.IPCKernelManager",
        installed_by=(
            "papermill's kernel_manager_class, set on every notebook task by "
            "lab2prod_ploomber.executors.Parallel (pipeline.yaml) and lab2prod_ploomber.task (Airflow)"
        ),
        upstream="https://github.com/nteract/papermill/issues/511",
    ),
    Patch(
        name="async-contents-manager",
        overrides=("ploomber.jupyter.manager.derive_class",),
        why=(
            "the contents manager class Ploomber derives from jupytext's reads its base class's get synchronously; on jupytext's "
            "asynchronous manager every listing in JupyterLab fails with "
            "\"'coroutine' object is not subscriptable\"; its get, save and checkpoint methods "
            "are replaced by ones that await"
        ),
        targets=(PLOOMBER, JUPYTEXT),
        code="lab2prod_ploomber.jupyter.InjectingContentsManager",
        installed_by=(
            "jupyter_server_config.py and jupyter-config/jupyter_server_config.json: "
            "ServerApp.contents_manager_class"
        ),
    ),
    Patch(
        name="plot-offline",
        overrides=("ploomber.dag.dag.DAG.plot",),
        why=(
            "`ploomber plot`'s d3 and mermaid backends fail on networkx 3.6 (KeyError: 'links') "
            "and their pages load their scripts from CDNs: they are refused in one line that names "
            "the Graphviz backend"
        ),
        targets=(PLOOMBER, NETWORKX),
        code="lab2prod_ploomber.plot.install",
        installed_by="importing lab2prod_ploomber after Ploomber",
        installer="lab2prod_ploomber.plot:install",
        needs="ploomber",
    ),
    Patch(
        name="inject-exact-bytes",
        overrides=(
            "ploomber.sources.notebooksource.NotebookSource.save_injected_cell",
            "ploomber.sources.notebooksource.NotebookSource.remove_injected_cell",
        ),
        why=(
            "`ploomber nb --inject` rewrites the kernelspec and adds papermill's metadata, and "
            "`--remove` leaves some behind: the notebooks differ from their committed bytes"
        ),
        targets=(PLOOMBER,),
        code="lab2prod_ploomber.injection.install",
        installed_by="importing lab2prod_ploomber after Ploomber",
        upstream="https://github.com/ploomber/ploomber/issues/735",
        installer="lab2prod_ploomber.injection:install",
        needs="ploomber",
    ),
)


def by_name(name: str) -> Patch:
    """Return the patch called `name`; raises KeyError naming the known ones otherwise."""
    for patch in PATCHES:
        if patch.name == name:
            return patch
    raise KeyError(f"no patch {name!r}; patches: {', '.join(p.name for p in PATCHES)}")


def _installer(patch: Patch) -> Callable[[], None]:
    module, _, function = (patch.installer or "").partition(":")
    return getattr(importlib.import_module(module), function)


def install() -> list[str]:
    """Install every patch `install()` is in charge of whose `needs` is loaded; return their names.

    Without Ploomber loaded there is nothing of it to fix (and its import costs seconds), so a
    process that uses only the lock or the kernels does not pay for it. Calling it again does nothing
    more: each installer checks that it has run.
    """
    done = []
    for patch in PATCHES:
        if patch.installer and (patch.needs is None or patch.needs in sys.modules):
            _installer(patch)()
            done.append(patch.name)
    return done


def markdown_table() -> str:
    """Return the patches as the Markdown table of docs/explanation/ploomber.md."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [
        "| patch | overrides | why | targets | code | installed by | upstream |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in PATCHES:
        rows.append(
            "| "
            + " | ".join(
                [
                    f"`{p.name}`",
                    "<br>".join(f"`{o}`" for o in p.overrides),
                    cell(p.why),
                    ", ".join(f"{d} {v}" for d, v in p.targets),
                    f"`{p.code}`",
                    cell(p.installed_by),
                    f"<{p.upstream}>" if p.upstream else "none found",
                ]
            )
            + " |"
        )
    return "\n".join(rows) + "\n"
