"""sky.optimize and sky.list_accelerators over the built-in catalog."""

from __future__ import annotations

import os

import pytest

import sky


def test_optimize_picks_the_cheapest_feasible_offering() -> None:
    task = sky.Task("train", run="python train.py")
    task.set_resources(sky.Resources(accelerators="A100:8"))
    plan = sky.optimize_plan(task, minimize=sky.OptimizeTarget.COST)
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
    on_demand = sky.optimize_plan(dag)["tasks"][0]["chosen"]
    assert on_demand["cloud"] == "aws"
    with sky.Dag() as spot_dag:
        sky.Task(
            "t", run="x", resources=sky.Resources(infra="aws", accelerators="H100:8", use_spot=True)
        )
    spot = sky.optimize_plan(spot_dag)["tasks"][0]["chosen"]
    assert spot["use_spot"] is True
    assert spot["hourly_price"] < on_demand["hourly_price"]


def test_infeasible_request_names_alternatives() -> None:
    task = sky.Task(run="x", resources=sky.Resources(accelerators="H100:3"))
    with pytest.raises(sky.exceptions.ResourcesUnavailableError) as info:
        sky.optimize_plan(task)
    assert "H100" in str(info.value)


def test_list_accelerators() -> None:
    gpus = sky.list_accelerators(name_filter="H100")
    assert "H100" in gpus
    rows = gpus["H100"]
    assert {row["cloud"] for row in rows} >= {"aws", "gcp"}
    assert all(row["accelerator_name"] == "H100" for row in rows)
    eight = sky.list_accelerators(name_filter="H100", quantity_filter=8)
    assert all(row["accelerator_count"] == 8 for row in eight["H100"])


def test_catalog_is_reloaded_when_a_file_changes(tmp_path, monkeypatch) -> None:
    catalogs = tmp_path / "catalogs"
    catalogs.mkdir()
    header = (
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,"
        "Price,SpotPrice,Region,AvailabilityZone\n"
    )
    csv = catalogs / "aws.csv"
    csv.write_text(header + "m6i.2xlarge,,,8.0,32.0,,0.384,0.15,us-east-1,us-east-1a\n")
    monkeypatch.setenv("SKYCORE_CATALOG_DIR", str(catalogs))
    monkeypatch.setenv("SKYCORE_STATE_DIR", str(tmp_path / "state"))
    task = sky.Task(run="x", resources=sky.Resources(infra="aws", cpus="8"))
    assert sky.optimize_plan(task)["tasks"][0]["chosen"]["hourly_price"] == pytest.approx(0.384)
    # Same size, new price: the fingerprint (size and mtime) must still notice.
    csv.write_text(header + "m6i.2xlarge,,,8.0,32.0,,0.999,0.15,us-east-1,us-east-1a\n")
    os.utime(csv, ns=(os.stat(csv).st_atime_ns, os.stat(csv).st_mtime_ns + 5_000_000_000))
    assert sky.optimize_plan(task)["tasks"][0]["chosen"]["hourly_price"] == pytest.approx(0.999)
