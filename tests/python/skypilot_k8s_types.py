"""Prints the Kubernetes instance type SkyPilot plans for each task resources.

Runs inside the test-only SkyPilot virtual environment (tests/skypilot_venv.sh),
never in skycore's interpreter. Reads a JSON list of `resources:` mappings on
stdin and writes one JSON list of instance types (null: none feasible), in
order, as SkyPilot's Kubernetes cloud chooses them
(Kubernetes._get_feasible_launchable_resources: get_default_instance_type,
the GPU sizing, KubernetesInstanceType). Every context is taken to hold every
type: only the sizing is compared, not the fit on a cluster.
"""

import json
import sys

import sky
from sky import clouds
from sky.clouds import kubernetes


def _every_context(cls, *args, **kwargs):
    del cls, args, kwargs
    return [clouds.Region("ctx")]


def main():
    kubernetes.Kubernetes.regions_with_offering = classmethod(_every_context)
    out = []
    for ask in json.load(sys.stdin):
        resources = sky.Resources(infra="kubernetes", **ask)
        feasible = kubernetes.Kubernetes()._get_feasible_launchable_resources(resources)
        types = [r.instance_type for r in feasible.resources_list]
        out.append(types[0] if types else None)
    json.dump({"version": sky.__version__, "types": out}, sys.stdout)


if __name__ == "__main__":
    main()
