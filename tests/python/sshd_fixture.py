"""Throwaway sshd hosts on loopback addresses, for tests of SSH node pools.

`sshd_hosts` starts one private sshd per host on 127.0.0.2, 127.0.0.3, ...
port 22 (or 127.0.0.1 with distinct high ports when port 22 on an address is
taken), with generated host keys and one generated user key, and kills every
one of them -- and the per-connection sshd children they forked -- by PID in
teardown. The system's sshd is never touched.

Each host can be given a fake `nvidia-smi` (sshd's `SetEnv PATH=...` puts a
per-host bin directory first), so GPU discovery runs its real code path, and
then a fake `nproc` saying GPU_HOST_CPUS.
Each host's sessions also get `SKYCORE_HOME=<host dir>/home`, so whatever is
installed "on the host" lands in that host's own directory, not in the one
$HOME every loopback host shares.

`SshdHosts.kill_host(host)` kills one host's sshd and every session process
under it, as if the machine died.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence

import pytest

SSHD = "/usr/sbin/sshd"
# What `nproc` says on a host given fake GPUs.
GPU_HOST_CPUS = 16


def close_shared_connections(control: pathlib.Path) -> None:
    """Asks each shared connection (ControlMaster) in `control` to exit and
    waits, bounded, until it has removed its socket. The agents' forwarded
    sockets there ("a-*.sock") are not connections."""
    masters = [p for p in control.iterdir() if not p.name.startswith("a-")]
    for socket_path in masters:
        subprocess.run(
            ["ssh", "-F", "/dev/null", "-o", f"ControlPath={socket_path}", "-O", "exit", "x"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    # `-O exit` returns once the master agreed; it unlinks its socket after.
    deadline = time.monotonic() + 5
    while any(p.exists() for p in masters) and time.monotonic() < deadline:
        time.sleep(0.02)


def remove_control_dir(control: pathlib.Path) -> None:
    """Closes the shared connections in `control`, then removes it."""
    if not control.exists():
        return
    close_shared_connections(control)
    shutil.rmtree(control, ignore_errors=True)


@dataclasses.dataclass
class SshdHost:
    address: str
    port: int
    pid: int
    directory: pathlib.Path

    @property
    def pool_entry(self) -> str:
        """How the pools file names this host (the address; port 22 is implied)."""
        return self.address


@dataclasses.dataclass
class SshdHosts:
    hosts: list[SshdHost]
    user_key: pathlib.Path  # private key accepted by every host (as root)
    wrong_key: pathlib.Path  # a key no host accepts
    root: pathlib.Path

    def kill_host(self, host: SshdHost) -> None:
        """Kills the host's sshd and all its sessions' processes at once, as if the
        machine died: every process of the tree is stopped first, so none of them
        sees another die and reacts (e.g. a shell reporting its killed child)."""
        tree = _tree(host.pid)
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in tree:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    def free_address(self) -> str:
        """A loopback address where nothing listens on port 22 (a host that is down)."""
        for last in range(200, 250):
            address = f"127.0.0.{last}"
            if not _port_open(address, 22):
                return address
        raise RuntimeError("no free loopback address")


def _port_open(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address, port)) == 0


def _wait_listening(address: str, port: int, process: subprocess.Popen, log: pathlib.Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd on {address}:{port} exited: {log.read_text()}")
        if _port_open(address, port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sshd on {address}:{port} not listening after 10 s: {log.read_text()}")


def _children(pid: int) -> list[int]:
    """PIDs whose parent is `pid` (sshd's per-connection processes)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants, parents before children."""
    found = [pid]
    for child in _children(pid):
        found.extend(_tree(child))
    return found


def _processes_under(root: pathlib.Path) -> list[int]:
    """PIDs whose executable lives under `root`."""
    found = []
    prefix = str(root) + "/"
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
        except (OSError, UnicodeDecodeError):
            continue
        if argv0.startswith(prefix):
            found.append(int(entry.name))
    return found


def _kill_tree(pid: int) -> None:
    for child in _children(pid):
        _kill_tree(child)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _keygen(path: pathlib.Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def start_sshd(
    root: pathlib.Path,
    name: str,
    address: str,
    port: int,
    user_pub: pathlib.Path,
    gpus: str = "",
    extra_env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen, pathlib.Path]:
    """Starts one sshd; `extra_env` is set for every session it serves (e.g.
    SLURM_CONF for a Slurm login node)."""
    directory = root / name
    directory.mkdir()
    _keygen(directory / "host_key")
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    (directory / "home").mkdir()
    if gpus:
        # `nvidia-smi --query-gpu=index,name --format=csv,noheader` of `gpus` ("H100:2").
        gpu_name, count = gpus.split(":")
        lines = "\n".join(f"{i}, NVIDIA {gpu_name} 80GB HBM3" for i in range(int(count)))
        script = bin_dir / "nvidia-smi"
        script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{lines}\nEOF\n")
        script.chmod(0o755)
        # A GPU machine has CPUs to match: SkyPilot's default node for one
        # GPU asks for 4 (2 per host would refuse every GPU ask here).
        nproc = bin_dir / "nproc"
        nproc.write_text(f"#!/bin/sh\necho {GPU_HOST_CPUS}\n")
        nproc.chmod(0o755)
    # sshd honours only the first SetEnv line, so every variable goes on it.
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "SKYCORE_HOME": str(directory / "home"),
        # A home of its own, as a separate machine has: the login shell then
        # reads no ~/.bashrc of this machine's root (whose start-up hooks, e.g.
        # `pyenv rehash` waiting on a lock, would slow or stall every session).
        "HOME": str(directory / "home"),
        **(extra_env or {}),
    }
    set_env = " ".join(f"{key}={value}" for key, value in env.items())
    config = directory / "sshd_config"
    config.write_text(
        f"ListenAddress {address}:{port}\n"
        f"HostKey {directory / 'host_key'}\n"
        f"AuthorizedKeysFile {user_pub}\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        f"PidFile {directory / 'pid'}\n"
        # One SetEnv line: sshd keeps only the first line of each keyword.
        f"SetEnv {set_env}\n"
    )
    log = directory / "log"
    process = subprocess.Popen(
        [SSHD, "-D", "-f", str(config), "-E", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(address, port, process, log)
    except BaseException:
        _kill_tree(process.pid)
        process.wait()
        raise
    return process, directory


def _addresses(count: int) -> list[tuple[str, int]]:
    """127.0.0.2, .3, ... on port 22 where free, else 127.0.0.1 on free high ports."""
    wanted = [(f"127.0.0.{2 + i}", 22) for i in range(count)]
    if not any(_port_open(address, port) for address, port in wanted):
        return wanted
    out = []
    for _ in range(count):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            out.append(("127.0.0.1", probe.getsockname()[1]))
    return out


def unavailable() -> str | None:
    """Why throwaway sshd hosts cannot run here, or None when they can."""
    if not os.path.exists(SSHD):
        return "openssh-server is not installed (scripts/setup.sh installs it)"
    if os.geteuid() != 0:
        return "the throwaway sshd hosts log in as root"
    return None


@contextlib.contextmanager
def running_sshd_hosts(gpus: Sequence[str]) -> Iterator[SshdHosts]:
    """One sshd host per entry of `gpus` (each "" or a fake GPU set such as
    "H100:2"), all killed by PID on exit, with whatever skycore started on them."""
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    # Short: ssh's ControlPath sockets live under here too.
    root = pathlib.Path(tempfile.mkdtemp(prefix="skysshd"))
    processes: list[subprocess.Popen] = []
    try:
        _keygen(root / "user_key")
        _keygen(root / "wrong_key")
        hosts = []
        for index, (address, port) in enumerate(_addresses(len(gpus))):
            process, directory = start_sshd(
                root, f"host{index}", address, port, root / "user_key.pub", gpus[index]
            )
            processes.append(process)
            hosts.append(SshdHost(address, port, process.pid, directory))
        yield SshdHosts(hosts, root / "user_key", root / "wrong_key", root)
    finally:
        for process in processes:
            _kill_tree(process.pid)
            process.wait()
        # Daemons skycore started on the hosts (a cluster's agent detaches from
        # its ssh session) run from binaries under the hosts' directories: a
        # test that failed before `sky down` must not leave them behind.
        for pid in _processes_under(root):
            _kill_tree(pid)
        # Shared connections (ControlPersist masters) lose their peer with the
        # sshd children above and exit; their sockets go with the directory.
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def sshd_hosts(request) -> Iterator[SshdHosts]:
    """Three sshd hosts; `@pytest.mark.parametrize("sshd_hosts", [["H100:2", "", ""]],
    indirect=True)` gives them fake GPUs."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with running_sshd_hosts(getattr(request, "param", None) or ["", "", ""]) as hosts:
        yield hosts
