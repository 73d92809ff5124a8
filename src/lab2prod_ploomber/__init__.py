"""lab2prod's adapters for Ploomber: wiring only, kept apart from the `lab2prod` package.

`lab2prod` computes and never imports Ploomber (its repository is archived, so it
must stay replaceable); what `pipeline.yaml` needs from Python beyond the
notebooks lives here.
"""

from lab2prod_ploomber import patches

# every override of Ploomber's, Papermill's and Jupyter's internals is listed and installed in
# patches.py: those it installs are in place before any Ploomber command that reads these pipelines
# runs (every way Ploomber reads them imports this package: the executor, resources_, hooks)
patches.install()
