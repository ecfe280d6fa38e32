"""Loads task YAMLs with SkyPilot's own loader and prints one JSON verdict each.

Runs inside the test-only SkyPilot virtual environment (tests/skypilot_venv.sh),
never in skycore's interpreter. Reads a JSON list of requests on stdin:
    [{"path": ..., "env_overrides": {...}, "secrets_overrides": {...},
      "fill_null_envs": bool}, ...]
and writes on stdout SkyPilot's version and one verdict per request, in order:
    {"version": "0.14.1", "verdicts": [
        {"path": ..., "ok": bool, "tasks": N, "error": "<type>: <message>",
         "env_overrides": {...}}, ...]}
With fill_null_envs, every env left null in the file gets a value, as
`--env NAME=...` would give it; the verdict returns the overrides used, so that
the caller loads the file with the same ones.

It loads each file the way `sky launch <file>` does:
sky.utils.dag_utils.load_chain_dag_from_yaml with --env/--secret overrides.
"""

import contextlib
import io
import json
import sys

import yaml  # SkyPilot's own dependency


def _null_envs(path):
    try:
        with open(path, encoding="utf-8") as f:
            documents = list(yaml.safe_load_all(f))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    envs = {}
    for document in documents:
        section = document.get("envs") if isinstance(document, dict) else None
        if isinstance(section, dict):
            for name, value in section.items():
                if value is None and isinstance(name, str):
                    envs[name] = "differential-test-value"
    return envs


def _verdict(dag_utils, request):
    path = request["path"]
    overrides = dict(request.get("env_overrides", {}))
    if request.get("fill_null_envs"):
        overrides = {**_null_envs(path), **overrides}
    env = list(overrides.items())
    secrets = list(request.get("secrets_overrides", {}).items())
    try:
        # SkyPilot prints warnings on stdout/stderr; keep stdout for the JSON.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            # Positional: the keyword is `secret_overrides` here but
            # `secrets_overrides` in load_chain_dag_from_yaml_str.
            dag = dag_utils.load_chain_dag_from_yaml(path, env or None, secrets or None)
        verdict = {"path": path, "ok": True, "tasks": len(dag.tasks), "error": ""}
    except Exception as e:  # every rejection is a verdict
        message = " ".join(str(e).split())
        verdict = {"path": path, "ok": False, "tasks": 0, "error": f"{type(e).__name__}: {message}"}
    verdict["env_overrides"] = overrides
    return verdict


def main() -> int:
    requests = json.load(sys.stdin)
    with contextlib.redirect_stdout(io.StringIO()):
        import sky
        from sky.utils import dag_utils
    verdicts = [_verdict(dag_utils, request) for request in requests]
    json.dump({"version": sky.__version__, "verdicts": verdicts}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
