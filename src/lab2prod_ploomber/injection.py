"""`ploomber nb --inject` and `--remove` that change only the injected cell: every other byte stays.

Ploomber 0.23.3 writes back its own reading of a notebook: `--inject` replaces the kernelspec
with the installed kernel's ("Python 3 (ipykernel)" for the committed "Python 3") and adds
papermill's metadata (every parameter, absolute paths included); `--remove` then leaves empty
`papermill` and `ploomber` metadata and the kernel's display name behind, so the notebook differs
from its committed source and `git status` shows every pipeline notebook changed (and Ploomber's
own pre-commit hook, `ploomber nb --install-hook`, would commit that).

Here `--inject` reads the file as it is, puts the rendered `injected-parameters` cell under its
`parameters` cell (where papermill puts it) and flags the notebook as injected, as Ploomber does
(`metadata.ploomber.injected_manually`); `--remove` takes out that cell and that flag (and a
`papermill` entry holding nothing but parameters, which only an injection writes), so inject then
remove gives the committed bytes back. Notebooks stored as text (jupytext scripts) or paired with
one keep Ploomber's own behaviour: none of lab2prod's are.

`install()` replaces the two `NotebookSource` methods (Ploomber's own stay as their `__wrapped__`);
patches.py lists it and calls it when `lab2prod_ploomber` is imported with Ploomber loaded.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from ploomber.sources.notebooksource import NotebookSource

from lab2prod.data.lake import atomic_write_text

# the cells Ploomber adds (and removes): the pipeline's parameters, `ploomber nb --debug`'s settings
INJECTED_TAGS = frozenset({"injected-parameters", "debugging-settings"})


def _injected(cell: NotebookNode) -> bool:
    return bool(INJECTED_TAGS & set(cell.get("metadata", {}).get("tags", [])))


def without_injected_cell(nb: NotebookNode) -> NotebookNode:
    """Return a copy of `nb` without Ploomber's injected cells and the metadata only an injection adds."""
    clean = copy.deepcopy(nb)
    clean.cells = [cell for cell in clean.cells if not _injected(cell)]
    flags = clean.metadata.get("ploomber")
    if flags is None or "injected_manually" not in flags:
        return clean
    del flags["injected_manually"]
    if not flags:
        del clean.metadata["ploomber"]
    papermill = clean.metadata.get("papermill")
    if papermill is not None and set(papermill) <= {"parameters"}:
        del clean.metadata["papermill"]  # what Ploomber's own --inject wrote beside the flag
    return clean


def with_injected_cell(nb: NotebookNode, rendered: NotebookNode) -> NotebookNode:
    """Return a copy of `nb` with `rendered`'s injected-parameters cell under its parameters cell.

    Any injected cell `nb` already holds is replaced; the notebook is flagged as Ploomber flags it.
    Raises ValueError when `rendered` holds no injected-parameters cell.
    """
    cells = [
        c for c in rendered.cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if not cells:
        raise ValueError("the rendered notebook has no cell tagged injected-parameters to inject")
    out = without_injected_cell(nb)
    tags = [cell.get("metadata", {}).get("tags", []) for cell in out.cells]
    at = next((i + 1 for i, t in enumerate(tags) if "parameters" in t), 0)  # papermill's place
    out.cells.insert(at, copy.deepcopy(cells[0]))
    out.metadata.setdefault("ploomber", {})["injected_manually"] = True
    return out


def _plain_notebook(source) -> bool:
    """Return True for a source that is one .ipynb file, not a text notebook nor one paired with another file."""
    if source._path is None or Path(source._path).suffix != ".ipynb":
        return False
    own = _read(Path(source._path))
    return not own.metadata.get("jupytext", {}).get("formats")


def _read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def _write(path: Path, nb: NotebookNode) -> None:
    # nbformat.write's bytes (indent 1, sorted keys, a final newline): those of the committed notebooks
    atomic_write_text(path, nbformat.writes(nb) + "\n")


def install() -> None:
    """Make `NotebookSource.save_injected_cell` and `remove_injected_cell` keep the file's own bytes."""

    if getattr(NotebookSource.save_injected_cell, "_lab2prod_exact", False):
        return
    ploomber_save = NotebookSource.save_injected_cell
    ploomber_remove = NotebookSource.remove_injected_cell

    def save_injected_cell(self, **kwargs):
        """Inject the pipeline's parameters cell into the source file, changing nothing else in it."""
        if not _plain_notebook(self):
            return ploomber_save(self, **kwargs)
        path = Path(self._path)
        _write(path, with_injected_cell(_read(path), self.nb_obj_rendered))

    def remove_injected_cell(self):
        """Remove the injected cell from the source file: the notebook as it was before --inject."""
        if not _plain_notebook(self):
            return ploomber_remove(self)
        path = Path(self._path)
        _write(path, without_injected_cell(_read(path)))

    save_injected_cell._lab2prod_exact = True
    save_injected_cell.__wrapped__ = ploomber_save
    remove_injected_cell.__wrapped__ = ploomber_remove
    NotebookSource.save_injected_cell = save_injected_cell
    NotebookSource.remove_injected_cell = remove_injected_cell
