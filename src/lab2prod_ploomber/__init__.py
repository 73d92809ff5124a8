"""lab2prod's adapters for Ploomber: wiring only, kept apart from the `lab2prod` package.

`lab2prod` computes and never imports Ploomber (it is no longer developed, so it
must stay replaceable); what `pipeline.yaml` needs from Python beyond the
notebooks lives here.
"""

import warnings

# Ploomber 0.23.3 gives a notebook task's nbconvert_export_kwargs to each of its nb_product_key
# products, and warns for the .ipynb one that they "will be ignored": a false alarm on every task of
# both pipelines, which apply them to the .html product (pipeline.yaml's *offline_html). Every way
# Ploomber reads the pipelines imports this package first (the executor, resources_, hooks).
warnings.filterwarnings(
    "ignore",
    message=r"Output .* is a notebook file\. nbconvert_export_kwargs",
    category=UserWarning,
)
