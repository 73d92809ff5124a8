import jinja2
import matplotlib.pyplot as plt
import pytest

from lab2prod.reporting import render as render_module
from lab2prod.reporting.render import figure_data_uri, render


def test_values_are_escaped():
    template = render_module._ENV.from_string("<p>{{ x }}</p>")
    assert template.render(x="<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>"


def test_missing_value_is_an_error_not_a_blank_and_leaves_no_file(tmp_path):
    with pytest.raises(jinja2.UndefinedError):
        render("index.html", tmp_path / "index.html", title="T")
    assert not (tmp_path / "index.html").exists()
    assert not list(tmp_path.iterdir()), "no temporary file may be left behind"


def test_figure_data_uri_is_png():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    assert figure_data_uri(fig).startswith("data:image/png;base64,iVBOR")
