"""The release steps: check (the chosen model in a fresh process), register (the gate) and report (the pages).

`check` loads select's model in a fresh process while evaluate measures it; `register` passes it
through the gate and the one release path; `report` writes the pages a person reads.

`report` imports the pages' modules (the model card with its figures and the pipeline's DAG, the ML
Test Score) when it runs, and `register` the release path (the champion's loading and scoring,
scikit-learn): each notebook of the build's critical path imports only what its step needs
(docs/explanation/layout.md, "Imports").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import mlflow

from lab2prod import settings, tracking
from lab2prod.data.conditioning import read_normalized
from lab2prod.modeling.metric_names import default_metric
from lab2prod.project import Project
from lab2prod.release.infra_check import InfraCheck, infra_check
from lab2prod.steps.results import (
    CheckResult,
    EvaluateResult,
    PagesResult,
    RegisterResult,
    SelectResult,
)


def check(project: Project) -> CheckResult:
    """Load select's model in a fresh process and score rows of its input example; write check.json.

    The training pipeline runs it beside evaluate, on the build's second process, so that register
    finds the answer ready instead of waiting for a fresh process's imports and loading.
    """
    lake = project.lake
    tracking.use_store(project.root, project.tracking_uri)
    chosen = SelectResult.read(lake.summary("select"))
    outcome = infra_check(chosen.model_uri, mlflow.get_tracking_uri(), rows=project.infra_rows)
    result = CheckResult.from_dict(asdict(outcome))
    result.write(lake.summary("check"))
    return result


def register(
    project: Project, threshold: float | None = None, tags: Mapping[str, str] | None = None
) -> RegisterResult:
    """Register select's model as `challenger` and release it through the gate; write register.json.

    It decides at `threshold` (None: the one evaluate chose), against the champion on the same test
    rows, with the floors, tolerance, approval, business values and infrastructure rows of the
    project; `tags` go on the version beside the run's (retraining names its origin). The check
    step's answer (check.json) is the infrastructure check when it is about select's model;
    without it the check runs here.
    """
    # scikit-learn and the registry's model loading: only where a model is released (module docstring)
    from lab2prod.release.promotion import Challenger, GateRules, release_challenger

    contract = settings.load_contract(project.contract_path())
    lake = project.lake
    tracking.use_store(project.root, project.tracking_uri)
    chosen = SelectResult.read(lake.summary("select"))
    if threshold is None:
        threshold = EvaluateResult.read(lake.summary("evaluate")).threshold
    test, train = (
        read_normalized(lake.split(contract.dataset, part), contract) for part in ("test", "train")
    )
    rules = GateRules(
        metric=project.gate_metric or default_metric(contract.task),
        floors=dict(project.gate_floors),
        tolerance=project.gate_tolerance,
        approval_required=project.approval_required,
        business=project.business,
        infra_rows=project.infra_rows,
    )
    version_tags = {
        "run_id": chosen.run_id,
        "data.sha256": chosen.data_sha256,
        "git_commit": tracking.git_commit(project.root),
        **(tags or {}),
    }
    release = release_challenger(
        Challenger(chosen.model_uri, chosen.run_id, float(threshold), version_tags),
        project.need("model_name"),
        test,
        contract,
        rules,
        train=train,  # the trivial model the gate's floor is (mean or class shares) is fitted on it
        checked=_checked(lake.summary("check")),
    )
    if chosen.parent_run_id:
        client = mlflow.MlflowClient()
        for key, value in {
            **release.decision.as_tags(),
            "registered.version": release.version,
        }.items():
            client.set_tag(chosen.parent_run_id, key, value)
    result = RegisterResult.from_dict(
        {
            "model_name": project.need("model_name"),
            "champion_version": release.champion_after,
            "gate": release.decision,
            **release.summary(),
        }
    )
    result.write(lake.summary("register"))
    return result


def _checked(summary: Path) -> InfraCheck | None:
    """Return the check step's answer written to `summary`, None when that step has not run."""
    if not summary.is_file():
        return None
    return InfraCheck(**CheckResult.read(summary).as_dict())


def report(project: Project) -> PagesResult:
    """Write reports/index.html, model_card.html and readiness.html from the build's evidence; store the notebooks with its run."""
    # matplotlib, networkx and the templates: only when the pages are written (module docstring)
    from lab2prod.release.model_card import CardText, build_facts, write_reports
    from lab2prod.release.readiness import write_readiness

    contract = settings.load_contract(project.contract_path())
    lake = project.lake
    tracking.use_store(project.root, project.tracking_uri)
    facts = build_facts(
        lake,
        contract,
        commit=tracking.git_commit(project.root),
        tracking_uri=settings.tracking_uri(project.root),
        text=CardText(project.intended_use, tuple(project.limitations)),
        pipeline=settings.read_yaml(lake.pipeline_file()),  # the DAG of index.html
        root=project.root,
    )
    written = write_reports(facts, lake)
    # the ML Test Score from the evidence as it is now (`lab2prod readiness` writes it again later)
    places = {
        "lake": project.lake_folder,
        "reports": project.reports,
        "products": project.products,
        "dataset": contract.dataset,
        "contract": project.contract,
    }
    _, readiness = write_readiness(
        project.root,
        lake,
        places,
        facts["lineage"]["model_name"],
        facts["built_at"],
        settings.tracking_uri(project.root),
    )
    written["readiness"] = readiness["html"]
    run_id = facts["lineage"]["parent_run_id"] or facts["lineage"]["run_id"]
    # each executed notebook with its HTML beside it, and the pages, stored with the build's run
    tracking.log_build_pages(run_id, lake, list(written.values()))
    result = PagesResult({k: str(v) for k, v in written.items()})
    result.write(lake.summary("report"))
    return result
