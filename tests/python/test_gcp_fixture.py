"""Tests of the GCP fake of the cloud test fixture (tests/fixtures/cloud/
gcp_fake.py): the real google-api-python-client and google-auth drive it
(service-account tokens, instances and their operations, TPU nodes), instances
are loopback sshd machines, answers match Google's discovery documents, and
faults, filters, paging and preemption are as GCE words and does them."""

from __future__ import annotations

import base64
import json
import pathlib
import subprocess
import time

import pytest
from gcp_cloud import GcpCloud

ZONE = "us-central1-a"


@pytest.fixture
def key(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def ssh(key: pathlib.Path, address: str, port: int, user: str, command: str = "true"):
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(key), "-p", str(port),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"{user}@{address}", command],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def instance_body(name: str, key: pathlib.Path | None = None, **extra) -> dict:
    body = {
        "name": name,
        "machineType": f"zones/{ZONE}/machineTypes/n2-standard-2",
        "labels": {"skypilot-cluster-name": "c1"},
        "disks": [
            {
                "boot": True,
                "autoDelete": True,
                "initializeParams": {
                    "sourceImage": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
                    "diskSizeGb": 50,
                },
            }
        ],
        "networkInterfaces": [
            {
                "network": "global/networks/default",
                "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}],
            }
        ],
    }
    if key is not None:
        value = f"skycore:{key.with_suffix('.pub').read_text().strip()}"
        body["metadata"] = {"items": [{"key": "ssh-keys", "value": value}]}
    body.update(extra)
    return body


SPOT = {
    "provisioningModel": "SPOT",
    "instanceTerminationAction": "STOP",
    "onHostMaintenance": "TERMINATE",
    "automaticRestart": False,
}

# Runs after GOOGLE_SDK_PRELUDE: one instance's life through the client.
LIFE = """
zone, body = os.environ["ZONE"], json.loads(os.environ["BODY"])
out = {}
inst = compute.instances()
op = inst.insert(project=project, zone=zone, body=body).execute()
out["insert"] = op["status"]
out["while"] = inst.get(project=project, zone=zone, instance=body["name"]).execute()["status"]
ops = compute.zoneOperations()
while op["status"] != "DONE":
    op = ops.get(project=project, zone=zone, operation=op["name"]).execute()
out["op"] = {k: op.get(k) for k in ("status", "operationType", "error", "targetLink")}
if op.get("error"):
    print(json.dumps(out))
    raise SystemExit(0)
got = inst.get(project=project, zone=zone, instance=body["name"]).execute()
nic = got["networkInterfaces"][0]
out["got"] = {"status": got["status"], "natIP": nic["accessConfigs"][0].get("natIP"),
              "networkIP": nic["networkIP"], "labels": got["labels"],
              "scheduling": got["scheduling"], "machineType": got["machineType"]}
flt = ('((labels.skypilot-cluster-name = c1)) AND ((status = RUNNING) OR (status = STAGING))')
out["listed"] = [i["name"] for i in inst.list(project=project, zone=zone, filter=flt)
                 .execute().get("items", [])]
print(json.dumps(out))
"""

ACTION = """
zone, name, action = os.environ["ZONE"], os.environ["NAME"], os.environ["ACTION"]
op = getattr(compute.instances(), action)(project=project, zone=zone, instance=name).execute()
op = compute.zoneOperations().wait(project=project, zone=zone, operation=op["name"]).execute()
try:
    status = compute.instances().get(project=project, zone=zone, instance=name).execute()["status"]
except HttpError as e:
    status = e.status_code
print(json.dumps({"op": op["status"], "error": op.get("error"), "status": status}))
"""


def life(cloud: GcpCloud, body: dict) -> dict:
    out = cloud.run_python(LIFE, env={"ZONE": ZONE, "BODY": json.dumps(body)})
    return json.loads(out.strip().splitlines()[-1])


def action(cloud: GcpCloud, name: str, verb: str) -> dict:
    out = cloud.run_python(ACTION, env={"ZONE": ZONE, "NAME": name, "ACTION": verb})
    return json.loads(out.strip().splitlines()[-1])


def test_sdk_drives_an_instance_through_its_life(gcp_cloud: GcpCloud, key: pathlib.Path) -> None:
    user = gcp_cloud.env["SKYCORE_TEST_NODE_USER"]
    gcp_cloud.configure(op_polls=2)
    out = life(gcp_cloud, instance_body("c1-head", key, scheduling=SPOT))
    assert out["insert"] == "PENDING" and out["while"] in ("PROVISIONING", "STAGING")
    assert out["op"]["status"] == "DONE" and out["op"]["error"] is None
    assert out["op"]["operationType"] == "insert"
    assert out["op"]["targetLink"].endswith(f"/zones/{ZONE}/instances/c1-head")
    got = out["got"]
    assert got["status"] == "RUNNING" and got["labels"] == {"skypilot-cluster-name": "c1"}
    assert got["natIP"] == got["networkIP"] and got["natIP"].startswith("127.")
    assert got["scheduling"]["provisioningModel"] == "SPOT"
    assert got["machineType"].endswith(f"/zones/{ZONE}/machineTypes/n2-standard-2")
    assert out["listed"] == ["c1-head"]
    node = gcp_cloud.node("c1-head")
    assert node["address"] == got["natIP"] and node["state"] == "running"
    result = ssh(key, node["address"], node["port"], user, "true")
    assert result.returncode == 0, result.stderr

    stopped = action(gcp_cloud, "c1-head", "stop")
    assert stopped == {"op": "DONE", "error": None, "status": "TERMINATED"}
    assert ssh(key, node["address"], node["port"], user).returncode == 255
    started = action(gcp_cloud, "c1-head", "start")
    assert started["status"] == "RUNNING"
    node = gcp_cloud.node("c1-head")
    assert ssh(key, node["address"], node["port"], user).returncode == 0
    deleted = action(gcp_cloud, "c1-head", "delete")
    assert deleted == {"op": "DONE", "error": None, "status": 404}
    assert gcp_cloud.resources()["count"] == 0 and gcp_cloud.nodes() == []
    assert not pathlib.Path(node["dir"]).exists()
    calls = gcp_cloud.requests(operation="instances.insert")
    assert len(calls) == 1 and calls[0]["status"] == 200 and calls[0]["duration_s"] >= 0
    assert gcp_cloud.control("GET", "health")["schema_drift"] == []


def test_stockout_ends_the_insert_operation_with_gce_error(gcp_cloud: GcpCloud) -> None:
    gcp_cloud.fault("ZONE_RESOURCE_POOL_EXHAUSTED", method="instances.insert", zone=ZONE)
    out = life(gcp_cloud, instance_body("c2-head"))
    assert out["insert"] == "PENDING"
    error = out["op"]["error"]["errors"][0]
    assert error["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED"
    assert error["message"] == (
        f"The zone 'projects/{gcp_cloud.project}/zones/{ZONE}' does not have enough resources "
        "available to fulfill the request.  Try a different zone, or try again later."
    )
    answer = gcp_cloud.call("GET", f"projects/{gcp_cloud.project}/zones/{ZONE}/instances/c2-head")
    assert answer.status == 404 and answer.reason == "notFound"  # no instance kept
    assert gcp_cloud.resources()["count"] == 0 and gcp_cloud.nodes() == []


def test_http_faults_and_checks_answer_as_google(gcp_cloud: GcpCloud) -> None:
    gcp_cloud.fault("QUOTA_EXCEEDED", mode="http", method="instances.insert")
    script = """
    def insert(body):
        try:
            compute.instances().insert(project=project, zone="us-central1-a", body=body).execute(
                num_retries=0)
        except HttpError as e:
            return [e.status_code, e.error_details[0]["reason"], e.reason]
    body = json.loads(os.environ["BODY"])
    out = [insert(body)]
    out.append(insert({**body, "machineType": "zones/us-central1-a/machineTypes/bogus-8"}))
    out.append(insert({**body, "guestAccelerators": [
        {"acceleratorType": "nvidia-tesla-t4", "acceleratorCount": 1}]}))
    out.append(insert({**body, "labels": {"Bad": "x"}}))
    out.append(insert({**body, "unknownField": 1}))
    print(json.dumps(out))
    """
    out = json.loads(gcp_cloud.run_python(script, env={"BODY": json.dumps(instance_body("c3"))}))
    assert out[0][:2] == [403, "quotaExceeded"]
    assert out[0][2] == "Quota 'CPUS' exceeded.  Limit: 0.0 in region us-central1."
    assert out[1] == [
        400,
        "invalid",
        "Invalid value for field 'resource.machineType': 'zones/us-central1-a/machineTypes/"
        "bogus-8'. Machine type with name 'bogus-8' does not exist in zone 'us-central1-a'.",
    ]
    assert out[2][:2] == [400, "invalid"]  # T4 on an N2
    assert out[3][:2] == [400, "invalid"] and "Label key 'Bad'" in out[3][2]
    assert out[4][:2] == [400, "invalid"] and "unknownField" in out[4][2]
    assert gcp_cloud.resources()["count"] == 0


def test_filters_and_paging(gcp_cloud: GcpCloud) -> None:
    gcp_cloud.configure(op_polls=0, page_size=2)
    base = f"projects/{gcp_cloud.project}/zones/{ZONE}/instances"
    for i, kind in enumerate(["head", "worker", "worker"]):
        labels = {"skypilot-cluster-name": "c4" if i < 2 else "c5", "ray-node-type": kind}
        answer = gcp_cloud.call("POST", base, instance_body(f"n{i}", labels=labels))
        assert answer.status == 200 and answer.body["status"] == "DONE", answer

    def names(flt: str) -> list[str]:
        found, token = [], ""
        while True:
            query = {"filter": flt} | ({"pageToken": token} if token else {})
            answer = gcp_cloud.call("GET", f"{base}?{urllib_encode(query)}")
            assert answer.status == 200, answer
            found += [i["name"] for i in answer.body.get("items", [])]
            token = answer.body.get("nextPageToken", "")
            if not token:
                return found

    assert names("") == ["n0", "n1", "n2"]  # two pages
    assert names("labels.skypilot-cluster-name=c4") == ["n0", "n1"]
    assert names('labels.skypilot-cluster-name = "c4" labels.ray-node-type = worker') == ["n1"]
    assert names("(labels.ray-node-type = head) OR (labels.skypilot-cluster-name = c5)") == [
        "n0",
        "n2",
    ]
    assert names("status = RUNNING AND labels.ray-node-type = worker") == ["n1", "n2"]
    assert names("status != RUNNING") == []
    bad = gcp_cloud.call("GET", f"{base}?{urllib_encode({'filter': 'labels.x = ('})}")
    assert bad.status == 400 and bad.reason == "invalid"


def urllib_encode(query: dict) -> str:
    import urllib.parse

    return urllib.parse.urlencode(query)


def test_preemption(gcp_cloud: GcpCloud, key: pathlib.Path) -> None:
    gcp_cloud.configure(op_polls=0)
    base = f"projects/{gcp_cloud.project}/zones/{ZONE}"
    answer = gcp_cloud.call("POST", f"{base}/instances", instance_body("s1", key, scheduling=SPOT))
    assert answer.status == 200, answer
    node = gcp_cloud.node("s1")
    done = gcp_cloud.preempt("s1")
    assert done["state"] == "TERMINATED"
    got = gcp_cloud.call("GET", f"{base}/instances/s1").body
    assert (
        got["status"] == "TERMINATED"
        and "natIP" not in got["networkInterfaces"][0]["accessConfigs"][0]
    )
    user = gcp_cloud.env["SKYCORE_TEST_NODE_USER"]
    assert ssh(key, node["address"], node["port"], user).returncode == 255
    flt = urllib_encode({"filter": 'operationType="compute.instances.preempted"'})
    ops = gcp_cloud.call("GET", f"{base}/operations?{flt}").body["items"]
    assert [o["targetLink"].rsplit("/", 1)[1] for o in ops] == ["s1"]
    assert ops[0]["status"] == "DONE" and ops[0]["statusMessage"] == "Instance was preempted."
    answer = gcp_cloud.call("POST", f"{base}/instances", instance_body("r1"))
    with pytest.raises(RuntimeError, match="not a Spot VM"):
        gcp_cloud.preempt("r1")


def test_tpu_node_is_a_machine(gcp_cloud: GcpCloud, key: pathlib.Path) -> None:
    script = """
    parent = f"projects/{project}/locations/us-central1-a"
    nodes = tpu.projects().locations().nodes()
    body = {"acceleratorType": "v5litepod-8", "runtimeVersion": "v2-alpha-tpuv5-lite",
            "labels": {"skypilot-cluster-name": "t1"},
            "metadata": {"ssh-keys": "skycore:" + os.environ["KEY"]},
            "networkConfig": {"enableExternalIps": True}}
    op = nodes.create(parent=parent, nodeId="t1", body=body).execute()
    first = op["done"]
    while not op.get("done"):
        op = tpu.projects().locations().operations().get(name=op["name"]).execute()
    node = nodes.get(name=f"{parent}/nodes/t1").execute()
    listed = [n["name"] for n in nodes.list(parent=parent).execute().get("nodes", [])]
    print(json.dumps({"first": first, "response": op["response"]["@type"], "node": node,
                      "listed": listed}))
    """
    key_text = key.with_suffix(".pub").read_text().strip()
    out = json.loads(gcp_cloud.run_python(script, env={"KEY": key_text}))
    assert out["first"] is False and out["response"].endswith("google.cloud.tpu.v2.Node")
    node = out["node"]
    assert node["state"] == "READY" and node["acceleratorType"] == "v5litepod-8"
    endpoint = node["networkEndpoints"][0]
    assert endpoint["ipAddress"] == endpoint["accessConfig"]["externalIp"]
    assert out["listed"] == [node["name"]]
    machine = gcp_cloud.nodes()[0]
    assert machine["address"] == endpoint["ipAddress"]
    user = gcp_cloud.env["SKYCORE_TEST_NODE_USER"]
    assert ssh(key, machine["address"], machine["port"], user).returncode == 0
    answer = gcp_cloud.call("DELETE", gcp_cloud.tpu_endpoint + node["name"])
    assert answer.status == 200 and answer.body["done"] is False
    op = gcp_cloud.call("GET", gcp_cloud.tpu_endpoint + answer.body["name"])
    while not op.body["done"]:
        op = gcp_cloud.call("GET", gcp_cloud.tpu_endpoint + answer.body["name"])
    assert gcp_cloud.resources()["count"] == 0 and gcp_cloud.nodes() == []


def test_schema_check_catches_a_broken_answer(gcp_cloud: GcpCloud) -> None:
    gcp_cloud.configure(op_polls=0)
    base = f"projects/{gcp_cloud.project}/zones/{ZONE}/instances"
    assert gcp_cloud.call("POST", base, instance_body("v1")).status == 200
    good = gcp_cloud.call("GET", f"{base}/v1").body
    script = """
    import sys
    sys.path.insert(0, os.environ["FIXTURES"])
    import gcp_schema
    api = gcp_schema.api("compute.v1.json")
    good = json.loads(os.environ["GOOD"])
    broken = json.loads(os.environ["GOOD"])
    broken["id"] = int(broken["id"])  # uint64 must be a string
    broken["networkInterfaces"][0]["natIp"] = "127.0.0.1"  # a misspelt field
    broken["status"] = "STARTED"  # not in the enum
    print(json.dumps({"good": api.errors("Instance", good),
                      "broken": api.errors("Instance", broken)}))
    """
    fixtures = str(pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "cloud")
    out = json.loads(
        gcp_cloud.run_python(script, env={"FIXTURES": fixtures, "GOOD": json.dumps(good)})
    )
    assert out["good"] == []
    text = "\n".join(out["broken"])
    assert "Instance at id" in text and "natIp" in text and "STARTED" in text


def test_tokens(gcp_cloud: GcpCloud) -> None:
    script = """
    import time
    from google.auth import crypt, jwt
    from google.auth.transport.requests import Request
    from google.oauth2 import credentials as user_credentials
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    import urllib.parse, urllib.request, urllib.error
    info = json.loads(open(os.environ["GOOGLE_APPLICATION_CREDENTIALS"]).read())

    def grant(signer, **claims):
        now = int(time.time())
        payload = {"iss": info["client_email"], "aud": info["token_uri"], "iat": now,
                   "exp": now + 3600, "scope": "https://www.googleapis.com/auth/cloud-platform"}
        payload.update(claims)
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": jwt.encode(signer, payload).decode()}
        try:
            with urllib.request.urlopen(info["token_uri"],
                                        urllib.parse.urlencode(form).encode()) as r:
                return [r.status, json.load(r)]
        except urllib.error.HTTPError as e:
            return [e.code, json.load(e)]

    good = crypt.RSASigner.from_service_account_info(info)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    bad = crypt.RSASigner.from_string(other, info["private_key_id"])
    out = {"good": grant(good), "bad_signature": grant(bad),
           "bad_audience": grant(good, aud="https://example.com/token"),
           "bad_scope": grant(good, scope="https://www.googleapis.com/auth/drive"),
           "too_long": grant(good, exp=int(time.time()) + 7200)}
    # google-auth puts Google's token URL over the file's token_uri: name the fake's.
    user = user_credentials.Credentials.from_authorized_user_file(
        os.environ["SKYCORE_GCP_ADC_FILE"]).with_token_uri(os.environ["SKYCORE_GCP_TOKEN_URI"])
    user.refresh(Request())
    out["user_token"] = bool(user.token)
    print(json.dumps(out))
    """
    out = json.loads(gcp_cloud.run_python(script).strip().splitlines()[-1])
    assert out["good"][0] == 200 and out["good"][1]["token_type"] == "Bearer"
    assert out["good"][1]["expires_in"] == 3599
    assert out["bad_signature"] == [
        400,
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    ]
    assert out["bad_audience"][1]["error"] == "invalid_grant"
    assert out["bad_scope"][1]["error"] == "invalid_scope"
    assert out["too_long"][1]["error"] == "invalid_grant"
    assert out["user_token"] is True
    wrong = gcp_cloud.token_request(
        grant_type="refresh_token",
        client_id=json.loads(gcp_cloud.adc_file.read_text())["client_id"],
        client_secret=json.loads(gcp_cloud.adc_file.read_text())["client_secret"],
        refresh_token="1//nope",
    )
    assert wrong.status == 400 and wrong.body["error"] == "invalid_grant"
    path = f"projects/{gcp_cloud.project}/zones"
    missing = gcp_cloud.call("GET", path, token="")
    assert missing.status == 401 and missing.reason == "required"
    forged = gcp_cloud.call("GET", path, token="ya29.forged")
    assert forged.status == 401 and forged.reason == "authError"
    gcp_cloud.set_token(lifetime_s=1)
    short = gcp_cloud.token_request().body["access_token"]
    time.sleep(1.2)
    assert gcp_cloud.call("GET", path, token=short).status == 401
    assert gcp_cloud.call("GET", path).status == 200  # an older token still works


def test_catalog_views(gcp_cloud: GcpCloud) -> None:
    project = gcp_cloud.project
    mt = gcp_cloud.call("GET", f"projects/{project}/zones/{ZONE}/machineTypes/a2-highgpu-8g")
    assert mt.status == 200, mt
    assert mt.body["guestCpus"] == 96 and mt.body["accelerators"] == [
        {"guestAcceleratorType": "nvidia-tesla-a100", "guestAcceleratorCount": 8}
    ]
    accels = gcp_cloud.call("GET", f"projects/{project}/zones/{ZONE}/acceleratorTypes").body
    assert {"nvidia-tesla-t4", "nvidia-tesla-a100"} <= {a["name"] for a in accels["items"]}
    image = gcp_cloud.call(
        "GET", "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
    ).body
    assert image["family"] == "ubuntu-2204-lts" and image["status"] == "READY"
    assert gcp_cloud.call("GET", f"projects/{project}/global/networks/default").status == 200
    rule = {
        "name": "c1-ports",
        "network": f"projects/{project}/global/networks/default",
        "direction": "INGRESS",
        "priority": 65534,
        "allowed": [{"IPProtocol": "tcp", "ports": ["8080"]}],
        "sourceRanges": ["0.0.0.0/0"],
        "targetTags": ["c1"],
    }
    op = gcp_cloud.call("POST", f"projects/{project}/global/firewalls", rule).body
    assert op["kind"] == "compute#operation" and "zone" not in op
    gcp_cloud.call("POST", f"projects/{project}/global/operations/{op['name']}/wait")
    assert gcp_cloud.resources()["firewalls"][0].endswith("/global/firewalls/c1-ports")
    bad_token = base64.urlsafe_b64encode(b"x").decode()
    listed = gcp_cloud.call("GET", f"projects/{project}/zones?pageToken={bad_token}")
    assert listed.status == 400
