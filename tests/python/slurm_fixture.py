"""A throwaway Slurm cluster on loopback, reached through a login node over SSH.

`slurm_cluster` starts, as children of the test process:
  - munged with a generated key and a private socket;
  - slurmctld (cluster `skytest`) on a free port;
  - two slurmd nodes, n1 (127.0.10.1) and n2 (127.0.10.2), each with 4 CPUs,
    4000 MB and two fake GPUs `gpu:h100:2` (symlinks to /dev/null), in
    partitions `debug` (both nodes, the default) and `cpu` (n2 only);
  - a login node: a throwaway sshd (sshd_fixture.start_sshd) whose sessions get
    SLURM_CONF, so `sinfo`/`sbatch` over SSH find this cluster as they would
    find /etc/slurm/slurm.conf on a real login node.

Debian's Slurm is built with multiple-slurmd support, so both nodes run on
this machine, each on its own port. Each node runs in its own UTS, PID and
mount namespace (`unshare`): its own hostname, and when its init dies the
kernel kills everything the node started, jobs included. The init is a small
`sh` rather than slurmd itself because slurmd as PID 1 does not reap the
slurmstepd processes it adopts.

Teardown cancels jobs while slurmctld lives, then stops every daemon by PID
(SIGTERM, a grace period, SIGKILL) and removes the temporary directory.
Nothing under /etc/slurm, /etc/munge or /run/munge is read or written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import sshd_fixture

CLUSTER_NAME = "skytest"
GPU_TYPE = "h100"
NODES = {"n1": "127.0.10.1", "n2": "127.0.10.2"}
BINARIES = ("munged", "slurmctld", "slurmd", "sinfo", "unshare")
READY_TIMEOUT_S = 30
STOP_GRACE_S = 10

_SLURM_CONF = """\
ClusterName={cluster}
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge/munge.socket.2
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool/%n
SlurmctldPidFile={dir}/run/slurmctld.pid
SlurmdPidFile={dir}/run/slurmd.%n.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, CR_Core_Memory gives each job all of a node's memory.
DefMemPerCPU=100
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
# Lets a node declare 8 CPUs and 39 GiB on a smaller machine (sized so
# SkyPilot's default allocation for two GPUs, 8CPU--32GB, fits a node).
SlurmdParameters=config_overrides
# Rejects at once a job its partition can never hold (instead of PENDING forever).
EnforcePartLimits=ALL
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
KillWait=5
GresTypes=gpu
{nodes}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=n2 MaxTime=INFINITE State=UP
"""

# A GPU needs `File=` entries that are character devices, or slurmd drops it.
_GRES_CONF = "AutoDetect=off\nName=gpu Type={gpu_type} File={dir}/dev/gpu[0-1]\n"

# The init of a node's namespaces: names the host, gives it a hosts file that
# resolves its peers, runs slurmd, forwards SIGTERM and reaps adopted orphans.
_NODE_INIT = """
hostname "$1"
mount --bind "$3" /etc/hosts
slurmd -D -f "$2" -N "$1" & p=$!
trap "kill -TERM $p" TERM INT
while kill -0 $p 2>/dev/null; do wait $p; done
"""


@dataclasses.dataclass
class SlurmCluster:
    name: str  # ClusterName
    directory: pathlib.Path
    slurm_conf: pathlib.Path
    nodes: dict[str, str]  # node name -> address
    login_address: str  # the login node's sshd
    login_port: int
    login_user: str
    user_key: pathlib.Path  # accepted by the login node
    wrong_key: pathlib.Path  # accepted by nobody

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.slurm_conf)}

    def run(self, *argv: str, timeout: float = 15) -> subprocess.CompletedProcess:
        """Runs a Slurm client command (sbatch, squeue, ...) on this machine."""
        return subprocess.run(
            ["timeout", str(timeout), *argv],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )

    def sbatch(self, *args: str) -> str:
        """Submits a batch job; returns its id. Its output goes to the
        cluster's log directory, not the test's working directory."""
        output = f"--output={self.directory}/log/job-%j.out"
        result = self.run("sbatch", "--parsable", f"--chdir={self.directory}", output, *args)
        if result.returncode != 0:
            raise RuntimeError(f"sbatch {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip().split(";")[0]

    def wait_for(self, predicate, what: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")

    def job_state(self, job_id: str) -> str:
        result = self.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T")
        return result.stdout.strip()

    def slurm_config_entry(self, host: str | None = None, key: pathlib.Path | None = None) -> str:
        """A `Host` block of ~/.slurm/config naming this cluster's login node."""
        return (
            f"Host {host or self.name}\n"
            f"  HostName {self.login_address}\n"
            f"  Port {self.login_port}\n"
            f"  User {self.login_user}\n"
            f"  IdentityFile {key or self.user_key}\n"
        )


def _free_port_block(count: int) -> int:
    """The first of `count` consecutive ports free on every address, below the
    ephemeral range so that no outgoing connection takes one meanwhile."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sockets.append(socket.create_server(("0.0.0.0", port)))
            return base
        except OSError:
            continue
        finally:
            for server in sockets:
                server.close()
    raise RuntimeError("no block of free ports")


def _alive(process: subprocess.Popen) -> bool:
    return process.poll() is None


def _only_child(process: subprocess.Popen, timeout_s: float = 5) -> int:
    """The PID of the single child of `process` (the init `unshare` forks)."""
    pid = process.pid
    deadline = time.monotonic() + timeout_s
    path = pathlib.Path(f"/proc/{pid}/task/{pid}/children")
    while time.monotonic() < deadline:
        if not _alive(process):
            break  # unshare itself failed
        try:
            children = path.read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise RuntimeError(f"unshare {pid} started no init")


def _logs_tail(directory: pathlib.Path) -> str:
    text = []
    for log in sorted((directory / "log").glob("*")):
        lines = log.read_text(errors="replace").splitlines()[-5:]
        text.append(f"--- {log.name}\n" + "\n".join(lines))
    return "\n".join(text)


class _Daemons:
    """The cluster's processes, all children of this one, stopped by PID."""

    def __init__(self, directory: pathlib.Path, slurm_conf: pathlib.Path) -> None:
        self.directory = directory
        self.slurm_conf = slurm_conf
        self.munged: subprocess.Popen | None = None
        self.slurmctld: subprocess.Popen | None = None
        self.unshares: list[subprocess.Popen] = []
        self.node_inits: list[int] = []  # host PIDs of each namespace's `sh` init
        self.login: subprocess.Popen | None = None

    def _spawn(self, argv: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.directory / "log" / log_name, "ab")
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SLURM_CONF": str(self.slurm_conf)},
            )
        finally:
            log.close()

    def start(self) -> None:
        d = self.directory
        self.munged = self._spawn(
            [
                "munged",
                "-F",
                "--force",
                f"--key-file={d}/munge/munge.key",
                f"--socket={d}/munge/munge.socket.2",
                f"--pid-file={d}/munge/munged.pid",
                f"--log-file={d}/log/munged.log",
                f"--seed-file={d}/munge/munged.seed",
            ],
            "munged.stdout",
        )
        socket_path = d / "munge" / "munge.socket.2"
        deadline = time.monotonic() + 10
        while not socket_path.exists():
            if not _alive(self.munged) or time.monotonic() > deadline:
                raise RuntimeError(f"munged did not start:\n{_logs_tail(d)}")
            time.sleep(0.01)
        self.slurmctld = self._spawn(
            ["slurmctld", "-D", "-i", "-f", str(self.slurm_conf)], "slurmctld.stdout"
        )
        for node in NODES:
            process = self._spawn(
                [
                    "unshare",
                    "--uts",
                    "--pid",
                    "--fork",
                    "--mount-proc",
                    "--kill-child=SIGTERM",
                    "--",
                    "sh",
                    "-c",
                    _NODE_INIT,
                    "node-init",
                    node,
                    str(self.slurm_conf),
                    str(d / "etc" / "hosts"),
                ],
                f"slurmd.{node}.stdout",
            )
            self.unshares.append(process)
            try:
                self.node_inits.append(_only_child(process))
            except RuntimeError as error:
                # e.g. no CAP_SYS_ADMIN for namespaces: unshare says so in its log.
                raise RuntimeError(f"{error}:\n{_logs_tail(d)}") from None

    def check_alive(self) -> None:
        for name, process in [("munged", self.munged), ("slurmctld", self.slurmctld)]:
            if process is None or not _alive(process):
                raise RuntimeError(f"{name} exited:\n{_logs_tail(self.directory)}")
        for process in self.unshares:
            if not _alive(process):
                raise RuntimeError(f"a slurmd node exited:\n{_logs_tail(self.directory)}")

    def cancel_jobs(self) -> None:
        """scancel everything, but only while slurmctld can act on it: jobs of
        dead nodes would sit COMPLETING and only slow the stop down."""
        if self.slurmctld is None or not _alive(self.slurmctld):
            return
        if not all(_alive(p) for p in self.unshares):
            return
        env = {**os.environ, "SLURM_CONF": str(self.slurm_conf)}

        def queue() -> list[str]:
            result = subprocess.run(
                ["timeout", "5", "squeue", "-h", "-o", "%i"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            return result.stdout.split()

        jobs = queue()
        if not jobs:
            return
        subprocess.run(
            ["timeout", "5", "scancel", *jobs], env=env, capture_output=True, check=False
        )
        deadline = time.monotonic() + 10
        while queue() and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        # The unshare parents ignore SIGTERM: the node inits get it, and stop slurmd.
        signalled = [p for p in (self.slurmctld, self.munged) if p is not None]
        for pid in self.node_inits:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in signalled:
            if _alive(process):
                process.terminate()
        waited = [*signalled, *self.unshares]
        deadline = time.monotonic() + STOP_GRACE_S
        while any(_alive(p) for p in waited) and time.monotonic() < deadline:
            time.sleep(0.05)
        for process in waited:
            if _alive(process):
                # SIGKILL of unshare makes it SIGTERM its init (--kill-child).
                process.kill()
            process.wait()
        if self.login is not None:
            sshd_fixture._kill_tree(self.login.pid)
            self.login.wait()


def _write_files(d: pathlib.Path) -> pathlib.Path:
    for sub in ("etc", "state", "log", "run", "munge", "dev", *(f"spool/{n}" for n in NODES)):
        (d / sub).mkdir(parents=True)
    key = d / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    for index in range(2):
        (d / "dev" / f"gpu{index}").symlink_to("/dev/null")
    ctld_port = _free_port_block(1 + len(NODES))
    nodes = "\n".join(
        f"NodeName={name} NodeHostname={name} NodeAddr={address} Port={ctld_port + 1 + i} "
        f"CPUs=8 RealMemory=40000 Gres=gpu:{GPU_TYPE}:2 State=UNKNOWN"
        for i, (name, address) in enumerate(NODES.items())
    )
    slurm_conf = d / "etc" / "slurm.conf"
    slurm_conf.write_text(
        _SLURM_CONF.format(cluster=CLUSTER_NAME, ctld_port=ctld_port, dir=d, nodes=nodes)
    )
    (d / "etc" / "gres.conf").write_text(_GRES_CONF.format(gpu_type=GPU_TYPE, dir=d))
    hosts = pathlib.Path("/etc/hosts").read_text()
    hosts += "".join(f"{address} {name}\n" for name, address in NODES.items())
    (d / "etc" / "hosts").write_text(hosts)
    return slurm_conf


def _wait_ready(daemons: _Daemons, slurm_conf: pathlib.Path) -> None:
    """Until sinfo shows every node idle; fails fast when a daemon died."""
    env = {**os.environ, "SLURM_CONF": str(slurm_conf)}
    wanted = sorted(f"{name} idle" for name in NODES)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        daemons.check_alive()
        # Always bounded: with slurmctld gone a client waits out MessageTimeout.
        result = subprocess.run(
            ["timeout", "5", "sinfo", "-h", "-N", "-p", "debug", "-o", "%N %T"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if sorted(result.stdout.splitlines()) == wanted:
            return
        time.sleep(0.05)
    raise RuntimeError(
        f"the Slurm cluster was not ready after {READY_TIMEOUT_S} s:\n"
        f"{_logs_tail(daemons.directory)}"
    )


def _login_address() -> tuple[str, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return "127.0.0.1", probe.getsockname()[1]


def unavailable() -> str | None:
    """Why the throwaway Slurm cluster cannot run here, or None when it can."""
    search_path = os.environ.get("PATH", "") + ":/usr/sbin"
    missing = [b for b in BINARIES if shutil.which(b, path=search_path) is None]
    if missing:
        return f"Slurm is not installed (missing {', '.join(missing)}; run scripts/setup.sh)"
    if os.geteuid() != 0:
        return "the test Slurm cluster and its login node run as root"
    return sshd_fixture.unavailable()


@contextlib.contextmanager
def running_slurm_cluster() -> Iterator[SlurmCluster]:
    """The cluster and its login node, up until the block exits; then every job
    is cancelled and every daemon stopped by PID."""
    os.makedirs("/run/sshd", exist_ok=True)
    # Short: ssh's ControlPath sockets may live under here too.
    directory = pathlib.Path(tempfile.mkdtemp(prefix="skyslurm"))
    directory.chmod(0o755)  # munged warns when others cannot reach its socket
    slurm_conf = _write_files(directory)
    daemons = _Daemons(directory, slurm_conf)
    try:
        daemons.start()
        _wait_ready(daemons, slurm_conf)
        sshd_fixture._keygen(directory / "user_key")
        sshd_fixture._keygen(directory / "wrong_key")
        address, port = _login_address()
        daemons.login, _ = sshd_fixture.start_sshd(
            directory,
            "login",
            address,
            port,
            directory / "user_key.pub",
            extra_env={"SLURM_CONF": str(slurm_conf)},
        )
        yield SlurmCluster(
            name=CLUSTER_NAME,
            directory=directory,
            slurm_conf=slurm_conf,
            nodes=dict(NODES),
            login_address=address,
            login_port=port,
            login_user="root",
            user_key=directory / "user_key",
            wrong_key=directory / "wrong_key",
        )
    finally:
        try:
            daemons.cancel_jobs()
        finally:
            daemons.stop()
            # Agents skycore started on the login node detach from their ssh
            # session; they run from binaries under the login node's home.
            for pid in sshd_fixture._processes_under(directory):
                sshd_fixture._kill_tree(pid)
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def slurm_cluster() -> Iterator[SlurmCluster]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with running_slurm_cluster() as cluster:
        yield cluster
