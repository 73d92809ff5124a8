"""Write the project template's notebooks from this repository's: the demo's names become placeholders.

Run it after changing a notebook in notebooks/:

    python scripts/template_notebooks.py

A notebook that names the demo (its dataset, contract, model or experiment) becomes
`<name>.ipynb.jinja` in src/lab2prod/templates/project/notebooks/, with copier's placeholders in
place of those names; any other is copied as it is. tests/test_project_new.py checks that the
template holds what this writes and that the demo rendered from the template gives back
notebooks/ byte for byte, so the package itself names no demo.
"""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
TEMPLATE_NOTEBOOKS = PROJECT / "src/lab2prod/templates/project/notebooks"
# the demo's names in the notebooks' parameters cells -> the template's placeholders (copier.yml)
DEMO_NAMES = [
    ("data/sources/credit/catalog.yaml", "data/sources/{{ dataset }}/catalog.yaml"),
    ("data/lake/contracts/credit.yaml", "data/lake/contracts/{{ dataset }}.yaml"),
    ("data/contracts/credit.yaml", "data/contracts/{{ dataset }}.yaml"),
    ("data/lake/normalized/credit.csv", "data/lake/normalized/{{ dataset }}.csv"),
    ("predictions/credit/predictions.csv", "predictions/{{ dataset }}/predictions.csv"),
    ("score-credit.html", "score-{{ dataset }}.html"),
    ('dataset = \\"credit\\"', 'dataset = \\"{{ dataset }}\\"'),
    ('batch_name = \\"credit\\"', 'batch_name = \\"{{ dataset }}\\"'),
    ('\\"credit-risk\\"', '\\"{{ model_name }}\\"'),
    ("lab2prod-credit", "{{ experiment }}"),
]


def templated(text: str) -> str:
    """Return a notebook's JSON text with the demo's names replaced by the template's placeholders."""
    for demo, placeholder in DEMO_NAMES:
        text = text.replace(demo, placeholder)
    return text


def template_file(name: str, text: str) -> tuple[Path, str]:
    """Return where the template keeps notebook `name` and what that file holds."""
    written = templated(text)
    suffix = ".jinja" if written != text else ""
    return TEMPLATE_NOTEBOOKS / f"{name}{suffix}", written


def main() -> None:
    """Write every pipeline notebook of notebooks/ into the template, removing its other form."""
    for notebook in sorted((PROJECT / "notebooks").glob("*.ipynb")):
        path, written = template_file(notebook.name, notebook.read_text(encoding="utf-8"))
        if "credit" in written:
            raise SystemExit(
                f"{notebook}: names the demo beyond scripts/template_notebooks.py's DEMO_NAMES"
            )
        for other in (
            TEMPLATE_NOTEBOOKS / notebook.name,
            TEMPLATE_NOTEBOOKS / f"{notebook.name}.jinja",
        ):
            if other != path:
                other.unlink(missing_ok=True)
        path.write_text(written, encoding="utf-8")
        print(f"wrote {path.relative_to(PROJECT)}")


if __name__ == "__main__":
    main()
