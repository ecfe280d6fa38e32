#!/usr/bin/env python3
"""Times the same optimization through skycore and, with --compare, through SkyPilot.

    python3 benchmarks/compare_skypilot.py [--catalog DIR] [--runs N] [--compare]
                                           [--case one|chain|all] [--skypilot-version V]

skycore is the ``sky`` package importable from this interpreter (``pip install .`` at
the repository root first); each timed call is ``sky.optimize_plan(dag)`` with
``SKYCORE_CATALOG_DIR`` pointing at the catalog and ``SKYCORE_STATE_DIR`` at a
temporary directory. Without ``--catalog`` the synthetic 250k-row catalog is
generated with ``benchmarks/gen_catalog.py`` into a temporary directory.

With ``--compare``, SkyPilot (pinned, ``--skypilot-version``) is pip-installed once
into ``.cache/skypilot-venv/<version>/`` at the repository root and this script runs
again inside that virtual environment as the SkyPilot side. That side:

* gets a fresh temporary HOME and SKY_RUNTIME_DIR, with the catalog's
  ``<cloud>.csv`` files copied to where SkyPilot's catalog code reads them
  (``~/.sky/catalogs/<schema>/<cloud>/vms.csv``) and ``common/accelerators.csv`` and
  ``common/metadata.csv`` derived from them. Catalog files placed by hand have no
  download checksum, which SkyPilot treats as "modified by the user" and never
  re-fetches;
* replaces ``sky.check.get_cached_enabled_clouds_or_refresh`` so that the clouds of
  the catalog count as enabled without credentials;
* has HTTP(S)_PROXY set to a closed local port and AWS_EC2_METADATA_DISABLED set, so
  that any network access fails at once instead of waiting;
* calls ``sky.optimizer.Optimizer.optimize(dag, minimize=COST, quiet=True)`` in
  process, on a DAG loaded from the same YAML as skycore's.

Each engine does one untimed call, then ``--runs`` timed calls; the DAG is reloaded
(untimed) before every call, since both optimizers record their choice on it.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
DEFAULT_SKYPILOT_VERSION = "0.14.1"
GEN_TIMEOUT_S = 600
VENV_TIMEOUT_S = 300
PIP_TIMEOUT_S = 1800

ONE_YAML = "name: one\nresources:\n  accelerators: A100:8\nrun: x\n"
CHAIN_SHAPES = (
    "accelerators: A100:8",
    "accelerators: L4:1",
    "cpus: 16+",
    "accelerators: H100:8",
    "accelerators: T4:4",
)


def chain_yaml() -> str:
    """The 10-task chain of benchmarks/optimizer_bench.cc: every task writes 50 GB."""
    text = "name: chain\n"
    for i in range(10):
        text += (
            f"---\nname: t{i}\nresources:\n  {CHAIN_SHAPES[i % 5]}\n"
            f"outputs:\n  s3://bucket/out{i}: 50\nrun: x\n"
        )
    return text


CASES = {
    "one": ("one task, A100:8, any cloud", ONE_YAML),
    "chain": ("10-task chain with egress", chain_yaml()),
}


def fmt_seconds(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def summarize(times: list[float]) -> dict:
    return {"median": statistics.median(times), "min": min(times), "runs": len(times)}


# ---------------------------------------------------------------------------
# skycore side (this interpreter)


def import_skycore():
    try:
        import sky
    except ImportError as e:
        sys.exit(f"error: cannot import sky ({e}); run `pip install .` at the repository root")
    if not hasattr(sky, "_skycore") or not hasattr(sky, "optimize_plan"):
        sys.exit(
            f"error: the sky package at {sky.__file__} is not a current skycore build "
            "(no sky._skycore or no sky.optimize_plan); run `pip install .` at the repository root"
        )
    return sky


def skycore_placements(plan: dict) -> list[dict]:
    placements = []
    for entry in plan["tasks"]:
        chosen = entry.get("chosen") or {}
        placements.append(
            {
                "task": entry.get("task"),
                "cloud": chosen.get("cloud"),
                "region": chosen.get("region"),
                "zone": chosen.get("zone"),
                "instance_type": chosen.get("instance_type"),
                "use_spot": chosen.get("use_spot"),
                "hourly_price": chosen.get("hourly_price"),
            }
        )
    return placements


def run_skycore(sky, yaml_path: str, runs: int) -> dict:
    plan = sky.optimize_plan(sky.load_chain_dag_from_yaml(yaml_path))  # warm-up, untimed
    times = []
    for _ in range(runs):
        dag = sky.load_chain_dag_from_yaml(yaml_path)
        start = time.perf_counter()
        plan = sky.optimize_plan(dag)
        times.append(time.perf_counter() - start)
    return {
        "version": sky.__version__,
        **summarize(times),
        "placements": skycore_placements(plan),
        "total_cost": plan.get("total_cost"),
    }


# ---------------------------------------------------------------------------
# SkyPilot side (runs inside the virtual environment)


def derive_common_catalogs(sky_catalog_dir: str, cloud_files: dict, cloud_names: dict) -> None:
    """Writes common/accelerators.csv and common/metadata.csv from the VM catalogs."""
    import pandas as pd

    clouds_by_acc: dict[str, list[str]] = {}
    memory_by_acc: dict[str, tuple[float, str]] = {}
    for name, path in cloud_files.items():
        df = pd.read_csv(path, usecols=["AcceleratorName", "GpuInfo"])
        df = df.dropna(subset=["AcceleratorName"]).drop_duplicates("AcceleratorName")
        for acc, info in df[["AcceleratorName", "GpuInfo"]].values:
            clouds_by_acc.setdefault(acc, []).append(cloud_names[name])
            if acc in memory_by_acc or not isinstance(info, str):
                continue
            try:
                gpu = ast.literal_eval(info)["Gpus"][0]
                memory_by_acc[acc] = (
                    gpu["MemoryInfo"]["SizeInMiB"] / 1024,
                    gpu.get("Manufacturer", ""),
                )
            except (ValueError, SyntaxError, KeyError, IndexError, TypeError):
                pass
    common_dir = os.path.join(sky_catalog_dir, "common")
    os.makedirs(common_dir, exist_ok=True)
    pd.DataFrame(
        [(acc, ", ".join(clouds)) for acc, clouds in sorted(clouds_by_acc.items())],
        columns=["AcceleratorName", "Clouds"],
    ).to_csv(os.path.join(common_dir, "accelerators.csv"), index=False)
    pd.DataFrame(
        [(acc, mem, maker) for acc, (mem, maker) in sorted(memory_by_acc.items())],
        columns=["GPU", "MemoryGB", "Manufacturer"],
    ).to_csv(os.path.join(common_dir, "metadata.csv"), index=False)


def skypilot_runner(spec_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    import_start = time.perf_counter()
    import sky
    from sky import check, optimizer
    from sky.catalog import common as catalog_common
    from sky.utils import common as sky_common
    from sky.utils import dag_utils, registry

    import_s = time.perf_counter() - import_start
    if hasattr(sky, "_skycore") or sky.__version__ != spec["version"]:
        raise SystemExit(f"expected SkyPilot {spec['version']}, got sky from {sky.__file__}")

    # Place the catalog where SkyPilot reads it and enable its clouds.
    cloud_files = {}
    cloud_names = {}
    enabled = []
    for name, src in spec["catalog_files"].items():
        cloud = registry.CLOUD_REGISTRY.from_str(name)
        if cloud is None:
            continue
        dst = catalog_common.get_catalog_path(f"{name}/vms.csv")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        cloud_files[name] = dst
        cloud_names[name] = str(cloud)
        enabled.append(cloud)
    versioned_dir = os.path.dirname(os.path.dirname(catalog_common.get_catalog_path("x/y.csv")))
    derive_common_catalogs(versioned_dir, cloud_files, cloud_names)
    check.get_cached_enabled_clouds_or_refresh = lambda *args, **kwargs: list(enabled)
    if "azure" in cloud_files:
        # SkyPilot's Azure catalog parses every instance type as Standard_<family><size>
        # when it picks a default CPU instance and asserts on other names; a synthetic
        # name becomes its own family (so, like on AWS and GCP, not a default one).
        from sky.catalog import azure_catalog

        azure_family = azure_catalog._get_instance_family

        def instance_family(instance_type: str) -> str:
            if instance_type.startswith(("Standard_", "Basic_A")):
                return azure_family(instance_type)
            return instance_type

        azure_catalog._get_instance_family = instance_family

    def optimize(dag):
        optimizer.Optimizer.optimize(dag, minimize=sky_common.OptimizeTarget.COST, quiet=True)

    results = {"version": sky.__version__, "import_s": import_s, "cases": {}}
    for case, yaml_path in spec["cases"].items():
        first = time.perf_counter()
        optimize(dag_utils.load_chain_dag_from_yaml(yaml_path))  # warm-up, untimed
        first_s = time.perf_counter() - first
        times = []
        for _ in range(spec["runs"]):
            dag = dag_utils.load_chain_dag_from_yaml(yaml_path)
            start = time.perf_counter()
            optimize(dag)
            times.append(time.perf_counter() - start)
        placements = []
        total = 0.0
        for task in dag.tasks:
            best = task.best_resources
            hourly = best.get_cost(3600)
            total += hourly
            placements.append(
                {
                    "task": task.name,
                    "cloud": str(best.cloud).lower(),
                    "region": best.region,
                    "zone": best.zone,
                    "instance_type": best.instance_type,
                    "use_spot": best.use_spot,
                    "hourly_price": hourly,
                }
            )
        results["cases"][case] = {
            **summarize(times),
            "first_call_s": first_s,
            "placements": placements,
        }
    with open(spec["out"], "w") as f:
        json.dump(results, f)


def ensure_skypilot_venv(version: str) -> str:
    venv_dir = os.path.join(REPO_ROOT, ".cache", "skypilot-venv", version)
    python = os.path.join(venv_dir, "bin", "python")
    stamp = os.path.join(venv_dir, ".installed")
    if os.path.exists(stamp) and os.path.exists(python):
        return python
    print(
        f"installing skypilot=={version} into {os.path.relpath(venv_dir, REPO_ROOT)} ...",
        flush=True,
    )
    shutil.rmtree(venv_dir, ignore_errors=True)
    os.makedirs(os.path.dirname(venv_dir), exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", venv_dir], check=True, timeout=VENV_TIMEOUT_S)
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"skypilot=={version}",
        ],
        check=True,
        timeout=PIP_TIMEOUT_S,
    )
    with open(stamp, "w") as f:
        f.write(version + "\n")
    return python


def run_skypilot(
    python: str, version: str, catalog_files: dict, cases: dict, runs: int, work: str, timeout: int
) -> dict:
    home = os.path.join(work, "skypilot-home")
    os.makedirs(home)
    spec = {
        "version": version,
        "catalog_files": catalog_files,
        "cases": cases,
        "runs": runs,
        "out": os.path.join(work, "skypilot-result.json"),
    }
    spec_path = os.path.join(work, "skypilot-spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    closed_port = "http://127.0.0.1:9"
    env = {
        "PATH": os.path.dirname(python) + os.pathsep + "/usr/bin:/bin",
        "HOME": home,
        "SKY_RUNTIME_DIR": home,
        "LANG": "C.UTF-8",
        "HTTP_PROXY": closed_port,
        "HTTPS_PROXY": closed_port,
        "http_proxy": closed_port,
        "https_proxy": closed_port,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SKYPILOT_DISABLE_USAGE_COLLECTION": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [python, os.path.abspath(__file__), "--skypilot-runner", spec_path],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0 or not os.path.exists(spec["out"]):
        tail = (proc.stdout + proc.stderr)[-4000:]
        sys.exit(f"error: the SkyPilot run failed (exit {proc.returncode}):\n{tail}")
    with open(spec["out"]) as f:
        return json.load(f)


# ---------------------------------------------------------------------------
# Driver


def describe(placement: dict) -> str:
    where = "/".join(p for p in (placement["region"], placement["zone"]) if p)
    spot = " spot" if placement["use_spot"] else ""
    price = placement["hourly_price"]
    price_text = f"${price:.4f}/h" if price is not None else "?"
    return f"{placement['cloud']} {where} {placement['instance_type']}{spot} {price_text}"


def agreement(ours: list[dict], theirs: list[dict]) -> str:
    keys = ("cloud", "region", "instance_type", "use_spot")
    same = sum(
        all(str(a[k]).lower() == str(b[k]).lower() for k in keys) for a, b in zip(ours, theirs)
    )
    zones = sum(a["zone"] == b["zone"] for a, b in zip(ours, theirs) if a["zone"] and b["zone"])
    text = f"{same}/{len(ours)} tasks on the same cloud, region, instance type and pricing"
    if zones:
        text += f" ({zones} also on the same zone)"
    if len(ours) > 1:
        text += (
            f"; hourly prices summed: skycore ${hourly_sum(ours):.4f}, "
            f"SkyPilot ${hourly_sum(theirs):.4f}"
        )
    return text


def hourly_sum(placements: list[dict]) -> float:
    return sum(p["hourly_price"] or 0.0 for p in placements)


def catalog_files_in(directory: str) -> dict:
    files = {}
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".csv"):
            files[entry[: -len(".csv")]] = os.path.abspath(os.path.join(directory, entry))
    if not files:
        sys.exit(f"error: no <infra>.csv files in {directory}")
    return files


def count_rows(files: dict) -> int:
    total = 0
    for path in files.values():
        with open(path, "rb") as f:
            total += sum(1 for _ in f) - 1
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", help="directory of <infra>.csv files (default: generate)")
    parser.add_argument("--runs", type=int, default=5, help="timed calls per engine and case")
    parser.add_argument("--compare", action="store_true", help="also run SkyPilot's optimizer")
    parser.add_argument("--case", choices=["one", "chain", "all"], default="all")
    parser.add_argument("--skypilot-version", default=DEFAULT_SKYPILOT_VERSION)
    parser.add_argument(
        "--skypilot-timeout", type=int, default=3600, help="seconds for the whole SkyPilot run"
    )
    parser.add_argument("--skypilot-runner", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.skypilot_runner:
        skypilot_runner(args.skypilot_runner)
        return
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    work = tempfile.mkdtemp(prefix="skycore-compare-")
    try:
        if args.catalog:
            catalog_dir = args.catalog
        else:
            catalog_dir = os.path.join(work, "catalog")
            print("generating the synthetic catalog (benchmarks/gen_catalog.py) ...", flush=True)
            subprocess.run(
                [sys.executable, os.path.join(HERE, "gen_catalog.py"), catalog_dir],
                check=True,
                timeout=GEN_TIMEOUT_S,
                stdout=subprocess.DEVNULL,
            )
        files = catalog_files_in(catalog_dir)
        print(
            f"catalog: {count_rows(files):,} rows in {', '.join(f + '.csv' for f in files)}",
            flush=True,
        )

        os.environ["SKYCORE_CATALOG_DIR"] = os.path.abspath(catalog_dir)
        os.environ["SKYCORE_STATE_DIR"] = os.path.join(work, "skycore-state")
        os.makedirs(os.environ["SKYCORE_STATE_DIR"])
        sky = import_skycore()

        names = ["one", "chain"] if args.case == "all" else [args.case]
        yaml_paths = {}
        for name in names:
            yaml_paths[name] = os.path.join(work, f"{name}.yaml")
            with open(yaml_paths[name], "w") as f:
                f.write(CASES[name][1])

        ours = {name: run_skycore(sky, yaml_paths[name], args.runs) for name in names}
        theirs = None
        if args.compare:
            python = ensure_skypilot_venv(args.skypilot_version)
            print(f"running SkyPilot {args.skypilot_version}'s optimizer ...", flush=True)
            theirs = run_skypilot(
                python,
                args.skypilot_version,
                files,
                yaml_paths,
                args.runs,
                work,
                args.skypilot_timeout,
            )

        for name in names:
            print(f"\n== {CASES[name][0]} (warm, {args.runs} timed calls each)")
            mine = ours[name]
            print(
                f"skycore {mine['version']}: median {fmt_seconds(mine['median'])}, "
                f"min {fmt_seconds(mine['min'])} per sky.optimize_plan call"
            )
            for placement in mine["placements"]:
                print(f"    {placement['task'] or '-'}: {describe(placement)}")
            if theirs is None:
                continue
            other = theirs["cases"][name]
            print(
                f"SkyPilot {theirs['version']}: median {fmt_seconds(other['median'])}, "
                f"min {fmt_seconds(other['min'])} per Optimizer.optimize call "
                f"(first call {fmt_seconds(other['first_call_s'])})"
            )
            for placement in other["placements"]:
                print(f"    {placement['task'] or '-'}: {describe(placement)}")
            print(f"placements: {agreement(mine['placements'], other['placements'])}")
            print(
                f"ratio SkyPilot/skycore: {other['median'] / mine['median']:,.0f}x median, "
                f"{other['min'] / mine['min']:,.0f}x min"
            )
        if theirs is not None:
            print(f"\n(SkyPilot's `import sky` took {fmt_seconds(theirs['import_s'])}, untimed)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
