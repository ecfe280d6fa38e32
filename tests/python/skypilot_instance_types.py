"""Prints the virtual instance type SkyPilot plans for each task resources on
Kubernetes or Slurm (the cloud named by argv[1]).

Runs inside the test-only SkyPilot virtual environment (tests/skypilot_venv.sh),
never in skycore's interpreter. Reads a JSON list of `resources:` mappings on
stdin and writes one JSON list of instance types (null: none feasible), in
order, as SkyPilot's cloud chooses them (_get_feasible_launchable_resources:
get_default_instance_type, the GPU sizing, the instance type's name). Every
context or cluster is taken to hold every type: only the sizing is compared,
not the fit.
"""

import json
import sys

import sky
from sky import clouds
from sky.clouds import kubernetes, slurm

CLOUDS = {"kubernetes": kubernetes.Kubernetes, "slurm": slurm.Slurm}


def _everywhere(cls, *args, **kwargs):
    del cls, args, kwargs
    return [clouds.Region("ctx")]


def main():
    cloud = CLOUDS[sys.argv[1]]
    cloud.regions_with_offering = classmethod(_everywhere)
    out = []
    for ask in json.load(sys.stdin):
        resources = sky.Resources(infra=sys.argv[1], **ask)
        feasible = cloud()._get_feasible_launchable_resources(resources)
        types = [r.instance_type for r in feasible.resources_list]
        out.append(types[0] if types else None)
    json.dump({"version": sky.__version__, "types": out}, sys.stdout)


if __name__ == "__main__":
    main()
