"""The cluster life-cycle SDK on the local infra, used as SkyPilot's SDK is.

Every test runs under a deadline (SIGALRM; the SDK cancels the request it was
waiting for), and every cluster is torn down by a fixture, so a failing test
leaves no agent running.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import sky
from sky import _sdk, _skycore, exceptions
from sky._output import OutputWriter

TEST_DEADLINE_S = 90


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raises TimeoutError in the main thread after `seconds`, even inside sky.get."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"test did not finish within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def poll(condition: Callable[[], Any], timeout_s: float = 30, what: str = "condition") -> Any:
    """Polls until `condition()` is truthy; returns its value."""
    end = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def down_all() -> None:
    for record in sky.get(sky.status()):
        sky.get(sky.down(record["name"], purge=True))


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def job_status_of(cluster: str, job_id: int) -> sky.JobStatus | None:
    return sky.get(sky.job_status(cluster, [job_id])).get(job_id)


@pytest.fixture(scope="module")
def sky_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    """A fresh state dir and HOME, used by a fresh process-wide context."""
    root = tmp_path_factory.mktemp("sky")
    (root / "home").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SKYCORE_STATE_DIR", str(root / "state"))
        env.setenv("HOME", str(root / "home"))
        previous = _sdk.set_context(_sdk.Context.from_environment())
        try:
            yield root
        finally:
            with deadline(TEST_DEADLINE_S):
                down_all()
            _sdk.set_context(previous)


@pytest.fixture(autouse=True)
def bounded(sky_env: pathlib.Path) -> Iterator[None]:
    with deadline(TEST_DEADLINE_S):
        yield


@pytest.fixture
def cluster_name(sky_env: pathlib.Path) -> Iterator[str]:
    """A cluster name that is torn down after the test, whatever happened."""
    name = new_name("t")
    try:
        yield name
    finally:
        if sky.get(sky.status([name])):
            sky.get(sky.down(name, purge=True))


class Launched:
    def __init__(self, name: str, job_id: int, handle: Any, output: str) -> None:
        self.name = name
        self.job_id = job_id
        self.handle = handle
        self.output = output


@pytest.fixture(scope="module")
def launched(sky_env: pathlib.Path) -> Iterator[Launched]:
    """One cluster shared by the read-only tests; its first job echoes."""
    name = new_name("shared")
    task = sky.Task(name="hello", run="echo hello-from-sky; echo rank=$SKYPILOT_NODE_RANK")
    task.set_resources(sky.Resources(infra="local"))
    out = io.StringIO()
    try:
        with deadline(TEST_DEADLINE_S):
            job_id, handle = sky.stream_and_get(
                sky.launch(task, cluster_name=name), output_stream=out
            )
        yield Launched(name, job_id, handle, out.getvalue())
    finally:
        with deadline(TEST_DEADLINE_S):
            if sky.get(sky.status([name])):
                sky.get(sky.down(name, purge=True))


# ----------------------------------------------------------------- launch


def test_launch_returns_job_id_and_handle(launched: Launched) -> None:
    assert isinstance(launched.job_id, int)
    assert launched.handle.cluster_name == launched.name
    assert launched.handle.launched_nodes == 1
    assert launched.handle.head_ip


def test_stream_and_get_shows_the_job_output(launched: Launched) -> None:
    assert "hello-from-sky" in launched.output
    assert "rank=0" in launched.output


def test_stream_and_get_writes_to_stdout_by_default(
    launched: Launched, capsys: pytest.CaptureFixture[str]
) -> None:
    task = sky.Task(run="echo to-stdout")
    job_id, handle = sky.stream_and_get(sky.exec(task, launched.name))
    assert job_id > launched.job_id
    assert handle.cluster_name == launched.name
    assert "to-stdout" in capsys.readouterr().out


def test_get_does_not_print(launched: Launched, capsys: pytest.CaptureFixture[str]) -> None:
    job_id, _ = sky.get(sky.exec(sky.Task(run="echo quiet-job"), launched.name))
    assert isinstance(job_id, int)
    assert "quiet-job" not in capsys.readouterr().out


def test_launch_dryrun_launches_nothing(sky_env: pathlib.Path) -> None:
    name = new_name("dry")
    task = sky.Task(run="echo never").set_resources(sky.Resources(infra="local"))
    assert sky.get(sky.launch(task, cluster_name=name, dryrun=True)) == (None, None)
    assert sky.get(sky.status([name])) == []


def test_launch_refuses_a_secret_still_without_a_value(sky_env: pathlib.Path) -> None:
    name = new_name("nosecret")
    task = sky.Task.from_yaml_str("secrets:\n  API_TOKEN: null\nrun: echo never\n")
    task.set_resources(sky.Resources(infra="local"))
    with pytest.raises(exceptions.InvalidTaskError, match="--secret API_TOKEN="):
        sky.get(sky.launch(task, cluster_name=name))
    assert name not in [record["name"] for record in sky.get(sky.status())]
    task.update_secrets({"API_TOKEN": "given"})
    assert sky.get(sky.launch(task, cluster_name=name, dryrun=True)) == (None, None)


def test_launch_takes_a_dag(launched: Launched) -> None:
    with sky.Dag() as dag:
        sky.Task(name="in-dag", run="echo from-a-dag")
    out = io.StringIO()
    job_id, _ = sky.stream_and_get(sky.launch(dag, cluster_name=launched.name), output_stream=out)
    assert isinstance(job_id, int)
    assert "from-a-dag" in out.getvalue()


def test_launch_rejects_other_types() -> None:
    with pytest.raises(TypeError, match=r"sky\.Task or sky\.Dag"):
        sky.launch("echo hi")  # type: ignore[arg-type]


# ------------------------------------------------------------ status, jobs


def test_status(launched: Launched) -> None:
    records = sky.get(sky.status([launched.name]))
    assert len(records) == 1
    record = records[0]
    assert record["name"] == launched.name
    assert record["status"] is sky.ClusterStatus.UP
    assert record["status"].value == "UP"
    assert record["handle"].cluster_name == launched.name
    assert record["launched_at"] > 0
    assert record["autostop"] == -1
    assert record["to_down"] is False
    assert launched.name in [r["name"] for r in sky.get(sky.status())]
    assert sky.get(sky.status(launched.name, refresh=True))[0]["status"] is sky.ClusterStatus.UP


def test_queue(launched: Launched) -> None:
    jobs = sky.get(sky.queue(launched.name))
    first = next(job for job in jobs if job["job_id"] == launched.job_id)
    assert first["status"] is sky.JobStatus.SUCCEEDED
    assert first["job_name"] == "hello"
    for key in ("username", "submitted_at", "start_at", "end_at", "resources", "log_path"):
        assert key in first, key
    assert first["submitted_at"] <= first["start_at"] <= first["end_at"]
    assert [j["job_id"] for j in jobs] == sorted((j["job_id"] for j in jobs), reverse=True)
    unfinished = sky.get(sky.queue(launched.name, skip_finished=True))
    assert all(not job["status"].is_terminal() for job in unfinished)


def test_job_status(launched: Launched) -> None:
    statuses = sky.get(sky.job_status(launched.name, [launched.job_id]))
    assert statuses == {launched.job_id: sky.JobStatus.SUCCEEDED}


def test_tail_logs_returns_the_exit_code(launched: Launched) -> None:
    out = io.StringIO()
    assert sky.tail_logs(launched.name, launched.job_id, follow=True, output_stream=out) == 0
    assert "hello-from-sky" in out.getvalue()


def test_failed_job(launched: Launched) -> None:
    out = io.StringIO()
    job_id, _ = sky.stream_and_get(
        sky.exec(sky.Task(run="echo about-to-fail; exit 3"), launched.name), output_stream=out
    )
    assert "about-to-fail" in out.getvalue()
    assert job_status_of(launched.name, job_id) is sky.JobStatus.FAILED
    assert sky.tail_logs(launched.name, job_id, follow=False, output_stream=io.StringIO()) != 0


def test_download_logs(launched: Launched) -> None:
    paths = sky.download_logs(launched.name, [launched.job_id])
    assert list(paths) == [str(launched.job_id)]
    local = pathlib.Path(paths[str(launched.job_id)])
    assert local.is_dir()
    text = "".join(p.read_text(errors="replace") for p in local.rglob("*") if p.is_file())
    assert "hello-from-sky" in text


def test_cancel_a_sleeping_detached_job(launched: Launched) -> None:
    job_id, _ = sky.get(sky.exec(sky.Task(run="sleep 300"), launched.name, detach_run=True))
    poll(
        lambda: job_status_of(launched.name, job_id) is sky.JobStatus.RUNNING,
        what="the job to run",
    )
    assert sky.get(sky.cancel(launched.name, job_ids=[job_id])) is None
    poll(
        lambda: job_status_of(launched.name, job_id) is sky.JobStatus.CANCELLED,
        what="the job to be cancelled",
    )


def test_check_lists_local(sky_env: pathlib.Path) -> None:
    assert "local" in sky.get(sky.check())["default"]


# ------------------------------------------------------------ cancellation


def test_api_cancel_of_a_followed_launch(cluster_name: str) -> None:
    task = sky.Task(run="echo started; sleep 300").set_resources(sky.Resources(infra="local"))
    request_id = sky.launch(task, cluster_name=cluster_name)

    def job_running() -> bool:
        records = sky.get(sky.status([cluster_name]))
        if not records or records[0]["status"] is not sky.ClusterStatus.UP:
            return False
        jobs = sky.get(sky.queue(cluster_name))
        return bool(jobs) and jobs[0]["status"] is sky.JobStatus.RUNNING

    poll(job_running, what="the launched job to run")
    assert sky.api_cancel(request_id) == [request_id]
    with pytest.raises(sky.exceptions.RequestCancelled):
        sky.get(request_id)
    assert sky.api_cancel(request_id) == []  # already finished


def test_ctrl_c_cancels_the_request(launched: Launched) -> None:
    request_id = sky.exec(sky.Task(run="echo waiting; sleep 300"), launched.name)

    def interrupt_when_running() -> None:
        poll(
            lambda: any(
                job["status"] is sky.JobStatus.RUNNING
                for job in sky.get(sky.queue(launched.name, skip_finished=True))
            ),
            what="the job to run",
        )
        os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_when_running)
    interrupter.start()
    out = io.StringIO()
    try:
        with pytest.raises(KeyboardInterrupt):
            sky.stream_and_get(request_id, output_stream=out)
    finally:
        interrupter.join()
    assert f"Request {request_id} cancelled." in out.getvalue()
    with pytest.raises(sky.exceptions.RequestCancelled):
        sky.get(request_id)
    # The job itself keeps running, as in SkyPilot: only the wait was cancelled.
    sky.get(sky.cancel(launched.name, all=True))


# ------------------------------------------------------------------ errors


def test_unknown_cluster(sky_env: pathlib.Path) -> None:
    with pytest.raises(sky.exceptions.ClusterDoesNotExist, match="no-such-cluster"):
        sky.get(sky.queue("no-such-cluster"))
    with pytest.raises(sky.exceptions.ClusterDoesNotExist):
        sky.get(sky.exec(sky.Task(run="echo"), "no-such-cluster"))
    with pytest.raises(sky.exceptions.ClusterDoesNotExist):
        sky.get(sky.stop("no-such-cluster"))
    with pytest.raises(sky.exceptions.ClusterDoesNotExist):
        sky.tail_logs("no-such-cluster", None, follow=True, output_stream=io.StringIO())
    assert sky.get(sky.status(["no-such-cluster"])) == []


def test_bad_request_arguments_fail_at_submit(sky_env: pathlib.Path) -> None:
    with pytest.raises(sky.exceptions.InvalidTaskError):
        _sdk.get_context().submit("no_such_operation")
    with pytest.raises(ValueError, match="existing cluster"):
        sky.exec(sky.Task(run="echo"), None)


# --------------------------------------------------------------- life cycle


def test_stop_start_down_and_cost_report(cluster_name: str) -> None:
    task = sky.Task(run="echo up").set_resources(sky.Resources(infra="local"))
    sky.get(sky.launch(task, cluster_name=cluster_name, detach_run=True))

    def cluster_status() -> sky.ClusterStatus | None:
        records = sky.get(sky.status([cluster_name]))
        return records[0]["status"] if records else None

    assert cluster_status() is sky.ClusterStatus.UP
    assert sky.get(sky.stop(cluster_name)) is None
    assert cluster_status() is sky.ClusterStatus.STOPPED
    with pytest.raises(sky.exceptions.ClusterNotUpError):
        sky.get(sky.exec(sky.Task(run="echo"), cluster_name))

    handle = sky.get(sky.start(cluster_name))
    assert handle.cluster_name == cluster_name
    assert cluster_status() is sky.ClusterStatus.UP

    assert sky.get(sky.autostop(cluster_name, 30)) is None
    record = sky.get(sky.status([cluster_name]))[0]
    assert (record["autostop"], record["to_down"]) == (30, False)

    assert sky.get(sky.down(cluster_name)) is None
    assert cluster_status() is None

    rows = [row for row in sky.get(sky.cost_report()) if row["name"] == cluster_name]
    assert len(rows) == 1
    assert rows[0]["status"] is None  # torn down
    assert rows[0]["total_cost"] >= 0
    assert rows[0]["num_nodes"] == 1


def test_exec_dryrun_and_down(cluster_name: str) -> None:
    task = sky.Task(run="echo up").set_resources(sky.Resources(infra="local"))
    sky.get(sky.launch(task, cluster_name, detach_run=True))
    with pytest.raises(sky.exceptions.ClusterDoesNotExist):
        sky.get(sky.exec(sky.Task(run="echo"), "no-such-cluster", dryrun=True))
    queued = len(sky.get(sky.queue(cluster_name)))
    assert sky.get(sky.exec(sky.Task(run="echo never"), cluster_name, dryrun=True)) == (None, None)
    assert len(sky.get(sky.queue(cluster_name))) == queued  # nothing ran
    # down: the cluster is torn down once its jobs finish (autodown at 0 idle
    # minutes), as SkyPilot's.
    job_id, _ = sky.get(sky.exec(sky.Task(run="echo last"), cluster_name, down=True))
    assert job_id is not None
    record = sky.get(sky.status([cluster_name]))
    assert not record or (record[0]["autostop"], record[0]["to_down"]) == (0, True)


def test_endpoints(cluster_name: str) -> None:
    task = sky.Task(run="echo").set_resources(sky.Resources(infra="local", ports=[8080, 9090]))
    sky.get(sky.launch(task, cluster_name=cluster_name, detach_run=True))
    assert sky.get(sky.endpoints(cluster_name)) == {8080: "127.0.0.1:8080", 9090: "127.0.0.1:9090"}
    assert sky.get(sky.endpoints(cluster_name, port=9090)) == {9090: "127.0.0.1:9090"}


# ------------------------------------------------------------------- output


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (io.StringIO(), "Provisioning\nStarting the agent\nhello\nDone\n"),
        (
            FakeTerminal(),
            "… Provisioning\r✓ Provisioning\n… Starting the agent\nhello\nDone\n",
        ),
    ],
)
def test_output_steps(stream: io.StringIO, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps are plain lines in a pipe, one updating line on a terminal."""
    monkeypatch.delenv("CI", raising=False)
    writer = OutputWriter(stream)
    writer.write_events(
        [
            ("step", "Provisioning"),
            ("step", "Starting the agent"),
            ("write", "hello\n"),
            ("step_done", ""),
        ]
    )
    writer.message("Done")
    writer.close()
    assert stream.getvalue() == expected


# ------------------------------------------------------------------ context


def test_enums_match_the_native_names() -> None:
    assert [s.value for s in sky.ClusterStatus] == _skycore.cluster_status_names()
    assert sorted(s.value for s in sky.JobStatus) == sorted(_skycore.job_status_names())


def test_context_is_replaceable(tmp_path: pathlib.Path, launched: Launched) -> None:
    other = _sdk.Context.from_environment(state_dir=tmp_path / "other")
    previous = _sdk.set_context(other)
    try:
        assert _sdk.get_context() is other
        assert sky.get(sky.status()) == []
    finally:
        assert _sdk.set_context(previous) is other
    assert launched.name in [r["name"] for r in sky.get(sky.status())]
