"""The serve load balancer against a direct connection, in the same run.

Starts the fake replica of `serve_lb_bench --replica` and `skyserve-lb` in
front of it, then measures both ways with the same client:

- wrk, 64 connections, small (13-byte) answers: p50/p99 latency, requests/s;
- time to first byte of a replica that streams a token every 20 ms, with a
  fresh connection per request (median and p99 over the samples).

    python3 benchmarks/serve_lb.py --bin-dir build/release [--duration 10] [--json]

Needs `wrk` (Debian package). Prints a table, or JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path


def start(command: list[str]) -> tuple[subprocess.Popen[str], int]:
    """Starts a process that prints {"port": P} first; returns it and P."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"{command[0]} exited before listening")
    return process, int(json.loads(line)["port"])


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=10)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(port: int, connections: int, threads: int, duration: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)$", out, re.MULTILINE)
    if rps is None or "50" not in latency:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return {
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "rps": float(rps.group(1)),
        "errors": 0.0 if errors is None else 1.0,
    }


def time_to_first_byte(port: int, samples: int) -> list[float]:
    """Milliseconds from sending a request to the first byte of the answer."""
    request = b"GET /stream?n=3&ms=20 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    times = []
    for _ in range(samples):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start_ns = time.perf_counter_ns()
            conn.sendall(request)
            if not conn.recv(1):
                raise RuntimeError("connection closed before the first byte")
            times.append((time.perf_counter_ns() - start_ns) / 1e6)
            while conn.recv(65536):  # drain: the next sample starts clean
                pass
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, default=Path("build/release"))
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--lb-threads", type=int, default=1)
    parser.add_argument("--ttfb-samples", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("serve_lb: wrk not found (apt-get install wrk)", file=sys.stderr)
        return 2

    replica, replica_port = start([str(args.bin_dir / "serve_lb_bench"), "--replica"])
    try:
        lb, lb_port = start(
            [
                str(args.bin_dir / "skyserve-lb"),
                "--replica",
                f"http://127.0.0.1:{replica_port}",
                "--io-threads",
                str(args.lb_threads),
            ]
        )
        try:
            results: dict[str, dict[str, float]] = {}
            for name, port in (("direct", replica_port), ("balancer", lb_port)):
                run_wrk(port, args.connections, args.wrk_threads, 2)  # warm up
                results[name] = run_wrk(port, args.connections, args.wrk_threads, args.duration)
                ttfb = sorted(time_to_first_byte(port, args.ttfb_samples))
                results[name]["ttfb_p50_ms"] = statistics.median(ttfb)
                results[name]["ttfb_p99_ms"] = ttfb[min(len(ttfb) - 1, int(len(ttfb) * 0.99))]
        finally:
            stop(lb)
    finally:
        stop(replica)

    direct, through = results["direct"], results["balancer"]
    summary = {
        "added_p50_us": (through["p50_ms"] - direct["p50_ms"]) * 1e3,
        "added_p99_us": (through["p99_ms"] - direct["p99_ms"]) * 1e3,
        "throughput_ratio": through["rps"] / direct["rps"],
        "added_ttfb_p50_us": (through["ttfb_p50_ms"] - direct["ttfb_p50_ms"]) * 1e3,
    }
    if args.json:
        print(json.dumps({"direct": direct, "balancer": through, "summary": summary}, indent=2))
        return 0
    print(
        f"{'':10} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>10} {'ttfb p50 ms':>12} {'ttfb p99 ms':>12}"
    )
    for name, r in results.items():
        print(
            f"{name:10} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['rps']:10.0f} "
            f"{r['ttfb_p50_ms']:12.3f} {r['ttfb_p99_ms']:12.3f}"
        )
    print(
        f"added p50 {summary['added_p50_us']:.0f} us (target < 200), "
        f"added p99 {summary['added_p99_us']:.0f} us (target < 1000), "
        f"throughput {summary['throughput_ratio'] * 100:.0f}% of direct (target >= 80%), "
        f"added TTFB p50 {summary['added_ttfb_p50_us']:.0f} us (target < 1000)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
