"""sky.optimize and sky.list_accelerators over the built-in catalog."""

from __future__ import annotations

import pytest

import sky


def test_optimize_picks_the_cheapest_feasible_offering() -> None:
    task = sky.Task("train", run="python train.py")
    task.set_resources(sky.Resources(accelerators="A100:8"))
    plan = sky.optimize(task, minimize=sky.OptimizeTarget.COST)
    chosen = plan["tasks"][0]["chosen"]
    assert chosen["accelerators"] == {"A100": 8}
    failover = plan["tasks"][0]["failover"]
    assert failover, "there should be other places to fail over to"
    assert all(c["cost"] >= chosen["cost"] for c in failover)
    assert plan["total_cost"] == pytest.approx(chosen["cost"])
    assert "CHOSEN" in plan["table"]


def test_optimize_respects_infra_and_spot() -> None:
    with sky.Dag() as dag:
        sky.Task("t", run="x", resources=sky.Resources(infra="aws", accelerators="H100:8"))
    on_demand = sky.optimize(dag)["tasks"][0]["chosen"]
    assert on_demand["cloud"] == "aws"
    with sky.Dag() as spot_dag:
        sky.Task(
            "t", run="x", resources=sky.Resources(infra="aws", accelerators="H100:8", use_spot=True)
        )
    spot = sky.optimize(spot_dag)["tasks"][0]["chosen"]
    assert spot["use_spot"] is True
    assert spot["hourly_price"] < on_demand["hourly_price"]


def test_infeasible_request_names_alternatives() -> None:
    task = sky.Task(run="x", resources=sky.Resources(accelerators="H100:3"))
    with pytest.raises(sky.exceptions.ResourcesUnavailableError) as info:
        sky.optimize(task)
    assert "H100" in str(info.value)


def test_list_accelerators() -> None:
    gpus = sky.list_accelerators(name_filter="H100")
    assert "H100" in gpus
    rows = gpus["H100"]
    assert {row["cloud"] for row in rows} >= {"aws", "gcp"}
    assert all(row["accelerator_name"] == "H100" for row in rows)
    eight = sky.list_accelerators(name_filter="H100", quantity_filter=8)
    assert all(row["accelerator_count"] == 8 for row in eight["H100"])
