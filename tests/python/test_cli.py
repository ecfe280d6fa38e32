"""The native `sky` command, run as a user would."""

from __future__ import annotations

import subprocess


def run(sky_bin: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sky_bin, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_help(sky_bin: str) -> None:
    result = run(sky_bin, "--help")
    assert result.returncode == 0
    assert "launch" in result.stdout
    launch = run(sky_bin, "launch", "--help")
    assert launch.returncode == 0
    for flag in (
        "--dryrun",
        "--env",
        "--secret",
        "--env-file",
        "--gpus",
        "--infra",
        "-c,--cluster",
    ):
        assert flag in launch.stdout, flag


def test_dryrun_of_example(sky_bin: str, repo) -> None:
    result = run(sky_bin, "launch", "--dryrun", "examples/hello.yaml", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "hello" in result.stdout
    assert "nothing was launched" in result.stdout


def test_overrides(sky_bin: str, repo) -> None:
    result = run(
        sky_bin,
        "launch",
        "--dryrun",
        "--gpus",
        "H100:8",
        "--env",
        "GREETING=hi",
        "--secret",
        "TOKEN=topsecret",
        "examples/hello.yaml",
        cwd=repo,
    )
    assert result.returncode == 0, result.stderr
    assert "{H100:8}" in result.stdout
    assert "GREETING=hi" in result.stdout
    assert "topsecret" not in result.stdout + result.stderr


def test_null_env_must_be_given(sky_bin: str, repo) -> None:
    result = run(sky_bin, "launch", "--dryrun", "examples/gpu_training.yaml", cwd=repo)
    assert result.returncode == 2
    assert "HF_TOKEN" in result.stderr and "--env" in result.stderr
    ok = run(
        sky_bin, "launch", "--dryrun", "--env", "HF_TOKEN=x", "examples/gpu_training.yaml", cwd=repo
    )
    assert ok.returncode == 0, ok.stderr


def test_null_secret_loads_but_must_be_given_to_launch(sky_bin: str, tmp_path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("secrets:\n  HF_TOKEN: null\nrun: echo hi\n")
    # Even a dry run stops, as SkyPilot's does, naming the secret and the flag.
    result = run(sky_bin, "launch", "--dryrun", str(task))
    assert result.returncode == 2
    assert "secrets.HF_TOKEN" in result.stderr and "--secret HF_TOKEN=" in result.stderr
    ok = run(sky_bin, "launch", "--dryrun", "--secret", "HF_TOKEN=hf-value-123", str(task))
    assert ok.returncode == 0, ok.stderr
    assert "HF_TOKEN=<redacted>" in ok.stdout
    assert "hf-value-123" not in ok.stdout + ok.stderr


def test_env_file(sky_bin: str, repo, tmp_path) -> None:
    env_file = tmp_path / "vars.env"
    env_file.write_text("# comment\nexport HF_TOKEN='from file'\n")
    result = run(
        sky_bin,
        "launch",
        "--dryrun",
        "--env-file",
        str(env_file),
        "examples/gpu_training.yaml",
        cwd=repo,
    )
    assert result.returncode == 0, result.stderr
    assert "HF_TOKEN=from file" in result.stdout


def test_invalid_yaml_is_reported_without_traceback(sky_bin: str, repo) -> None:
    path = "tests/yaml/invalid/04-resources-typo-acelerators.yaml"
    result = run(sky_bin, "launch", "--dryrun", path, cwd=repo)
    assert result.returncode == 2
    assert result.stderr.startswith(f"sky: error: {path}:")
    assert "Did you mean 'accelerators'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_and_command_entrypoint(sky_bin: str, repo) -> None:
    missing = run(sky_bin, "launch", "--dryrun", "nope.yaml", cwd=repo)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    command = run(sky_bin, "launch", "--dryrun", "--", "echo", "hello", cwd=repo)
    assert command.returncode == 0, command.stderr
    assert "run: echo hello" in command.stdout


def test_bad_flag_value(sky_bin: str, repo) -> None:
    result = run(sky_bin, "launch", "--dryrun", "--gpus", "A100:x", "examples/hello.yaml", cwd=repo)
    assert result.returncode == 2
    assert "resources.accelerators" in result.stderr
