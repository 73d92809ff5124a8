"""lab2prod's adapters for Ploomber: wiring only, kept apart from the `lab2prod` package.

`lab2prod` computes and never imports Ploomber (it is no longer developed, so it
must stay replaceable); what `pipeline.yaml` needs from Python beyond the
notebooks lives here.
"""

import sys
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

# Ploomber's commands as users run them (`ploomber plot`, `ploomber nb --inject/--remove`), fixed
# where Ploomber 0.23.3 breaks on them (plot.py, injection.py). Every Ploomber command that reads
# these pipelines imports this package while it reads them, after Ploomber itself: the fixes are in
# place before the command runs. Without Ploomber loaded there is nothing to fix (and its import
# costs seconds), so a process that uses only the lock or the kernels does not pay for it.
if "ploomber" in sys.modules:
    from lab2prod_ploomber import injection, plot

    plot.install()
    injection.install()
