import jinja2
import matplotlib.pyplot as plt
import pytest

from lab2prod.reporting.render import figure_data_uri, render


def _context():
    return dict(title="T", built_at="now", commit="abc", tracking_uri="sqlite:///x", model_name="m", version="2",
                champion_version="2", promoted=True, decision="promoted <b>", run_id="r1", rows=10,
                data_sha256="f" * 64, quarantined=1, metrics={"roc_auc": 0.9}, plots=["figures/roc.png"],
                notebooks=[("train", "notebooks/train.html")], links=[])


def test_index_renders_metrics_links_and_escapes(tmp_path):
    path = render("index.html", tmp_path / "index.html", **_context())
    html = path.read_text()
    assert "0.9000" in html and 'href="notebooks/train.html"' in html
    assert "promoted &lt;b&gt;" in html  # values are escaped


def test_missing_value_is_an_error_not_a_blank(tmp_path):
    context = _context()
    del context["metrics"]
    with pytest.raises(jinja2.UndefinedError):
        render("index.html", tmp_path / "index.html", **context)
    assert not (tmp_path / "index.html").exists()


def test_figure_data_uri_is_png():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    assert figure_data_uri(fig).startswith("data:image/png;base64,iVBOR")
