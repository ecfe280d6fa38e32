from __future__ import annotations

import os
import pathlib
import sysconfig

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# `sky check` asks every infra, AWS included; with no AWS keys in the test's
# HOME its credentials chain would end at the instance metadata service
# (169.254.169.254). Tests reach loopback only, so that source is off; the
# test processes inherit this environment.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture
def sky_bin() -> str:
    """The native `sky` executable installed with the package ($SKYCORE_SKY_BIN
    picks another one, e.g. a build tree's, while developing)."""
    if os.environ.get("SKYCORE_SKY_BIN"):
        return os.environ["SKYCORE_SKY_BIN"]
    path = pathlib.Path(sysconfig.get_path("scripts")) / "sky"
    assert path.exists(), f"`sky` not installed at {path}; run pip install ."
    return str(path)


@pytest.fixture(scope="session")
def k8s_cluster():
    """The Kubernetes test cluster of this session (tests/python/k8s_fixture.py)."""
    import k8s_fixture

    yield from k8s_fixture.running_cluster()


@pytest.fixture(scope="session")
def aws_cloud_session():
    """The AWS test cloud of this session (tests/python/cloud_fixture.py)."""
    import cloud_fixture

    with cloud_fixture.running_cloud() as cloud:
        yield cloud


@pytest.fixture
def aws_cloud(aws_cloud_session):
    """The session's AWS test cloud, reset: empty moto, no machines, no faults."""
    aws_cloud_session.reset()
    yield aws_cloud_session


@pytest.fixture(scope="session")
def azure_cloud_session(aws_cloud_session):
    """The Azure fake of this session: served by the AWS test cloud's process."""
    return aws_cloud_session.azure()


@pytest.fixture
def azure_cloud(azure_cloud_session):
    """The session's Azure fake, reset: no resources, machines or faults."""
    azure_cloud_session.reset()
    yield azure_cloud_session


@pytest.fixture(scope="session")
def gcp_cloud_session(aws_cloud_session):
    """The GCP fake of this session: served by the AWS test cloud's process."""
    return aws_cloud_session.gcp()


@pytest.fixture
def gcp_cloud(gcp_cloud_session):
    """The session's GCP fake, reset: no instances, machines or faults."""
    gcp_cloud_session.reset()
    yield gcp_cloud_session


@pytest.fixture(scope="session")
def lambda_cloud_session(aws_cloud_session):
    """The Lambda Cloud fake of this session: served by the AWS test cloud's process."""
    return aws_cloud_session.lambda_cloud()


@pytest.fixture
def lambda_cloud(lambda_cloud_session):
    """The session's Lambda Cloud fake, reset: no instances, keys or faults."""
    lambda_cloud_session.reset()
    yield lambda_cloud_session


@pytest.fixture(scope="session")
def runpod_cloud_session(aws_cloud_session):
    """The RunPod fake of this session: served by the AWS test cloud's process."""
    return aws_cloud_session.runpod()


@pytest.fixture
def runpod_cloud(runpod_cloud_session):
    """The session's RunPod fake, reset: no pods, templates or faults."""
    runpod_cloud_session.reset()
    yield runpod_cloud_session
