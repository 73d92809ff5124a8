"""The session fixtures of the scaling-out tests (tests/scale_out.py): the team server, the Airflow run."""

from scale_out import airflow_project, team_server  # noqa: F401 (fixtures)
