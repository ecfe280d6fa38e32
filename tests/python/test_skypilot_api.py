"""SkyPilot 0.14.1's public members of Task, Resources and Dag: what they promise holds here.

Two kinds of tests. Differential ones run the same script under SkyPilot 0.14.1
(the test-only virtual environment, tests/skypilot_venv.sh) and under this
interpreter and compare what it prints; SKYCORE_SKYPILOT_PYTHON names the venv's
python (scripts/test.sh sets it), and without it they are skipped, except in CI
(CI=true), where they fail. The others check behaviour SkyPilot documents, on
our side only (catalog prices, validation of paths, copies).

The scripts avoid what SkyPilot answers from its online catalogs (instance
types, prices): the test machine has no network.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import pickle
import re
import subprocess
import sys

import pytest
from skypilot_side import skypilot_env, skypilot_python

import sky
from sky import _skycore, exceptions
from sky.clouds import CloudImplementationFeatures
from sky.dag import DagExecution

# Resources members over a range of fields. Left out: a TPU (SkyPilot fills in
# a default runtime_version) and reading to_yaml_config() back (SkyPilot reads
# a region-less image_id back keyed by the string 'null'); both are tested on
# our side below.
_RESOURCES_SCRIPT = """
import json

import sky

CASES = [
    {},
    {"accelerators": "A10"},
    {"accelerators": {"A100": 8}, "use_spot": True, "infra": "aws/us-east-1"},
    {"cpus": "4+", "memory": "16", "disk_size": 100, "infra": "gcp/us-central1/us-central1-a"},
    {"use_spot": False},
    {"autostop": 10},
    {"autostop": {"idle_minutes": 3, "down": True}},
    {"image_id": "docker:ubuntu:22.04"},
    {"infra": "aws/us-east-1", "image_id": {"us-east-1": "ami-123"}},
    {"max_hourly_cost": 2.5},
    {"ports": [8080, "9000-9010"]},
    {"disk_tier": "high", "network_tier": "best"},
    {"job_recovery": "FAILOVER"},
    {"job_recovery": {"strategy": "eager_next_region", "max_restarts_on_errors": 3}},
    {"job_recovery": {"max_restarts_on_errors": 2, "recover_on_exit_codes": [3]}},
]
out = []
for kwargs in CASES:
    r = sky.Resources(**kwargs)
    a = r.autostop_config
    yaml = r.to_yaml_config()
    # SkyPilot writes an image for every region as {None: image}; we write the image.
    if isinstance(yaml.get("image_id"), dict) and list(yaml["image_id"]) == [None]:
        yaml["image_id"] = yaml["image_id"][None]
    out.append({
        "yaml": yaml,
        "accelerators_str": r.get_accelerators_str(),
        "spot_str": r.get_spot_str(),
        "is_empty": r.is_empty(),
        "is_launchable": r.is_launchable(),
        "use_spot_specified": r.use_spot_specified,
        "disk_size_specified": r.disk_size_specified,
        "local_disk": r.local_disk,
        "priority_class": r.priority_class,
        "max_hourly_cost": r.max_hourly_cost,
        "accelerator_args": r.accelerator_args,
        "cluster_config_overrides": r.cluster_config_overrides,
        "no_missing_accel_warnings": r.no_missing_accel_warnings,
        "autostop": None if a is None else [a.enabled, a.idle_minutes, a.down],
        "docker_image": r.extract_docker_image(),
        "cloud_image_id": r.get_cloud_image_id(),
        "docker_login_config": r.docker_login_config,
        "is_image_managed": r.is_image_managed,
        "job_recovery": r.job_recovery,
        "requires_fuse": r.requires_fuse,
        "volumes": r.volumes,
    })
print(json.dumps(out, indent=1, sort_keys=True))
"""

# less_demanding_than, should_be_blocked_by, valid_on_region_zones, and the
# members of Task and Dag.
_TASK_SCRIPT = """
import json

import sky

out = {}


def snap(value):
    # Copied now: SkyPilot hands out its live dicts.
    return json.loads(json.dumps(value))


def task_yaml(task):
    # Without SkyPilot's internal keys (the YAML text it was read from, and
    # the empty volumes it always writes).
    config = snap(task.to_yaml_config())
    config.pop("_user_specified_yaml", None)
    if config.get("volumes") == {}:
        del config["volumes"]
    return config

launched = sky.Resources(infra="aws/us-east-1", accelerators={"A100": 8})
asks = {
    "fewer": sky.Resources(accelerators="A100:4"),
    "more": sky.Resources(accelerators="A100:16"),
    "other_gpu": sky.Resources(accelerators="H100:1"),
    "other_cloud": sky.Resources(infra="gcp"),
    "other_region": sky.Resources(infra="aws/us-west-2"),
    "spot": sky.Resources(use_spot=True),
    "on_demand": sky.Resources(use_spot=False),
    "nothing": sky.Resources(),
}
out["less_demanding"] = {k: r.less_demanding_than(launched) for k, r in asks.items()}
out["less_demanding_nodes"] = [
    asks["fewer"].less_demanding_than([launched, launched], requested_num_nodes=n)
    for n in (1, 2, 3)
]
out["ports"] = [
    sky.Resources(ports=8080).less_demanding_than(
        sky.Resources(infra="aws", ports=["8000-9000"]), check_ports=True),
    sky.Resources(ports=8080).less_demanding_than(
        sky.Resources(infra="aws", ports=[22]), check_ports=True),
    sky.Resources(ports=8080).less_demanding_than(sky.Resources(infra="aws", ports=[22])),
]
placed = sky.Resources(infra="aws/us-east-1", accelerators={"A100": 8}, use_spot=True)
blocks = {
    "cloud": sky.Resources(infra="aws"),
    "region": sky.Resources(infra="aws/us-east-1"),
    "other_region": sky.Resources(infra="aws/us-west-2"),
    "other_cloud": sky.Resources(infra="gcp"),
    "gpu": sky.Resources(accelerators="A100:8"),
    "other_gpu": sky.Resources(accelerators="A100:1"),
    "spot": sky.Resources(use_spot=True),
    "on_demand": sky.Resources(use_spot=False),
}
out["blocked_by"] = {k: placed.should_be_blocked_by(b) for k, b in blocks.items()}
r = sky.Resources(infra="aws/us-east-1")
out["valid_on"] = [
    r.valid_on_region_zones("us-east-1", ["us-east-1a"]),
    r.valid_on_region_zones("us-west-2", ["us-west-2a"]),
    sky.Resources(image_id={"us-east-1": "ami-1"}).valid_on_region_zones("us-west-2", []),
]

config = {
    "name": "train",
    "resources": {"accelerators": {"A100": 8}, "use_spot": True},
    "envs": {"A": "1"},
    "file_mounts": {"/data": "s3://bucket/data", "/code": "/tmp"},
    "num_nodes": 2,
    "run": "echo hi",
}
t = sky.Task.from_yaml_config(config)
out["task"] = {
    "yaml": task_yaml(t),
    "use_spot": t.use_spot,
    "metadata": t.metadata,
    "metadata_json": t.metadata_json,
    "resource_config": t.get_resource_config(),
    "local": t.get_local_to_remote_file_mounts(),
    "is_controller": t.is_controller_task(),
}
t.update_file_mounts({"/more": "/etc", "/code": "/var"})
t.update_envs({"B": "2"})
t.set_resources_override({"use_spot": False, "disk_size": 50})
out["task_updated"] = {"yaml": task_yaml(t), "use_spot": t.use_spot,
                       "file_mounts": snap(t.file_mounts)}
t.set_resources({sky.Resources(accelerators="H100:8"), sky.Resources(accelerators="A100:8")})
out["any_of"] = sorted(r.get_accelerators_str() for r in t.resources)
t.set_resources([sky.Resources(accelerators="H100:8"), sky.Resources(accelerators="A100:8")])
out["ordered"] = [r.get_accelerators_str() for r in t.resources]
e = sky.Task(run="true").update_envs([("A", "1"), ("B", "2")]).update_envs({"A": "3"})
e.update_envs(None)
out["envs"] = snap(e.envs)
e.update_secrets([("TOKEN", "t")])
out["secret_names"] = sorted(e.secrets)
env_errors = []
for bad in ([("A", "1"), ("A", "2")], "A=1", 5, {"1BAD": "x"}):
    try:
        sky.Task(run="true").update_envs(bad)
        env_errors.append("ok")
    except ValueError:
        env_errors.append("ValueError")
out["env_errors"] = env_errors
w = sky.Task(run="true")
w.update_workdir(None, "https://github.com/org/repo", "main")
out["workdir_git"] = snap(w.workdir)
w.update_workdir(None, None, "dev")
out["workdir_ref"] = snap(w.workdir)
w2 = sky.Task(run="true").update_workdir("/tmp", None, None)
out["workdir_dir"] = w2.workdir
errors = []
for name in ["ok-name", "bad name", "a---b", "-x", "a.b_c"]:
    try:
        sky.Task(name, run="true").validate_name()
        errors.append("ok")
    except ValueError:
        errors.append("ValueError")
out["names"] = errors
bad = sky.Task(run="true", workdir="/nonexistent/dir/for/test")
try:
    bad.validate()
    out["bad_workdir"] = "ok"
except ValueError:
    out["bad_workdir"] = "ValueError"
bad.validate(skip_workdir=True)
g = sky.Task(run="true", workdir={"url": "https://github.com/org/repo", "ref": "abc123"})
g.validate()
out["git_metadata"] = g.metadata

dag = sky.Dag()
a, b, c = sky.Task("a", run="x"), sky.Task("b", run="y"), sky.Task("c", run="z")
dag.add(a)
dag.add(b)
dag.add(c)
dag.add_edge(a, b)
dag.add_edge(b, c)
out["dag_default"] = [dag.execution, dag.policy_applied]
dag.remove(b)
out["dag_removed"] = [t.name for t in dag.tasks]
try:
    dag.remove(b)
    out["remove_again"] = "ok"
except ValueError:
    out["remove_again"] = "ValueError"
from sky.dag import DagExecution  # noqa: E402

dag.set_execution(DagExecution.PARALLEL)
out["execution"] = dag.execution.value
dag.validate()
print(json.dumps(out, indent=1, sort_keys=True))
"""


# Members of features skycore has not built (inputs, buckets, volumes, serving,
# managed jobs, job groups): what they read as, and the calls that hand them
# "nothing", for a task that does not use them.
_PLACEHOLDER_SCRIPT = """
import json

import sky

t = sky.Task(run="echo hi")
with sky.Dag() as dag:
    a = sky.Task("a", run="x")
    b = sky.Task("b", run="y")
    a >> b
out = {
    "task": {
        n: getattr(t, n)
        for n in (
            "inputs", "outputs", "estimated_inputs_size_gigabytes",
            "estimated_outputs_size_gigabytes", "time_estimator_func", "storage_mounts",
            "storage_plans", "volumes", "volume_mounts", "service_name", "managed_job_dag",
            "managed_secret_refs", "api_server_access", "file_mounts_mapping",
            "blocked_resources", "docker_image",
        )
    },
    "task_getters": [
        t.get_inputs(), t.get_outputs(), t.get_estimated_inputs_size_gigabytes(),
        t.get_estimated_outputs_size_gigabytes(),
    ],
    "task_nothing": [
        t.set_storage_mounts(None) is t, t.update_storage_mounts({}) is t,
        t.sync_storage_mounts(), t.set_service(None) is t, t.set_volumes({}),
        t.update_volumes({}), t.resolve_and_validate_volumes(),
        t.update_envs_and_secrets_from_workdir() is t, t.storage_mounts, t.volumes,
    ],
    "task_features": [
        sorted(f.value for f in task.get_required_cloud_features())
        for task in (t, sky.Task(run="x", num_nodes=2))
    ],
    "resources_features": [
        sorted(f.value for f in r.get_required_cloud_features())
        for r in (
            sky.Resources(),
            sky.Resources(use_spot=True, ports=8080, disk_tier="high"),
            sky.Resources(disk_tier="best", network_tier="best", image_id="docker:ubuntu"),
        )
    ],
    "hooks": sky.Resources().hooks,
    "spot_reservations": sky.Resources(use_spot=True).get_reservations_available_resources(),
    "dag": {
        n: getattr(dag, n)
        for n in ("primary_tasks", "termination_delay", "inter_connection", "pool")
    },
    "dag_calls": [
        dag.is_job_group(), dag.inter_connection_enabled(), dag.is_primary_task("a"),
        dag.get_auxiliary_task_names(), dag.get_termination_delay_secs("a"),
        dag.pre_mount_volumes(), dag.resolve_and_validate_volumes(),
    ],
}
print(json.dumps(out, indent=1, sort_keys=True))
"""


def _run(python: str, script: str, env: dict[str, str], cwd: pathlib.Path) -> object:
    run = subprocess.run(
        [python, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=cwd,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize(
    "script",
    [_RESOURCES_SCRIPT, _TASK_SCRIPT, _PLACEHOLDER_SCRIPT],
    ids=["resources", "task", "placeholders"],
)
def test_same_answers_as_skypilot(script: str, tmp_path: pathlib.Path) -> None:
    # SkyPilot without PYTHONPATH (which may point at our package).
    theirs_env = skypilot_env()
    theirs = _run(skypilot_python("the SkyPilot API tests"), script, theirs_env, tmp_path)
    ours = _run(sys.executable, script, dict(os.environ), tmp_path)
    assert ours == theirs


# ---------------------------------------------------------------- Resources


def test_accelerators_are_written_as_skypilot_writes_them() -> None:
    assert sky.Resources(accelerators="A10").to_yaml_config() == {"accelerators": {"A10": 1}}
    assert sky.Resources(accelerators="A100:0.5").to_yaml_config() == {
        "accelerators": {"A100": 0.5}
    }
    task = sky.Task.from_yaml_str("resources:\n  accelerators: H100:8\nrun: echo\n")
    assert "H100: 8" in task.to_yaml()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"accelerators": "A10"},
        {"accelerators": "tpu-v2-8", "accelerator_args": {"tpu_vm": True}, "infra": "gcp"},
        {"infra": "aws/us-east-1/us-east-1a", "instance_type": "p3.2xlarge", "use_spot": True},
        {"image_id": "docker:ubuntu:22.04", "ports": [8080, "9000-9010"], "autostop": 10},
        {"cpus": "4+", "memory": "2x", "disk_size": 100, "labels": {"team": "ml"}},
    ],
)
def test_from_yaml_config_reads_back_to_yaml_config(kwargs: dict) -> None:
    resources = sky.Resources(**kwargs)
    assert sky.Resources.from_yaml_config(resources.to_yaml_config()) == {resources}


def test_from_yaml_config_alternatives() -> None:
    assert sky.Resources.from_yaml_config(None) == {sky.Resources()}
    any_of = sky.Resources.from_yaml_config({"accelerators": {"A100:8", "H100:8"}})
    assert isinstance(any_of, set)
    assert any_of == {sky.Resources(accelerators="A100:8"), sky.Resources(accelerators="H100:8")}
    ordered = sky.Resources.from_yaml_config(
        {"ordered": [{"accelerators": "H100:8"}, {"accelerators": "A100:8"}]}
    )
    assert ordered == [sky.Resources(accelerators="H100:8"), sky.Resources(accelerators="A100:8")]
    with pytest.raises(sky.exceptions.InvalidTaskError, match="accelerators"):
        sky.Resources.from_yaml_config({"accelerators": "A100:x"})


def test_get_cost_prices_from_the_catalog() -> None:
    on_demand = sky.Resources(infra="aws/us-east-1", instance_type="p3.2xlarge")
    hourly = on_demand.get_cost(3600)
    assert hourly > 0
    assert on_demand.get_cost(1800) == pytest.approx(hourly / 2)
    spot = on_demand.copy(use_spot=True)
    assert spot.get_cost(3600) < hourly
    # Without a region: the cheapest region that offers it.
    anywhere = sky.Resources(infra="aws", instance_type="p3.2xlarge")
    assert anywhere.get_cost(3600) <= hourly
    with pytest.raises(ValueError, match="cloud and an instance type"):
        sky.Resources(accelerators="A100:8").get_cost(3600)


def test_launchable_needs_cloud_and_instance_type() -> None:
    launchable = sky.Resources(infra="aws", instance_type="p3.2xlarge")
    assert launchable.is_launchable()
    assert launchable.assert_launchable() is launchable
    assert not sky.Resources(infra="aws").is_launchable()
    with pytest.raises(ValueError, match="not launchable"):
        sky.Resources(instance_type="p3.2xlarge").assert_launchable()


def test_cleanup_after_preemption_only_for_gcp_tpu_vms() -> None:
    def resources(**kwargs: object) -> sky.Resources:
        return sky.Resources(infra="gcp", instance_type="TPU-VM", **kwargs)

    assert resources(accelerators="tpu-v2-8").need_cleanup_after_preemption_or_failure()
    tpu_node = resources(accelerators="tpu-v2-8", accelerator_args={"tpu_vm": False})
    assert not tpu_node.need_cleanup_after_preemption_or_failure()
    assert not resources(accelerators="A100:1").need_cleanup_after_preemption_or_failure()
    aws = sky.Resources(infra="aws", instance_type="p3.2xlarge", use_spot=True)
    assert not aws.need_cleanup_after_preemption_or_failure()
    with pytest.raises(ValueError, match="not launchable"):
        sky.Resources(infra="gcp").need_cleanup_after_preemption_or_failure()


def test_repr_with_region_zone() -> None:
    located = sky.Resources(infra="aws/us-east-1/us-east-1a", accelerators="A100:8")
    assert located.repr_with_region_zone == (
        repr(located)[:-1] + ", region=us-east-1, zone=us-east-1a)"
    )
    assert sky.Resources().repr_with_region_zone == repr(sky.Resources())


def test_override_autostop_config_changes_this_resources() -> None:
    resources = sky.Resources(accelerators="A10")
    resources.override_autostop_config()  # neither down nor idle_minutes: no change
    assert resources.autostop_config is None
    resources.override_autostop_config(down=True, idle_minutes=7, wait_for="jobs")
    config = resources.autostop_config
    assert (config.enabled, config.down, config.idle_minutes, config.wait_for) == (
        True,
        True,
        7,
        "jobs",
    )
    assert resources.to_yaml_config()["autostop"]["idle_minutes"] == 7
    with pytest.raises(ValueError, match="wait_for must be"):
        resources.override_autostop_config(down=True, wait_for="never")


def test_verbatim_fields_read_back() -> None:
    (resources,) = sky.Resources.from_yaml_config(
        {
            "local_disk": "nvme:>=100",
            "priority_class": "high",
            "_cluster_config_overrides": {"kubernetes": {"pod_config": {}}},
            "_no_missing_accel_warnings": True,
        }
    )
    assert resources.local_disk == "nvme:>=100"
    assert resources.priority_class == "high"
    assert resources.cluster_config_overrides == {"kubernetes": {"pod_config": {}}}
    assert resources.no_missing_accel_warnings is True
    # As in SkyPilot, these fields do not make a request non-empty.
    assert resources.is_empty()
    assert resources.validate() is None
    resources.set_requires_fuse(True)
    assert resources.requires_fuse


# -------------------------------------------------------------------- Task


_TASK_YAML = """\
name: train
resources:
  infra: aws
  accelerators: {A100: 8}
  use_spot: true
envs:
  EPOCHS: "3"
file_mounts:
  /data: s3://bucket/data
num_nodes: 2
setup: pip install torch
run: python train.py
"""


def test_from_yaml_config_equals_from_yaml(tmp_path: pathlib.Path) -> None:
    import yaml

    path = tmp_path / "task.yaml"
    path.write_text(_TASK_YAML)
    from_config = sky.Task.from_yaml_config(yaml.safe_load(_TASK_YAML))
    assert from_config == sky.Task.from_yaml(str(path))
    assert from_config == sky.Task.from_yaml(path)
    assert from_config == sky.Task.from_yaml_str(_TASK_YAML)


def test_set_resources_takes_one_a_set_or_a_list() -> None:
    task = sky.Task(run="true")
    assert task.set_resources(sky.Resources(accelerators="A10")) is task
    assert task.resources == {sky.Resources(accelerators="A10")}
    choices = [sky.Resources(accelerators="H100:8"), sky.Resources(accelerators="A100:8")]
    task.set_resources(set(choices))
    assert task.resources == set(choices) and not task.resources_ordered
    task.set_resources(choices)
    assert task.resources == choices and task.resources_ordered
    with pytest.raises(TypeError):
        task.set_resources("A100:8")


def test_set_resources_override_keeps_the_order_kind() -> None:
    task = sky.Task(run="true").set_resources(
        [sky.Resources(accelerators="H100:8"), sky.Resources(accelerators="A100:8")]
    )
    assert task.set_resources_override({"use_spot": True, "infra": "gcp"}) is task
    assert task.resources_ordered
    assert [r.cloud for r in task.resources] == ["gcp", "gcp"]
    assert task.use_spot


def test_update_file_mounts_merges() -> None:
    task = sky.Task(run="true", file_mounts={"/a": "/tmp", "/b": "s3://bucket/b"})
    assert task.update_file_mounts({"/b": "/etc", "/c": "gs://bucket/c"}) is task
    assert task.file_mounts == {"/a": "/tmp", "/b": "/etc", "/c": "gs://bucket/c"}
    assert task.get_local_to_remote_file_mounts() == {"/a": "/tmp", "/b": "/etc"}
    assert task.get_cloud_to_remote_file_mounts() == {"/c": "gs://bucket/c"}
    assert sky.Task(run="true").get_local_to_remote_file_mounts() is None
    with pytest.raises(TypeError):
        task.update_file_mounts(["/a"])


def test_update_workdir() -> None:
    task = sky.Task(run="true")
    assert task.update_workdir(None, None, None) is task and task.workdir is None
    task.update_workdir("~/code", None, None)
    assert task.workdir == "~/code"
    task.update_workdir(None, "https://github.com/org/repo", None)
    assert task.workdir == {"url": "https://github.com/org/repo"}
    task.update_workdir("/ignored/for/a/repository", None, "v1")
    assert task.workdir == {"url": "https://github.com/org/repo", "ref": "v1"}


def test_validate_expands_paths(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "data.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    task = sky.Task(
        "ok", run="true", workdir="code", file_mounts={"/data": "data.txt", "/s3": "s3://b/k"}
    )
    task.validate()
    assert task.workdir == str(tmp_path / "code")
    assert task.file_mounts == {"/data": str(tmp_path / "data.txt"), "/s3": "s3://b/k"}
    missing = sky.Task(run="true", file_mounts={"/x": "no-such-file"})
    with pytest.raises(ValueError, match="does not exist locally"):
        missing.validate()
    missing.validate(skip_file_mounts=True)
    with pytest.raises(ValueError, match="cannot end with a slash"):
        sky.Task(run="true", file_mounts={"/x/": "data.txt"}).expand_and_validate_file_mounts()
    with pytest.raises(ValueError, match="Invalid task name"):
        sky.Task("bad name", run="true").validate()


def test_metadata_comes_from_the_yaml() -> None:
    task = sky.Task.from_yaml_config({"run": "true", "_metadata": {"git_commit": "abc"}})
    assert task.metadata == {"git_commit": "abc"}
    assert json.loads(task.metadata_json) == {"git_commit": "abc"}
    assert sky.Task(run="true").metadata == {}


def test_optimize_records_best_resources() -> None:
    task = sky.Task(run="true", resources=sky.Resources(infra="aws", accelerators="V100:1"))
    assert task.best_resources is None
    # The native optimizer, whatever shape sky.optimize's answer takes.
    plan = _skycore.optimize(task)
    best = task.best_resources
    chosen = plan["tasks"][0]["chosen"]
    assert best.is_launchable()
    assert (best.cloud, best.region, best.instance_type) == (
        "aws",
        chosen["region"],
        chosen["instance_type"],
    )
    assert best.less_demanding_than(best)
    assert task.resources == {sky.Resources(infra="aws", accelerators="V100:1")}
    # Copies keep it, as SkyPilot's (plain attributes) do.
    assert copy.deepcopy(task).best_resources == best
    assert copy.copy(task).best_resources == best


def test_resources_copy_and_pickle() -> None:
    resources = sky.Resources(infra="aws/us-east-1", accelerators="A10", autostop=5, ports=8080)
    assert pickle.loads(pickle.dumps(resources)) == resources
    assert copy.deepcopy(resources) == resources == copy.copy(resources)
    copied = copy.deepcopy(resources)
    copied.override_autostop_config(idle_minutes=1)
    assert resources.autostop_config.idle_minutes == 5


# --------------------------------------------------------------------- Dag


def test_dag_remove_drops_the_task_and_its_edges() -> None:
    with sky.Dag() as dag:
        a, b, c = sky.Task("a", run="x"), sky.Task("b", run="y"), sky.Task("c", run="z")
        a >> b >> c
    dag.remove(b)
    assert [t.name for t in dag.tasks] == ["a", "c"] and dag.edges == []
    dag.add_edge(a, c)
    assert dag.is_chain()
    with pytest.raises(ValueError):
        dag.remove(b)


def test_dag_execution_and_policy_applied_are_attributes() -> None:
    dag = sky.Dag()
    assert dag.execution is None and dag.policy_applied is False
    dag.set_execution(DagExecution.SERIAL)
    dag.policy_applied = True
    copied = copy.deepcopy(dag)
    assert copied.execution is DagExecution.SERIAL and copied.policy_applied
    assert sky.Dag().execution is None
    assert DagExecution("parallel") is DagExecution.PARALLEL


def test_dag_validate_validates_each_task() -> None:
    dag = sky.Dag()
    dag.add(sky.Task("ok", run="true"))
    dag.validate()
    dag.add(sky.Task(run="true", workdir="/no/such/dir"))
    with pytest.raises(ValueError, match="Workdir must be a valid directory"):
        dag.validate()
    dag.validate(skip_workdir=True)


# ------------------------------------------- Members of features not built yet


@pytest.mark.parametrize(
    ("call", "feature"),
    [
        (lambda t: t.set_inputs("s3://bucket", 1.0), "task inputs"),
        (lambda t: t.set_outputs("s3://bucket", 1.0), "task inputs/outputs"),
        (lambda t: t.set_time_estimator(lambda r: 1), "time estimates"),
        (lambda t: t.estimate_runtime(sky.Resources()), "time estimates"),
        (lambda t: t.get_inputs_cloud(), "task inputs"),
        (lambda t: setattr(t, "inputs", "s3://bucket"), "task inputs"),
        (lambda t: t.set_storage_mounts({"/data": object()}), "storage buckets"),
        (lambda t: t.update_storage_mounts({"/data": object()}), "storage buckets"),
        (lambda t: t.set_volumes({"/mnt": "vol"}), "volumes"),
        (lambda t: t.update_volumes({"/mnt": "vol"}), "volumes"),
        (lambda t: t.set_service(object()), "serving"),
        (lambda t: setattr(t, "service_name", "svc"), "serving"),
        (lambda t: setattr(t, "managed_job_dag", sky.Dag()), "managed jobs"),
        (lambda t: setattr(t, "docker_image", "ubuntu"), "image_id 'docker:<image>'"),
    ],
)
def test_task_calls_of_features_not_built_raise(call, feature: str) -> None:
    task = sky.Task(run="echo hi")
    with pytest.raises(exceptions.NotSupportedError, match=re.escape(feature)):
        call(task)


def test_task_members_of_features_not_built_read_what_the_task_declares() -> None:
    task = sky.Task(run="x", volumes={"/mnt": "vol"}, file_mounts={"/data": {"source": "s3://b"}})
    assert task.volumes == {"/mnt": "vol"}
    with pytest.raises(exceptions.NotSupportedError, match="volumes"):
        task.resolve_and_validate_volumes()
    with pytest.raises(exceptions.NotSupportedError, match="volumes"):
        task.set_volumes({})
    # A bucket among file_mounts is what SkyPilot's storage_mounts would hold.
    with pytest.raises(exceptions.NotSupportedError, match=r"storage buckets.*/data"):
        task.storage_mounts  # noqa: B018
    with pytest.raises(exceptions.NotSupportedError, match="storage buckets"):
        task.sync_storage_mounts()
    features = task.get_required_cloud_features()
    assert features == {CloudImplementationFeatures.STORAGE_MOUNTING}
    copied = sky.Task(run="x", file_mounts={"/d": {"source": "s3://b", "mode": "COPY"}})
    assert copied.get_required_cloud_features() == set()
    dag = sky.Dag()
    dag.add(task)
    with pytest.raises(exceptions.NotSupportedError, match="volumes"):
        dag.resolve_and_validate_volumes()
    with pytest.raises(exceptions.NotSupportedError, match="volumes"):
        dag.pre_mount_volumes()


def test_git_workdir_credentials_are_not_read_yet() -> None:
    task = sky.Task(run="x", workdir={"url": "https://github.com/org/repo", "ref": "main"})
    with pytest.raises(exceptions.NotSupportedError, match="git credentials"):
        task.update_envs_and_secrets_from_workdir()


@pytest.mark.parametrize(
    ("call", "feature"),
    [
        (lambda r: r.get_valid_regions_for_launchable(), "Region objects"),
        (lambda r: r.get_reservations_available_resources(), "capacity reservations"),
        (lambda r: r.make_deploy_variables("c", "us-east-1", None, 1, True), "Ray cluster"),
    ],
)
def test_resources_calls_of_features_not_built_raise(call, feature: str) -> None:
    resources = sky.Resources(infra="aws/us-east-1", instance_type="m6i.large")
    with pytest.raises(exceptions.NotSupportedError, match=feature):
        call(resources)


def test_dag_job_group_members_read_as_a_dag_that_is_not_one() -> None:
    dag = sky.Dag()
    with pytest.raises(exceptions.NotSupportedError, match="job groups"):
        dag.primary_tasks = ["a"]
    with pytest.raises(exceptions.NotSupportedError, match="managed jobs"):
        dag.pool = "workers"
    dag.primary_tasks = None
    dag.set_execution(DagExecution.PARALLEL)
    assert dag.is_job_group()
    # sky.DagExecution is sky.dag.DagExecution: one enum, as in SkyPilot.
    assert sky.DagExecution is DagExecution


def test_dag_graph_is_a_networkx_digraph() -> None:
    networkx = pytest.importorskip("networkx")
    with sky.Dag() as dag:
        a, b, c = sky.Task("a", run="x"), sky.Task("b", run="y"), sky.Task("c", run="z")
        a >> b >> c
    graph = dag.get_graph()
    assert isinstance(graph, networkx.DiGraph)
    assert list(graph.nodes) == [a, b, c] and list(graph.edges) == [(a, b), (b, c)]
    assert list(networkx.topological_sort(dag.graph)) == dag.topological_order()


def test_dag_graph_without_networkx_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "networkx", None)
    with pytest.raises(exceptions.NotSupportedError, match="needs networkx"):
        sky.Dag().graph  # noqa: B018


@pytest.mark.parametrize(
    ("use", "feature"),
    [
        (lambda: sky.backends.CloudVmRayBackend, "provisioning is native"),
        (lambda: sky.batch.load, "batch"),
        (lambda: sky.JOBS_RECOVERY_STRATEGY_REGISTRY["failover"], "managed jobs"),
        (lambda: "failover" in sky.JOBS_RECOVERY_STRATEGY_REGISTRY, "managed jobs"),
        (lambda: sky.JOBS_RECOVERY_STRATEGY_REGISTRY.from_str("failover"), "managed jobs"),
    ],
)
def test_top_level_names_of_features_not_built_raise(use, feature: str) -> None:
    with pytest.raises(exceptions.NotSupportedError, match=feature):
        use()


def test_modules_of_features_not_built_import() -> None:
    import sky.backends
    import sky.batch

    assert not hasattr(sky.backends, "__wrapped__")
    assert sky.batch.__name__ == "sky.batch"


def test_import_sky_does_not_load_the_placeholders() -> None:
    script = (
        "import sys, sky\n"
        "sky.Task(run='x').storage_mounts, sky.Dag().is_job_group()\n"
        "lazy = ['sky._placeholders', 'sky.backends', 'sky.batch', 'sky.clouds', 'networkx']\n"
        "assert not [m for m in lazy if m in sys.modules], sys.modules.keys()\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
