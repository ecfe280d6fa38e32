"""Differential test: the virtual instance type (what each Kubernetes pod or
Slurm allocation requests) our optimizer plans for a table of asks, against
SkyPilot 0.14.1's own sizing (tests/python/skypilot_instance_types.py, run in
the SkyPilot venv). No cluster: our `sky launch --dryrun` plans from a cached
inventory written here (one node of 128 CPUs, 1 TiB and 8 H100), which holds
every type of the table.

Also: a Kubernetes context whose config names a cluster autoscaler plans
types no node of it holds yet, as SkyPilot does.

SKYCORE_SKYPILOT_PYTHON names the venv's python (scripts/test.sh sets it);
without it the test is skipped, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess

import pytest
from skypilot_side import skypilot_env, skypilot_python

HERE = pathlib.Path(__file__).resolve().parent

# Each ask as SkyPilot's Resources arguments; the YAML writes the same.
ASKS: list[dict] = [
    {},
    {"cpus": 2},
    {"cpus": "2+"},
    {"cpus": 4},
    {"cpus": "0.5"},
    {"cpus": "0.25"},
    {"cpus": "3.5+"},
    {"memory": 16},
    {"memory": "16+"},
    {"memory": "1.5"},
    {"cpus": 4, "memory": "2x"},
    {"cpus": "8+", "memory": "64+"},
    {"accelerators": "H100:1"},
    {"accelerators": "H100:2"},
    {"accelerators": "H100:8"},
    {"accelerators": "H100:1", "cpus": 2},
    {"accelerators": "H100:1", "cpus": "16+"},
    {"accelerators": "H100:1", "memory": 64},
    {"accelerators": "H100:2", "cpus": "6", "memory": "48+"},
    {"instance_type": "4CPU--16GB"},
    {"instance_type": "0.5CPU--1.5GB"},
    {"instance_type": "8CPU--32GB--H100:1"},
]

K8S_INVENTORY = {
    "version": 1,
    "contexts": [
        {
            "context": "ctx",
            "error": "",
            "nodes_listed_at": 0,
            "nodes": [
                {
                    "name": "node-0",
                    "ready": True,
                    "gpu_name": "H100",
                    "gpu_total": 8,
                    "gpu_free": 8,
                    "cpus": 128,
                    "cpus_free": 128,
                    "memory_gib": 1024,
                    "memory_free_gib": 1024,
                }
            ],
        }
    ],
}


SLURM_INVENTORY = {
    "version": 1,
    "clusters": [
        {
            "cluster": "ctx",
            "login": "root@127.0.0.1:22",
            "default_partition": "debug",
            "error": "",
            "nodes": [
                {
                    "name": "n1",
                    "partition": "debug",
                    "address": "127.0.0.1",
                    "cpus_total": 128,
                    "cpus_allocated": 0,
                    "memory_mb": 1024 * 1024,
                    "gpus": [{"type": "h100", "total": 8, "used": 0}],
                    "state": "idle",
                }
            ],
        }
    ],
}

# Where each infra's `sky check` caches its inventory, and what it holds.
INVENTORIES = {
    "kubernetes": ("kubernetes/inventory.json", K8S_INVENTORY),
    "slurm": ("slurm/inventory.json", SLURM_INVENTORY),
}
INFRA_NAMES = {"kubernetes": "k8s", "slurm": "slurm"}


def _skypilot_types(infra: str) -> list[str | None]:
    result = subprocess.run(
        [
            skypilot_python("this differential test"),
            str(HERE / "skypilot_instance_types.py"),
            infra,
        ],
        input=json.dumps(ASKS),
        capture_output=True,
        text=True,
        timeout=300,
        env=skypilot_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert answer["version"] == "0.14.1", answer["version"]
    return answer["types"]


def _ours(
    sky_bin: str, tmp_path: pathlib.Path, infra: str, ask: dict, config: str = ""
) -> str | None:
    state = tmp_path / "state"
    path, inventory = INVENTORIES[infra]
    (state / path).parent.mkdir(parents=True, exist_ok=True)
    (state / path).write_text(json.dumps(inventory))
    (state / "config.yaml").write_text(config)
    fields = ", ".join(
        f"{key}: {value}" for key, value in {"infra": INFRA_NAMES[infra], **ask}.items()
    )
    task = tmp_path / "task.yaml"
    task.write_text(f"resources: {{{fields}}}\nrun: echo ok\n")
    env = dict(os.environ, SKYCORE_STATE_DIR=str(state), CI="true", KUBECONFIG="/nonexistent")
    result = subprocess.run(
        [sky_bin, "launch", "--dryrun", str(task)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        return None
    found = re.findall(r"\b[\d.]+CPU--[\d.]+GB(?:--\S+:\d+)?", result.stdout)
    assert found, result.stdout
    return found[0]


@pytest.mark.parametrize("infra", ["kubernetes", "slurm"])
def test_instance_types_match_skypilot(sky_bin: str, tmp_path: pathlib.Path, infra: str) -> None:
    theirs = _skypilot_types(infra)
    ours = [_ours(sky_bin, tmp_path, infra, ask) for ask in ASKS]
    table = "\n".join(
        f"  {json.dumps(ask):55s} ours {o!s:22s} SkyPilot {t}"
        for ask, o, t in zip(ASKS, ours, theirs, strict=True)
    )
    assert ours == theirs, "instance types differ:\n" + table


def test_autoscaling_context_plans_types_no_node_holds(
    sky_bin: str, tmp_path: pathlib.Path
) -> None:
    # 256 CPUs or 16 GPUs: more than the one node has.
    big = {"cpus": 256}
    gpus = {"accelerators": "L4:16"}
    assert _ours(sky_bin, tmp_path, "kubernetes", big) is None
    assert _ours(sky_bin, tmp_path, "kubernetes", gpus) is None
    scaling = "kubernetes:\n  autoscaler: karpenter\n"
    assert _ours(sky_bin, tmp_path, "kubernetes", big, scaling) == "256CPU--256GB"
    assert _ours(sky_bin, tmp_path, "kubernetes", gpus, scaling) == "64CPU--256GB--L4:16"
    assert _ours(sky_bin, tmp_path, "kubernetes", {"accelerators": "L4:2"}, scaling) == (
        "8CPU--32GB--L4:2"
    )
    # Per context, as SkyPilot reads it.
    other = "kubernetes:\n  context_configs:\n    other:\n      autoscaler: generic\n"
    assert _ours(sky_bin, tmp_path, "kubernetes", big, other) is None
    mine = "kubernetes:\n  context_configs:\n    ctx:\n      autoscaler: generic\n"
    assert _ours(sky_bin, tmp_path, "kubernetes", big, mine) == "256CPU--256GB"
