"""The deployments ``dsar serve`` runs and those ``prefect.yaml`` declares are the same."""

from __future__ import annotations

import importlib

import yaml

from tests.conftest import REPO


def test_prefect_yaml_declares_every_deployment_that_dsar_serve_runs() -> None:
    """A worker-based installation gets the same deployments, with the same entry flows."""
    from deployments.serve import build_deployments

    served = {d.name: d.flow_name for d in build_deployments(timezone="Europe/Vienna")}
    declared = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())["deployments"]
    assert set(served) == {d["name"] for d in declared}
    for item in declared:
        module, _, function = item["entrypoint"].partition(":")
        flow = getattr(
            importlib.import_module(module.removesuffix(".py").replace("/", ".")), function
        )
        assert served[item["name"]] == flow.name
