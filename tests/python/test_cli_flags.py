"""SkyPilot 0.14.1's flags and sub-commands that users' scripts pass to `sky`,
run with --dryrun so nothing launches."""

from __future__ import annotations

import os
import subprocess

import pytest


def run(sky_bin: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sky_bin, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def plan_resources(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "resources:" in line]
    assert len(lines) == 1, result.stdout
    return lines[0]


def dryrun(sky_bin: str, repo, *flags: str, yaml: str = "examples/hello.yaml"):
    return run(sky_bin, "launch", "--dryrun", *flags, yaml, cwd=repo)


# ---------------------------------------------------------------- location


def test_cloud_region_zone_set_the_infra(sky_bin: str, repo) -> None:
    result = dryrun(sky_bin, repo, "--cloud", "aws", "--region", "us-west-2")
    assert "resources: aws/us-west-2 " in plan_resources(result)
    assert "deprecated" in result.stderr and "--infra" in result.stderr
    assert "(us-west-2" in result.stdout  # the optimizer kept to that region


def test_region_keeps_the_yaml_cloud(sky_bin: str, repo, tmp_path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  infra: aws/us-east-1\nrun: echo hi\n")
    result = dryrun(sky_bin, repo, "--region", "us-west-2", yaml=str(task))
    assert "resources: aws/us-west-2" in plan_resources(result)
    cleared = dryrun(sky_bin, repo, "--region", "none", yaml=str(task))
    assert plan_resources(cleared).strip() == "resources: aws"
    other_cloud = dryrun(sky_bin, repo, "--cloud", "*", yaml=str(task))
    assert "resources: */us-east-1" in plan_resources(other_cloud)


def test_infra_with_cloud_region_or_zone_is_an_error(sky_bin: str, repo) -> None:
    result = dryrun(sky_bin, repo, "--infra", "aws", "--region", "us-west-2")
    assert result.returncode == 2
    assert "--infra aws" in result.stderr and "--region us-west-2" in result.stderr
    assert "nothing was launched" not in result.stdout


def test_location_flags_are_hidden_but_exec_takes_them(sky_bin: str) -> None:
    for command in ("launch", "exec"):
        help_text = run(sky_bin, command, "--help").stdout
        assert "--infra" in help_text
        assert "--region" not in help_text and "--zone" not in help_text
    # exec parses them (it fails later only because the cluster does not exist).
    result = run(sky_bin, "exec", "--cloud", "aws", "--zone", "x", "--infra", "aws", "c", "ls")
    assert result.returncode == 2
    assert "--infra aws" in result.stderr and "--zone x" in result.stderr


# ------------------------------------------------------------------- ports


def test_ports_repeatable_ranges_and_lists(sky_bin: str, repo) -> None:
    result = dryrun(sky_bin, repo, "--ports", "8080", "--ports", "9000-9010,9090")
    assert "ports=8080,9000-9010,9090" in plan_resources(result)


def test_ports_override_and_clear_the_yaml(sky_bin: str, repo, tmp_path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  ports: [22, 8888]\nrun: echo hi\n")
    assert "ports=22,8888" in plan_resources(dryrun(sky_bin, repo, yaml=str(task)))
    replaced = dryrun(sky_bin, repo, "--ports", "443", yaml=str(task))
    assert "ports=443 " in plan_resources(replaced) + " "
    assert "ports=" not in plan_resources(dryrun(sky_bin, repo, "--ports", "none", yaml=str(task)))


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        (("--ports", "70000"), "70000"),
        (("--ports", "none", "--ports", "80"), "none"),
        (("--ports", "9-1"), "9-1"),
    ],
)
def test_bad_ports(sky_bin: str, repo, ports, message) -> None:
    result = dryrun(sky_bin, repo, *ports)
    assert result.returncode == 2
    assert message in result.stderr


# --------------------------------------------------------------- disk tier


def test_disk_tier(sky_bin: str, repo, tmp_path) -> None:
    assert "disk_tier=high" in plan_resources(dryrun(sky_bin, repo, "--disk-tier", "HIGH"))
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  disk_tier: best\nrun: echo hi\n")
    assert "disk_tier=best" in plan_resources(dryrun(sky_bin, repo, yaml=str(task)))
    cleared = dryrun(sky_bin, repo, "--disk-tier", "none", yaml=str(task))
    assert "disk_tier" not in plan_resources(cleared)
    bad = dryrun(sky_bin, repo, "--disk-tier", "fast")
    assert bad.returncode == 2
    assert "'fast'" in bad.stderr and "ultra" in bad.stderr


def test_network_tier_and_no_use_spot(sky_bin: str, repo, tmp_path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  use_spot: true\n  network_tier: best\nrun: echo hi\n")
    assert "[spot] network_tier=best" in plan_resources(dryrun(sky_bin, repo, yaml=str(task)))
    overridden = plan_resources(
        dryrun(sky_bin, repo, "--no-use-spot", "--network-tier", "Standard", yaml=str(task))
    )
    assert "[spot]" not in overridden and "network_tier=standard" in overridden
    both = dryrun(sky_bin, repo, "--use-spot", "--no-use-spot")
    assert both.returncode == 2
    assert "--use-spot" in both.stderr and "--no-use-spot" in both.stderr
    bad = dryrun(sky_bin, repo, "--network-tier", "fastest")
    assert bad.returncode == 2 and "'fastest'" in bad.stderr and "standard" in bad.stderr


def test_none_clears_a_resource_field(sky_bin: str, repo, tmp_path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  accelerators: H100:8\nrun: echo hi\n")
    assert "H100" in plan_resources(dryrun(sky_bin, repo, yaml=str(task)))
    assert "H100" not in plan_resources(dryrun(sky_bin, repo, "--gpus", "none", yaml=str(task)))


# -------------------------------------------------------------- sky gpus


def test_gpus_list_is_show_gpus(sky_bin: str) -> None:
    for args in ((), ("H100:8",), ("--all",), ("--infra", "aws", "A100")):
        show = run(sky_bin, "show-gpus", *args)
        listed = run(sky_bin, "gpus", "list", *args)
        assert listed.returncode == show.returncode == 0, listed.stderr
        assert listed.stdout == show.stdout
    group = run(sky_bin, "gpus")
    assert group.returncode == 0
    assert "list" in group.stdout and "Usage: sky gpus" in group.stdout
    assert "sky gpus list" in run(sky_bin, "gpus", "list", "--help").stdout


def test_show_gpus_all_lists_every_gpu_with_its_offerings(sky_bin: str) -> None:
    # As SkyPilot's `-a`: the names and counts, then a table per GPU (no REGION).
    result = run(sky_bin, "show-gpus", "--all", "--infra", "aws")
    assert result.returncode == 0, result.stderr
    tables = result.stdout.strip().split("\n\n")
    summary = tables[0].splitlines()
    assert summary[0].split() == ["GPU", "AVAILABLE_QUANTITIES"], result.stdout
    names = [line.split()[0] for line in summary[1:]]
    assert "A10G" in names and "Hint" not in result.stdout, result.stdout
    details = tables[1:]
    assert len(details) == len(names), result.stdout
    for name, table in zip(names, details, strict=True):
        header, *rows = table.splitlines()
        assert header.split()[-1] == "HOURLY_SPOT_PRICE" and "REGION" not in header, table
        assert rows and all(row.split()[0] == name for row in rows), table
    a10g = details[names.index("A10G")]
    assert "g5.xlarge" in a10g and "$ " in a10g, a10g


# -------------------------------------------------- unknown and unsupported


def test_jobs_is_a_command_group_with_skypilots_sub_commands(sky_bin: str) -> None:
    group = run(sky_bin, "jobs", "--help")
    assert group.returncode == 0, group.stderr
    for sub in ("launch", "queue", "logs", "cancel"):
        assert sub in group.stdout
    # The controller daemon's own sub-command is hidden.
    assert not any(line.split()[:1] == ["controller"] for line in group.stdout.splitlines())
    launch = run(sky_bin, "jobs", "launch", "--help").stdout
    for flag in ("--priority", "--infra", "--detach-run", "--gpus", "-n,--name"):
        assert flag in launch, flag
    queue = run(sky_bin, "jobs", "queue", "--help").stdout
    for flag in ("--refresh", "--skip-finished", "--all-users"):
        assert flag in queue, flag
    assert "--controller" in run(sky_bin, "jobs", "logs", "--help").stdout
    unknown = run(sky_bin, "jobs", "lanch")
    assert unknown.returncode == 2 and "'launch'" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "feature"),
    [
        (("serve", "up", "service.yaml"), "SkyServe"),
        (("api", "info"), "API server"),
        (("volumes", "ls"), "volumes"),
        (("gpus", "label"), "Kubernetes GPU nodes"),
    ],
)
def test_unsupported_commands_say_so(sky_bin: str, args, feature) -> None:
    result = run(sky_bin, *args)
    assert result.returncode != 0
    assert "not supported" in result.stderr and feature in result.stderr
    command = " ".join(args[:2]) if args[0] == "gpus" else args[0]
    assert f"`sky {command}`" in result.stderr
    assert "Usage:" not in result.stdout  # not another command's help


@pytest.mark.parametrize(
    ("args", "named", "suggestion"),
    [
        (("lanch", "task.yaml"), "'sky lanch'", "'launch'"),
        (("stat",), "'sky stat'", "'status'"),
        (("catalog", "refesh"), "'sky catalog refesh'", "'refresh'"),
        (("ssh", "upp"), "'sky ssh upp'", "'up'"),
    ],
)
def test_unknown_commands_get_close_matches(sky_bin: str, args, named, suggestion) -> None:
    result = run(sky_bin, *args)
    assert result.returncode == 2
    assert "no such command" in result.stderr and named in result.stderr
    assert suggestion in result.stderr
    assert "Usage:" not in result.stdout


def test_unknown_command_without_a_close_match_lists_the_commands(sky_bin: str) -> None:
    result = run(sky_bin, "xyzzy")
    assert result.returncode == 2
    assert "'sky xyzzy'" in result.stderr and "launch" in result.stderr


# ------------------------------------------- flags skycore cannot honour yet


@pytest.mark.parametrize("command", ["launch", "exec"])
def test_config_and_async_say_they_are_not_supported(sky_bin: str, repo, command) -> None:
    target = ("--dryrun",) if command == "launch" else ("no-such-cluster",)
    for flags, named in (
        (("--config", "kubernetes.pod_config.x=1"), "--config kubernetes.pod_config.x=1"),
        (("--async",), "--async"),
    ):
        result = run(sky_bin, command, *flags, *target, "examples/hello.yaml", cwd=repo)
        assert result.returncode == 2
        assert named in result.stderr and "not supported" in result.stderr
    # --no-async is how skycore works anyway.
    fine = run(sky_bin, "launch", "--no-async", "--dryrun", "examples/hello.yaml", cwd=repo)
    assert fine.returncode == 0, fine.stderr


# ------------------------------------------------- secrets and git workdirs


def test_secret_file_and_secret_override(sky_bin: str, repo, tmp_path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("HF_TOKEN=from-file\nWANDB_KEY=k\n")
    task = tmp_path / "task.yaml"
    task.write_text("secrets:\n  HF_TOKEN: null\n  WANDB_KEY: null\nrun: echo hi\n")
    result = dryrun(
        sky_bin, repo, "--secret-file", str(secrets), "--secret", "HF_TOKEN=x", yaml=str(task)
    )
    assert result.returncode == 0, result.stderr
    assert "secret HF_TOKEN=<redacted>" in result.stdout
    assert "secret WANDB_KEY=<redacted>" in result.stdout
    assert "from-file" not in result.stdout + result.stderr
    # Without the file the null secrets have no value: the dry run fails.
    assert dryrun(sky_bin, repo, yaml=str(task)).returncode != 0


def test_git_url_and_ref_make_a_git_workdir(sky_bin: str, repo, tmp_path) -> None:
    url = "https://github.com/skypilot-org/skypilot.git"
    result = dryrun(sky_bin, repo, "--git-url", url, "--git-ref", "v0.14.1")
    assert result.returncode == 0, result.stderr
    assert f"workdir: {url} (ref v0.14.1)" in result.stdout
    task = tmp_path / "task.yaml"
    task.write_text(f"workdir:\n  url: {url}\n  ref: main\nrun: echo hi\n")
    ref_only = dryrun(sky_bin, repo, "--git-ref", "dev", yaml=str(task))
    assert f"workdir: {url} (ref dev)" in ref_only.stdout
    both = dryrun(sky_bin, repo, "--git-url", url, "--workdir", ".")
    assert both.returncode == 2
    assert "--git-url" in both.stderr and "--workdir" in both.stderr


def test_exec_takes_the_cluster_as_c(sky_bin: str, tmp_path) -> None:
    env_home = {"HOME": str(tmp_path), "SKYCORE_STATE_DIR": str(tmp_path / "state")}
    for args in (("-c", "dev", "echo", "hi"), ("dev", "echo", "hi")):
        result = subprocess.run(
            [sky_bin, "exec", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env_home},
            check=False,
        )
        assert result.returncode != 0
        assert "cluster 'dev' does not exist" in result.stderr


# ------------------------------------------------------------- sky status


def test_status_ip_needs_one_existing_up_cluster(sky_bin: str, tmp_path) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "SKYCORE_STATE_DIR": str(tmp_path / "state"),
    }

    def status(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sky_bin, "status", *args], capture_output=True, text=True, timeout=60, env=env
        )

    none = status("--ip")
    assert none.returncode != 0 and "specify a single cluster" in none.stderr
    missing = status("--ip", "dev")
    assert missing.returncode != 0 and "'dev' does not exist" in missing.stderr
    refresh = status("--ip", "--refresh", "dev")
    assert refresh.returncode == 2 and "--refresh" in refresh.stderr
    # SkyPilot's scripts pass these; with no managed jobs, services or pools
    # (and one user per state dir) the table is the same.
    plain = status()
    assert status("-o", "json").stdout.strip() == "[]"
    assert status("-o", "yaml").returncode != 0
    for flags in (("-u",), ("--no-show-managed-jobs", "--no-show-services", "--no-show-pools")):
        same = status(*flags)
        assert same.returncode == 0, same.stderr
        assert same.stdout == plain.stdout


def test_wait_for_choices(sky_bin: str, repo) -> None:
    assert dryrun(sky_bin, repo, "-i", "10", "--wait-for", "none").returncode == 0
    bad = dryrun(sky_bin, repo, "-i", "10", "--wait-for", "forever")
    assert bad.returncode == 2 and "'forever'" in bad.stderr and "jobs_and_ssh" in bad.stderr
    ssh = dryrun(sky_bin, repo, "-i", "10", "--wait-for", "jobs_and_ssh")
    assert ssh.returncode == 2 and "not supported" in ssh.stderr


def test_priority_sets_the_resources_priority_or_class(sky_bin: str, repo, tmp_path) -> None:
    assert "priority=10" in plan_resources(dryrun(sky_bin, repo, "--priority", "10"))
    named = plan_resources(dryrun(sky_bin, repo, "--priority", "high"))
    assert "priority_class=high" in named and "priority=" not in named.replace("_class=", "")
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  priority: 7\n  priority_class: batch\nrun: echo hi\n")
    assert "priority=7 priority_class=batch" in plan_resources(
        dryrun(sky_bin, repo, yaml=str(task))
    )
    # Either form replaces both; none clears both.
    assert plan_resources(dryrun(sky_bin, repo, "--priority", "-5", yaml=str(task))).endswith(
        " priority=-5"
    )
    assert "priority" not in plan_resources(
        dryrun(sky_bin, repo, "--priority", "none", yaml=str(task))
    )
    bad = dryrun(sky_bin, repo, "--priority", "5000")
    assert bad.returncode == 2 and "5000" in bad.stderr
