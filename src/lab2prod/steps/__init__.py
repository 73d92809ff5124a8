"""The pipelines' steps: one function per notebook, each taking the project and returning a typed result.

data.py (ingest, validate, split), training.py (start, train, select), evaluation.py (evaluate),
release.py (register, report), scoring.py (score, score_summary), monitoring.py (monitor); results.py holds the
types their JSON summaries are read back as. A step finds its inputs through the project's Lake
(where Ploomber's products are declared too), so its notebook runs the same in `ploomber build`,
alone in JupyterLab, under papermill and nbval. A notebook imports its own step's module only:
each task's kernel then pays for the imports it needs.
"""
