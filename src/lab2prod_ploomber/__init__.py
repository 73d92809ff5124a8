"""lab2prod's adapters for Ploomber: wiring only, kept apart from the `lab2prod` package.

`lab2prod` computes and never imports Ploomber (it is no longer developed, so it
must stay replaceable); what `pipeline.yaml` needs from Python beyond the
notebooks lives here.
"""
