"""Tests of the Azure fake of the cloud test fixture (tests/fixtures/cloud/
azure_fake.py): the real azure-mgmt-* SDK drives it (long-running operations,
errors), VMs are loopback sshd machines, Entra ID's token endpoint takes a
secret, a federated token or a certificate, and ARM's errors, paging and
faults are as Azure words them."""

from __future__ import annotations

import base64
import json
import pathlib
import subprocess
import textwrap
import time

import pytest
from cloud_fixture import AzureCloud

LOCATION = "eastus"
SIZE = "Standard_D2s_v5"

# Runs after AZURE_SDK_PRELUDE: the network of one VM, then the VM
# (environment: RG, NAME, KEY, PRIORITY), through the SDK's pollers.
CREATE_VM = """
import os
rg, name, loc = os.environ["RG"], os.environ["NAME"], os.environ.get("LOC", "eastus")
resource.resource_groups.create_or_update(rg, {"location": loc, "tags": {"skycore": "c1"}})
subnet = {"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}
vnet = network.virtual_networks.begin_create_or_update(rg, "vnet", {"location": loc,
    "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [subnet]}}
).result()
rule = {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22",
        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow",
        "priority": 100, "direction": "Inbound"}
nsg = network.network_security_groups.begin_create_or_update(rg, "nsg", {"location": loc,
    "properties": {"securityRules": [{"name": "ssh", "properties": rule}]}}).result()
ip = network.public_ip_addresses.begin_create_or_update(rg, name + "-ip", {"location": loc,
    "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}).result()
config = {"name": "ipconfig1", "properties": {"subnet": {"id": vnet.properties.subnets[0].id},
                                              "publicIPAddress": {"id": ip.id}}}
nic = network.network_interfaces.begin_create_or_update(rg, name + "-nic", {"location": loc,
    "properties": {"networkSecurityGroup": {"id": nsg.id}, "ipConfigurations": [config]}}).result()
props = {
    "hardwareProfile": {"vmSize": os.environ.get("SIZE", "Standard_D2s_v5")},
    "storageProfile": {
        "imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                           "sku": "server", "version": "latest"},
        "osDisk": {"createOption": "FromImage", "deleteOption": "Delete"}},
    "osProfile": {"computerName": name, "adminUsername": "azureuser",
        "customData": "I2Nsb3VkLWNvbmZpZwo=",
        "linuxConfiguration": {"disablePasswordAuthentication": True, "ssh": {"publicKeys": [
            {"path": "/home/azureuser/.ssh/authorized_keys", "keyData": os.environ["KEY"]}]}}},
    "networkProfile": {"networkInterfaces": [{"id": nic.id, "properties": {"primary": True}}]},
}
if os.environ.get("PRIORITY") == "Spot":
    props.update(priority="Spot", evictionPolicy=os.environ.get("EVICTION", "Deallocate"),
                 billingProfile={"maxPrice": -1})
out = {"nic_address": nic.properties.ip_configurations[0].properties.private_ip_address,
       "ip_before": ip.properties.ip_address}
try:
    vm = compute.virtual_machines.begin_create_or_update(rg, name, {"location": loc,
        "tags": {"skycore": "c1"}, "properties": props}).result()
    out["state"] = vm.properties.provisioning_state
except HttpResponseError as e:
    out["error"] = [e.status_code, e.error.code if e.error else None, e.message]
out["ip_after"] = network.public_ip_addresses.get(rg, name + "-ip").properties.ip_address
print(json.dumps(out))
"""

STATUSES = """
def statuses(rg, name):
    view = compute.virtual_machines.instance_view(rg, name)
    return [s.code for s in view.statuses]
"""


@pytest.fixture
def key(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def ssh(key: pathlib.Path, node: dict, user: str, command: str = "echo ok"):
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(key), "-p", str(node["port"]),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"{user}@{node['address']}", command],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def create_vm(cloud: AzureCloud, key: pathlib.Path, name: str = "vm1", **env: str) -> dict:
    env = {"RG": "rg1", "NAME": name, "KEY": key.with_suffix(".pub").read_text().strip(), **env}
    return json.loads(cloud.run_python(CREATE_VM, env=env).strip().splitlines()[-1])


def test_sdk_drives_a_vm_through_its_life(azure_cloud: AzureCloud, key: pathlib.Path) -> None:
    user = azure_cloud.env["SKYCORE_TEST_NODE_USER"]
    made = create_vm(azure_cloud, key)
    assert made["state"] == "Succeeded", made
    assert made["nic_address"].startswith("127.") and made["ip_before"] is None
    assert made["ip_after"] == made["nic_address"]  # the public IP is the machine's
    node = azure_cloud.node("vm1")
    assert node["address"] == made["nic_address"] and node["state"] == "running"
    result = ssh(key, node, user, "echo $SKYCORE_HOME; cat $SKYCORE_HOME/../custom_data")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [f"{node['dir']}/home", "#cloud-config"]

    life = (
        STATUSES
        + """
out = {"running": statuses("rg1", "vm1")}
compute.virtual_machines.begin_deallocate("rg1", "vm1").result()
out["deallocated"] = statuses("rg1", "vm1")
print(json.dumps(out))
"""
    )
    out = json.loads(azure_cloud.run_python(life))
    assert out["running"] == ["ProvisioningState/succeeded", "PowerState/running"]
    assert out["deallocated"] == ["ProvisioningState/succeeded", "PowerState/deallocated"]
    assert ssh(key, node, user).returncode == 255
    assert pathlib.Path(node["dir"]).exists()  # the disk stays

    again = (
        STATUSES
        + """
compute.virtual_machines.begin_start("rg1", "vm1").result()
vm = compute.virtual_machines.get("rg1", "vm1", expand="instanceView")
print(json.dumps([s.code for s in vm.properties.instance_view.statuses]))
"""
    )
    assert json.loads(azure_cloud.run_python(again))[1] == "PowerState/running"
    assert ssh(key, azure_cloud.node("vm1"), user).stdout == "ok\n"

    listing = """
print(json.dumps({
    "all": [v.name for v in compute.virtual_machines.list_all()],
    "tagged": [r.type for r in resource.resources.list(
        filter="tagName eq 'skycore' and tagValue eq 'c1'")],
    "groups": [g.name for g in resource.resource_groups.list(
        filter="tagName eq 'skycore' and tagValue eq 'c1'")],
}))
"""
    found = json.loads(azure_cloud.run_python(listing))
    assert found == {"all": ["vm1"], "tagged": ["Microsoft.Compute/virtualMachines"],
                     "groups": ["rg1"]}  # fmt: skip

    teardown = """
compute.virtual_machines.begin_delete("rg1", "vm1").result()
left = sorted(r.type for r in resource.resources.list_by_resource_group("rg1"))
resource.resource_groups.begin_delete("rg1").result()
print(json.dumps({"left": left, "exists": resource.resource_groups.check_existence("rg1")}))
"""
    out = json.loads(azure_cloud.run_python(teardown))
    # The OS disk went with the VM (deleteOption Delete); the network stays.
    assert out == {"left": ["Microsoft.Network/networkInterfaces",
                            "Microsoft.Network/networkSecurityGroups",
                            "Microsoft.Network/publicIPAddresses",
                            "Microsoft.Network/virtualNetworks"], "exists": False}  # fmt: skip
    assert not pathlib.Path(node["dir"]).exists()
    assert azure_cloud.resources() == []
    assert azure_cloud.nodes() == []
    versions = {(r["type"], r["api_version"]) for r in azure_cloud.requests(method="PUT")}
    assert ("virtualMachines", AzureCloud.COMPUTE_API) in versions
    assert ("networkInterfaces", AzureCloud.NETWORK_API) in versions
    assert ("resourceGroups", AzureCloud.RESOURCES_API) in versions


def test_async_allocation_failure_reaches_the_sdk(azure_cloud: AzureCloud, key) -> None:
    azure_cloud.fault("AllocationFailed", type="virtualMachines", method="PUT", vm_size=SIZE)
    made = create_vm(azure_cloud, key)
    assert made["error"][1] == "AllocationFailed", made
    assert "sufficient capacity" in made["error"][2]
    vm = azure_cloud.arm("GET", azure_cloud.rg_path("rg1") + "/providers/Microsoft.Compute/"
                         "virtualMachines/vm1?$expand=instanceView")  # fmt: skip
    assert vm.body["properties"]["provisioningState"] == "Failed"  # left behind, as Azure does
    codes = [s["code"] for s in vm.body["properties"]["instanceView"]["statuses"]]
    assert codes == ["ProvisioningState/failed/AllocationFailed", "PowerState/deallocated"]
    assert azure_cloud.nodes() == []


def test_spot_eviction_and_dead_machines(azure_cloud: AzureCloud, key: pathlib.Path) -> None:
    user = azure_cloud.env["SKYCORE_TEST_NODE_USER"]
    assert create_vm(azure_cloud, key, "keep", PRIORITY="Spot")["state"] == "Succeeded"
    assert create_vm(azure_cloud, key, "gone", PRIORITY="Spot", EVICTION="Delete")["state"]
    keep, gone = azure_cloud.node("keep"), azure_cloud.node("gone")
    assert ssh(key, keep, user, "nohup sleep 300 >/dev/null 2>&1 &").returncode == 0
    assert azure_cloud.evict("keep")["state"] == "deallocated"
    assert ssh(key, keep, user).returncode == 255
    view = azure_cloud.arm("GET", azure_cloud.rg_path("rg1") + "/providers/Microsoft.Compute/"
                           "virtualMachines/keep/instanceView")  # fmt: skip
    assert view.body["statuses"][1]["code"] == "PowerState/deallocated"
    assert azure_cloud.evict("gone")["state"] == "deleted"
    assert not pathlib.Path(gone["dir"]).exists()
    missing = azure_cloud.arm("GET", azure_cloud.rg_path("rg1") + "/providers/Microsoft.Compute/"
                              "virtualMachines/gone")  # fmt: skip
    assert (missing.status, missing.code) == (404, "ResourceNotFound")

    start = azure_cloud.arm("POST", azure_cloud.rg_path("rg1") + "/providers/Microsoft.Compute/"
                            "virtualMachines/keep/start")  # fmt: skip
    assert start.status == 202 and azure_cloud.wait(start).body["status"] == "Succeeded"
    assert azure_cloud.kill_node("keep")["state"] == "dead"
    assert ssh(key, azure_cloud.node("keep"), user).returncode == 255
    view = azure_cloud.arm("GET", azure_cloud.rg_path("rg1") + "/providers/Microsoft.Compute/"
                           "virtualMachines/keep/instanceView")  # fmt: skip
    assert view.body["statuses"][1]["code"] == "PowerState/running"  # ARM does not know


def test_token_endpoint(azure_cloud: AzureCloud) -> None:
    good = azure_cloud.token_request()
    assert good.status == 200
    assert good.body["token_type"] == "Bearer" and good.body["expires_in"] == 3599
    wrong = azure_cloud.token_request(client_secret="not-it")
    assert (wrong.status, wrong.body["error"], wrong.body["error_codes"]) == (
        401, "invalid_client", [7000215])  # fmt: skip
    assert wrong.body["error_description"].startswith("AADSTS7000215: Invalid client secret")
    tenant = azure_cloud.token_request(url=f"{azure_cloud.base}/{'0' * 8}/oauth2/v2.0/token")
    assert (tenant.status, tenant.body["error"], tenant.body["error_codes"]) == (
        400, "invalid_request", [90002])  # fmt: skip
    client = azure_cloud.token_request(client_id="00000000-0000-0000-0000-000000000000")
    assert (client.status, client.body["error"], client.body["error_codes"]) == (
        400, "unauthorized_client", [700016])  # fmt: skip
    scope = azure_cloud.token_request(scope="https://graph.microsoft.com/.default")
    assert scope.status == 400 and scope.body["error"] == "invalid_resource"

    jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    federated = pathlib.Path(azure_cloud.env["SKYCORE_AZURE_FEDERATED_TOKEN_FILE"]).read_text()
    answer = azure_cloud.token_request(client_assertion_type=jwt_bearer, client_assertion=federated)
    assert answer.status == 200, answer
    stranger = federated[:-4] + "AAAA"
    answer = azure_cloud.token_request(client_assertion_type=jwt_bearer, client_assertion=stranger)
    assert answer.status in (400, 401) and answer.body["error"] in (
        "invalid_request",
        "invalid_client",
    )

    for tamper, expected in ((False, 200), (True, 401)):
        assertion = certificate_assertion(azure_cloud, tamper)
        answer = azure_cloud.token_request(
            client_assertion_type=jwt_bearer, client_assertion=assertion
        )
        assert answer.status == expected, answer
    assert answer.body["error_codes"] == [700027]


def certificate_assertion(cloud: AzureCloud, tamper: bool) -> str:
    """An RS256 client assertion signed with the fixture's certificate (as
    MSAL makes it), in the venv where `cryptography` lives."""
    script = textwrap.dedent(
        """
        import base64, json, os, time, uuid
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
        pem = open(os.environ["SKYCORE_AZURE_CLIENT_CERT"], "rb").read()
        key = serialization.load_pem_private_key(pem, None)
        cert = x509.load_pem_x509_certificate(pem[pem.index(b"-----BEGIN CERTIFICATE"):])
        b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        header = {"alg": "RS256", "typ": "JWT", "x5t": b64(cert.fingerprint(hashes.SHA1()))}
        client, now = os.environ["AZURE_CLIENT_ID"], int(time.time())
        claims = {"aud": os.environ["TOKEN_URL"], "iss": client, "sub": client,
                  "jti": str(uuid.uuid4()), "nbf": now, "exp": now + 600}
        signed = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        if os.environ["TAMPER"] == "1":
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        print(signed + "." + b64(signature))
        """
    )
    result = subprocess.run(
        [cloud.python, "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
        env={**cloud.env, "TOKEN_URL": cloud.token_url, "TAMPER": "1" if tamper else "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_arm_authentication(azure_cloud: AzureCloud) -> None:
    path = f"/subscriptions/{azure_cloud.subscription}/resourcegroups"
    assert azure_cloud.arm("GET", path).status == 200
    bogus = azure_cloud.arm("GET", path, token="nope")
    assert (bogus.status, bogus.code) == (401, "InvalidAuthenticationToken")
    assert "invalid_token" in bogus.headers["www-authenticate"]
    azure_cloud.set_token(lifetime_s=1)
    short = azure_cloud.token_request().body
    assert short["expires_in"] == 1
    time.sleep(1.1)
    expired = azure_cloud.arm("GET", path, token=short["access_token"])
    assert (expired.status, expired.code) == (401, "ExpiredAuthenticationToken")
    azure_cloud.set_token(revoke=True)
    revoked = azure_cloud.arm("GET", path)  # the helper's cached token
    assert (revoked.status, revoked.code) == (401, "InvalidAuthenticationToken")
    azure_cloud.reset()
    other = azure_cloud.arm(
        "GET", "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups"
    )
    assert (other.status, other.code) == (404, "SubscriptionNotFound")
    missing = azure_cloud.arm("GET", path, api_version="")
    assert (missing.status, missing.code) == (400, "MissingApiVersionParameter")


def network(cloud: AzureCloud, rg: str) -> dict[str, str]:
    """A resource group with a vnet/subnet, NSG, public IP and NIC, by plain
    REST; their ids."""
    assert cloud.arm("PUT", cloud.rg_path(rg), {"location": LOCATION}).status == 201
    net = cloud.rg_path(rg) + "/providers/Microsoft.Network"
    ids = {}
    bodies = {
        "vnet": ("virtualNetworks/vnet", {"properties": {
            "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
            "subnets": [{"name": "sub", "properties": {"addressPrefix": "10.1.0.0/24"}}]}}),
        "nsg": ("networkSecurityGroups/nsg", {"properties": {}}),
        "ip": ("publicIPAddresses/ip", {"sku": {"name": "Standard"}, "properties": {}}),
    }  # fmt: skip
    for name, (path, body) in bodies.items():
        answer = cloud.arm("PUT", f"{net}/{path}", {"location": LOCATION, **body})
        assert answer.status == 201, answer
        assert answer.body["properties"]["provisioningState"] == "Updating"
        assert cloud.wait(answer).body["status"] == "Succeeded"
        ids[name] = answer.body["id"]
    ids["subnet"] = ids["vnet"] + "/subnets/sub"
    nic = {"location": LOCATION, "properties": {
        "networkSecurityGroup": {"id": ids["nsg"]},
        "ipConfigurations": [{"name": "ipconfig1", "properties": {
            "subnet": {"id": ids["subnet"]}, "publicIPAddress": {"id": ids["ip"]}}}]}}  # fmt: skip
    answer = cloud.arm("PUT", f"{net}/networkInterfaces/nic", nic)
    assert answer.status == 201, answer
    ids["nic"] = answer.body["id"]
    return ids


def vm_body(nic: str, key: pathlib.Path, size: str = SIZE, **props) -> dict:
    admin = "azureuser"
    return {"location": LOCATION, "properties": {
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "o", "sku": "s",
                                              "version": "latest"}},
        "osProfile": {"computerName": "c", "adminUsername": admin, "linuxConfiguration": {
            "ssh": {"publicKeys": [{"path": f"/home/{admin}/.ssh/authorized_keys",
                                    "keyData": key.with_suffix(".pub").read_text().strip()}]}}},
        "networkProfile": {"networkInterfaces": [{"id": nic}]}, **props}}  # fmt: skip


def test_arm_rules_and_faults(azure_cloud: AzureCloud, key: pathlib.Path) -> None:
    ids = network(azure_cloud, "Rg2")
    vms = azure_cloud.rg_path("rg2") + "/providers/microsoft.compute/VIRTUALMACHINES"
    # An unknown size, or one the catalog lacks in the region: SkuNotAvailable.
    bad = azure_cloud.arm("PUT", f"{vms}/a", vm_body(ids["nic"], key, "Standard_Nope_v9"))
    assert (bad.status, bad.code) == (409, "SkuNotAvailable")
    azure_cloud.fault("QuotaExceeded", type="virtualMachines", method="PUT")
    quota = azure_cloud.arm("PUT", f"{vms}/a", vm_body(ids["nic"], key))
    assert (quota.status, quota.code) == (409, "QuotaExceeded")
    assert "exceeding approved standardDSv5Family Cores quota" in quota.body["error"]["message"]
    azure_cloud.fault("TooManyRequests", type="virtualMachines", method="PUT", retry_after="7")
    throttled = azure_cloud.arm("PUT", f"{vms}/a", vm_body(ids["nic"], key))
    assert (throttled.status, throttled.headers["retry-after"]) == (429, "7")

    made = azure_cloud.arm("PUT", f"{vms}/a", vm_body(ids["nic"], key))
    assert made.status == 201 and "azure-asyncoperation" in made.headers
    # Paths are case-insensitive; ids keep the case they were created with.
    assert made.body["id"].endswith(
        "/resourceGroups/Rg2/providers/Microsoft.Compute/virtualMachines/a"
    )
    assert azure_cloud.wait(made).body["status"] == "Succeeded"
    nic_delete = azure_cloud.arm("DELETE", ids["nic"])
    assert (nic_delete.status, nic_delete.code) == (400, "NicInUse")
    ip_delete = azure_cloud.arm("DELETE", ids["ip"])
    assert (ip_delete.status, ip_delete.code) == (400, "PublicIPAddressInUse")
    dangling = {"name": "c", "properties": {"subnet": {"id": ids["subnet"] + "x"}}}
    nic2 = azure_cloud.arm(
        "PUT",
        ids["nic"] + "x",
        {"location": LOCATION, "properties": {"ipConfigurations": [dangling]}},
    )
    assert (nic2.status, nic2.code) == (400, "InvalidResourceReference")

    deleted = azure_cloud.arm("DELETE", made.body["id"])
    assert deleted.status == 202 and {"azure-asyncoperation", "location"} <= set(deleted.headers)
    assert azure_cloud.wait(deleted).body["status"] == "Succeeded"
    done = azure_cloud.arm("GET", deleted.headers["location"])
    assert done.status == 200
    for name in ("nic", "ip"):
        answer = azure_cloud.arm("DELETE", ids[name])
        assert answer.status == 202, answer
        assert azure_cloud.wait(answer).body["status"] == "Succeeded"

    # Paging: nextLink while more remain.
    azure_cloud.configure(page_size=2)
    listed = azure_cloud.arm("GET", azure_cloud.rg_path("rg2") + "/resources")
    names = [r["name"] for r in listed.body["value"]]
    assert len(names) == 2 and listed.body["nextLink"]
    names += [r["name"] for r in azure_cloud.arm("GET", listed.body["nextLink"]).body["value"]]
    # The OS disk outlives its VM (deleteOption Detach, Azure's default): a leak to clean.
    disk, *rest = sorted(names)
    assert disk.startswith("a_OsDisk_1_") and rest == ["nsg", "vnet"]

    gone = azure_cloud.arm("DELETE", azure_cloud.rg_path("RG2"))
    assert gone.status == 202 and "location" in gone.headers
    assert azure_cloud.wait(gone).status == 200
    assert azure_cloud.resources() == []
    assert azure_cloud.count(method="DELETE", type="resourceGroups") == 1


def test_custom_data_is_base64(azure_cloud: AzureCloud, key: pathlib.Path) -> None:
    ids = network(azure_cloud, "rg3")
    body = vm_body(ids["nic"], key)
    body["properties"]["osProfile"]["customData"] = "not base64!"
    path = azure_cloud.rg_path("rg3") + "/providers/Microsoft.Compute/virtualMachines/b"
    answer = azure_cloud.arm("PUT", path, body)
    assert (answer.status, answer.code) == (400, "InvalidParameter")
    body["properties"]["osProfile"]["customData"] = base64.b64encode(b"#!/bin/sh\n").decode()
    body["properties"]["osProfile"]["adminUsername"] = "root"
    answer = azure_cloud.arm("PUT", path, body)
    assert (answer.status, answer.code) == (400, "InvalidParameter")  # a reserved name
