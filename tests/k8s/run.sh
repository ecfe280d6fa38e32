#!/usr/bin/env bash
# End-to-end tests of the Kubernetes test fixture (tests/fixtures/kubernetes,
# scripts/k8s-test-cluster): builds it if needed, starts a cluster with a
# second API server, checks scheduling, logs, exec (websocket and SPDY),
# GPU capacity and taints, RBAC, watches, port-forward, LoadBalancer
# Services, controllers, scale mode with 7,500 nodes, and that `down` leaves
# no process behind.
#
#   bash tests/k8s/run.sh            # all tests
#   K8S_TEST_SCALE=0 bash tests/k8s/run.sh   # skip the scale test
#
# Ends with "N passed, N failed"; exits non-zero if any test failed.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cluster="$repo/scripts/k8s-test-cluster"
export SKYCORE_K8S_ROOT="${SKYCORE_K8S_ROOT_TEST:-$repo/.cache/k8s-test-run}"
scale_nodes="${K8S_TEST_SCALE:-7500}"
work="$(mktemp -d)"
passed=0 failed=0 failures=()
started_cluster=0
bg_pids=()

cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
  if [[ $started_cluster == 1 ]]; then "$cluster" down >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT

note() { echo "    $*"; }
fail() { echo "    FAIL: $*"; return 1; }

run_test() {
  local name="$1"; shift
  local t0=$SECONDS
  echo "--- $name"
  if "$@"; then
    passed=$((passed + 1)); echo "PASS $name ($((SECONDS - t0))s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name ($((SECONDS - t0))s)"
  fi
}

# No kubectl call may hang the suite: every one is bounded, also inside
# the `bash -c` snippets below.
kubectl() { timeout 120 "$SKYCORE_K8S_ROOT/bin/kubectl" "$@"; }
export -f kubectl
k() { kubectl "$@"; }

# until_true SECONDS CMD...: poll CMD until it succeeds or time runs out.
until_true() {
  local secs="$1"; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.3
  done
}

pod_phase_is() { [[ "$(k get pod "$1" -n "${3:-default}" -o jsonpath='{.status.phase}')" == "$2" ]]; }
pod_gone() { ! k get pod "$1" -n "${2:-default}" >/dev/null 2>&1; }

# ------------------------------------------------------------------ tests

test_unit() {
  local env=(GOMODCACHE="${SKYCORE_CACHE_DIR:-$HOME/.cache/skycore}/k8s/go/mod"
    GOCACHE="${SKYCORE_CACHE_DIR:-$HOME/.cache/skycore}/k8s/go/build"
    CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -mod=readonly")
  (cd "$repo/tests/fixtures/kubernetes" && env "${env[@]}" nice -n 19 go test -p 2 -trimpath ./internal/...)
}

test_up() {
  local t0=$SECONDS out
  out="$("$cluster" up --second-cluster 2>"$work/up.err")" || { tail -n 40 "$work/up.err"; return 1; }
  started_cluster=1
  note "$(grep 'ready in' "$work/up.err")"
  note "up took $((SECONDS - t0))s in all"
  [[ "$out" == "$SKYCORE_K8S_ROOT/kubeconfig" && -s "$out" ]] || fail "up printed '$out'" || return 1
  eval "$("$cluster" env)"
  "$cluster" status | sed 's/^/    /'
}

test_version() {
  local v
  v="$(k version -o json)" || return 1
  grep -q '"gitVersion": "v1.37.2"' <<<"$v" || fail "server version: $v"
}

test_nodes_and_labels() {
  local n
  n="$(k get nodes -l skycore.dev/node-group --no-headers | grep -c ' Ready ')"
  [[ "$n" == 3 ]] || fail "want 3 Ready nodes, got $n" || return 1
  [[ "$(k get node skycore-h100-0 -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')" == 8 ]] || fail "gpu allocatable" || return 1
  [[ "$(k get node skycore-h100-0 -o jsonpath='{.metadata.labels.skypilot\.co/accelerator}')" == h100 ]] || fail "skypilot label" || return 1
  [[ "$(k get node skycore-h100-0 -o jsonpath='{.metadata.labels.cloud\.google\.com/gke-accelerator}')" == nvidia-h100-80gb ]] || fail "gke label" || return 1
  [[ "$(k get node skycore-h100-0 -o jsonpath='{.spec.taints[*].key}')" == nvidia.com/gpu ]] || fail "gpu taint" || return 1
  [[ -z "$(k get node skycore-cpu-0 -o jsonpath='{.spec.taints}')" ]] || fail "cpu node tainted"
}

test_pod_lifecycle() {
  k run hi --image=busybox:1.36 --restart=Never --command -- sh -c 'echo hi; sleep 30' >/dev/null || return 1
  until_true 30 pod_phase_is hi Running || fail "pod not Running: $(k get pod hi -o wide)" || return 1
  local sched
  sched="$(k get events --field-selector involvedObject.name=hi,reason=Scheduled -o jsonpath='{.items[*].source.component}{.items[*].reportingComponent}')"
  [[ "$sched" == *default-scheduler* ]] || fail "not scheduled by default-scheduler: '$sched'" || return 1
  [[ -n "$(k get pod hi -o jsonpath='{.spec.nodeName}')" ]] || fail "no nodeName" || return 1
  until_true 10 bash -c '[[ "$(kubectl logs hi)" == hi ]]' || fail "logs: '$(k logs hi 2>&1)'" || return 1
  local out rc
  out="$(k exec hi -- sh -c 'echo from-exec; exit 3' 2>/dev/null)"; rc=$?
  [[ "$out" == from-exec && $rc == 3 ]] || fail "exec gave '$out' rc=$rc" || return 1
  local id pid
  id="$(k get pod hi -o jsonpath='{.status.containerStatuses[0].containerID}')"
  pid="${id#skyproc://}"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || fail "container process '$id' not running" || return 1
  grep -q 'sleep 30' "/proc/$pid/cmdline" || fail "pid $pid is not the pod's process" || return 1
  local t0=$SECONDS
  k delete pod hi --wait=true --timeout=60s >/dev/null || fail "delete failed" || return 1
  note "delete took $((SECONDS - t0))s"
  until_true 10 bash -c "! kill -0 $pid" || fail "process $pid survived the pod" || return 1
  ((SECONDS - t0 < 15)) || fail "delete waited out the grace period"
}

test_exec_protocols() {
  k run ex --image=busybox --restart=Never --command -- sleep 300 >/dev/null || return 1
  until_true 30 pod_phase_is ex Running || return 1
  local out rc
  out="$(KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true k exec ex -- sh -c 'echo ws; exit 4' 2>/dev/null)"; rc=$?
  [[ "$out" == ws && $rc == 4 ]] || fail "websocket exec: '$out' rc=$rc" || return 1
  out="$(KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false k exec ex -- sh -c 'echo spdy; exit 5' 2>/dev/null)"; rc=$?
  [[ "$out" == spdy && $rc == 5 ]] || fail "spdy exec: '$out' rc=$rc" || return 1
  out="$(echo piped-in | k exec -i ex -- cat)"
  [[ "$out" == piped-in ]] || fail "stdin: '$out'" || return 1
  out="$(echo piped-in | KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false k exec -i ex -- cat)"
  [[ "$out" == piped-in ]] || fail "stdin over spdy: '$out'" || return 1
  if command -v script >/dev/null; then
    # kubectl needs the pseudo-terminal in the foreground: no timeout(1) inside.
    out="$(timeout 60 script -qec "$SKYCORE_K8S_ROOT/bin/kubectl exec -it ex -- sh -c 'tty; test -t 0 && echo interactive'" /dev/null </dev/null | tr -d '\r\000')"
    [[ "$out" == */dev/pts/* && "$out" == *interactive* ]] || fail "tty: '$out'" || return 1
  else
    note "util-linux script(1) missing: TTY exec not checked"
  fi
  out="$(k exec ex -- no-such-binary 2>&1)"; rc=$?
  [[ $rc != 0 ]] || fail "missing binary exec succeeded"
  k delete pod ex --wait=false >/dev/null
}

test_logs_tail_follow() {
  k run lg --image=busybox --restart=Never --command -- sh -c 'for i in 1 2 3 4 5; do echo line$i; done; sleep 2; echo last' >/dev/null || return 1
  until_true 30 bash -c '[[ "$(kubectl logs lg 2>/dev/null | head -n1)" == line1 ]]' || fail "no logs" || return 1
  local out
  out="$(k logs lg --tail=2)"
  [[ "$out" == $'line4\nline5' || "$out" == $'line5\nlast' ]] || fail "tail: '$out'" || return 1
  out="$(kubectl logs -f lg --request-timeout=30s)"
  [[ "$out" == *line1*last ]] || fail "follow: '$out'" || return 1
  until_true 30 pod_phase_is lg Succeeded || fail "phase $(k get pod lg -o jsonpath='{.status.phase}')" || return 1
  out="$(k logs lg --timestamps | tail -n1)"
  [[ "$out" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z\ last$ ]] || fail "timestamps: '$out'" || return 1
  [[ "$(k get pod lg -o jsonpath='{.status.containerStatuses[0].state.terminated.reason}')" == Completed ]] || fail "reason" || return 1
  k run bad --image=busybox --restart=Never --command -- sh -c 'exit 42' >/dev/null
  until_true 30 pod_phase_is bad Failed || fail "exit 42 pod not Failed" || return 1
  [[ "$(k get pod bad -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')" == 42 ]] || fail "exit code"
  k delete pod lg bad --wait=false >/dev/null
}

gpu_pod() {  # gpu_pod NAME GPUS TOLERATE [NODE]
  local tol="" sel=""
  [[ "$3" == yes ]] && tol='"tolerations":[{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}],'
  [[ -n "${4:-}" ]] && sel="\"nodeSelector\":{\"kubernetes.io/hostname\":\"$4\"},"
  local res=""
  [[ "$2" != 0 ]] && res="\"resources\":{\"limits\":{\"nvidia.com/gpu\":\"$2\"}},"
  k apply -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"},
 "spec":{${tol}${sel}"restartPolicy":"Never","containers":[{"name":"main","image":"cuda:12",${res}"command":["sleep","300"]}]}}
EOF
}

failed_scheduling_msg() {
  k get events --field-selector "involvedObject.name=$1,reason=FailedScheduling" -o jsonpath='{.items[*].message}'
}

test_gpu_scheduling() {
  gpu_pod too-many 16 yes || return 1
  until_true 30 bash -c "[[ -n \"\$(kubectl get events --field-selector involvedObject.name=too-many,reason=FailedScheduling -o name)\" ]]" \
    || fail "no FailedScheduling event" || return 1
  local msg; msg="$(failed_scheduling_msg too-many)"
  note "event: $msg"
  [[ "$msg" == *"Insufficient nvidia.com/gpu"* ]] || fail "message: $msg" || return 1
  sleep 2
  pod_phase_is too-many Pending || fail "too-many is not Pending" || return 1
  [[ -z "$(k get pod too-many -o jsonpath='{.spec.nodeName}')" ]] || fail "too-many was bound" || return 1

  # Without the toleration a pod never lands on a GPU node...
  gpu_pod pinned 0 no skycore-h100-0 || return 1
  until_true 30 bash -c "[[ -n \"\$(kubectl get events --field-selector involvedObject.name=pinned,reason=FailedScheduling -o name)\" ]]" \
    || fail "no FailedScheduling for the untolerated pod" || return 1
  msg="$(failed_scheduling_msg pinned)"
  [[ "$msg" == *"untolerated taint"* ]] || fail "message: $msg" || return 1
  [[ -z "$(k get pod pinned -o jsonpath='{.spec.nodeName}')" ]] || fail "untolerated pod was bound" || return 1
  local i node
  for i in 1 2 3 4; do gpu_pod plain$i 0 no || return 1; done
  for i in 1 2 3 4; do
    until_true 30 pod_phase_is plain$i Running || fail "plain$i not Running" || return 1
    node="$(k get pod plain$i -o jsonpath='{.spec.nodeName}')"
    [[ "$node" == skycore-cpu-0 ]] || fail "plain$i landed on $node" || return 1
  done
  # ...and with it and a GPU request it does.
  gpu_pod fits 8 yes || return 1
  until_true 30 pod_phase_is fits Running || fail "8-GPU pod not Running" || return 1
  node="$(k get pod fits -o jsonpath='{.spec.nodeName}')"
  [[ "$node" == skycore-h100-* ]] || fail "8-GPU pod on $node"
  k delete pod too-many pinned plain1 plain2 plain3 plain4 fits --wait=false >/dev/null
}

test_restricted_user() {
  local ctx=(--context skycore-restricted) out
  out="$(k "${ctx[@]}" get pods -n default 2>&1)" && fail "restricted user listed pods in default" && return 1
  [[ "$out" == *Forbidden*skycore-restricted* ]] || fail "not forbidden: $out" || return 1
  out="$(k "${ctx[@]}" get --raw /api/v1/namespaces/default/pods -v=6 2>&1)"
  [[ "$out" == *"403 Forbidden"* ]] || fail "no HTTP 403: $(tail -n3 <<<"$out")" || return 1
  out="$(k "${ctx[@]}" get nodes 2>&1)" && fail "restricted user listed nodes" && return 1
  k "${ctx[@]}" run mine --image=busybox --restart=Never --command -- sh -c 'echo in-my-ns; sleep 60' >/dev/null \
    || fail "cannot create a pod in its namespace" || return 1
  until_true 30 pod_phase_is mine Running skycore-restricted || fail "own pod not Running" || return 1
  until_true 10 bash -c '[[ "$(kubectl --context skycore-restricted logs mine)" == in-my-ns ]]' || fail "own logs" || return 1
  out="$(k "${ctx[@]}" exec mine -- echo ok)"
  [[ "$out" == ok ]] || fail "own exec: $out" || return 1
  k "${ctx[@]}" delete pod mine --wait=false >/dev/null
}

test_watch_order() {
  local rv
  rv="$(k get pods -n default -o jsonpath='{.metadata.resourceVersion}')" || return 1
  timeout 90 "$SKYCORE_K8S_ROOT/bin/kubectl" get --raw "/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dwatched&resourceVersion=$rv" \
    >"$work/watch.json" 2>"$work/watch.err" &
  local wpid=$!
  bg_pids+=("$wpid")
  k run watched --image=busybox --restart=Never --command -- sleep 300 >/dev/null || return 1
  until_true 30 pod_phase_is watched Running || return 1
  k delete pod watched --wait=true --timeout=60s >/dev/null || return 1
  until_true 20 grep -q '"type":"DELETED"' "$work/watch.json" || fail "no DELETED event: $(cut -c1-80 "$work/watch.json")" || return 1
  kill "$wpid" 2>/dev/null
  local types
  types="$(grep -o '^{"type":"[A-Z]*"' "$work/watch.json" | cut -d'"' -f4 | uniq | tr '\n' ' ')"
  note "events: $types"
  [[ "$types" == "ADDED MODIFIED DELETED " ]] || fail "event order: $types" || return 1
  grep -q '"phase":"Running"' "$work/watch.json" || fail "no Running in MODIFIED events"
}

test_port_forward() {
  command -v python3 >/dev/null || { note "python3 missing: skipped"; return 0; }
  local port; port="$("$(cat "$SKYCORE_K8S_ROOT/bin.path")" free-ports 2 | tr '\n' ' ')"
  local pod_port="${port%% *}" local_port; local_port="$(cut -d' ' -f2 <<<"$port")"
  k run web --image=python:3 --restart=Never --command -- sh -c "echo served-by-pod > index.html; exec python3 -m http.server $pod_port" >/dev/null || return 1
  until_true 30 pod_phase_is web Running || return 1
  # The pod is Running before its server listens; a connection refused then
  # ends kubectl's port-forward ("lost connection to pod"), so start it again.
  local pf="" body=""
  local deadline=$((SECONDS + 45))
  while ((SECONDS < deadline)); do
    if [[ -z "$pf" ]] || ! kill -0 "$pf" 2>/dev/null; then
      timeout 60 "$SKYCORE_K8S_ROOT/bin/kubectl" port-forward pod/web "$local_port:$pod_port" >>"$work/pf.log" 2>&1 &
      pf=$!
      bg_pids+=("$pf")
      sleep 0.5
    fi
    body="$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$local_port/index.html', timeout=3).read().decode().strip())" 2>/dev/null)" && break
    sleep 0.5
  done
  kill "$pf" 2>/dev/null
  k delete pod web --wait=false >/dev/null
  [[ "$body" == served-by-pod ]] || fail "port-forward got '$body': $(cat "$work/pf.log")"
}

# A LoadBalancer Service gets a 127.0.20.x address from the fixture's load
# balancer, which forwards to the pod; the listener closes with the Service.
test_load_balancer() {
  command -v python3 >/dev/null || { note "python3 missing: skipped"; return 0; }
  local port; port="$("$(cat "$SKYCORE_K8S_ROOT/bin.path")" free-ports 1)"
  # Pods share this machine's network: the server binds its pod IP (its
  # node's address), as 0.0.0.0 would take the port on the load balancer's
  # address too. The pod is placed on a known node to know that address.
  local node node_ip
  node="$(k get nodes -l 'skycore.dev/node-group,!nvidia.com/gpu.count' -o jsonpath='{.items[0].metadata.name}')" || return 1
  node_ip="$(k get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')" || return 1
  k run lbweb --image=python:3 --restart=Never --labels=app=lbweb \
    --overrides="{\"apiVersion\": \"v1\", \"spec\": {\"nodeName\": \"$node\"}}" --command -- \
    sh -c "echo served-through-lb > index.html; exec python3 -m http.server $port --bind $node_ip" >/dev/null || return 1
  k expose pod lbweb --type=LoadBalancer --port="$port" --name=lbweb >/dev/null || return 1
  local ip=""
  until_true 30 bash -c "[[ -n \"\$(kubectl get service lbweb -o jsonpath='{.status.loadBalancer.ingress[0].ip}')\" ]]" \
    || fail "no load-balancer address" || return 1
  ip="$(k get service lbweb -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
  [[ "$ip" == 127.0.20.* ]] || fail "load-balancer address $ip is not in 127.0.20.x" || return 1
  local body="" deadline=$((SECONDS + 45))
  while ((SECONDS < deadline)); do
    body="$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://$ip:$port/index.html', timeout=3).read().decode().strip())" 2>/dev/null)" && break
    sleep 0.5
  done
  [[ "$body" == served-through-lb ]] || fail "through $ip:$port got '$body'" || return 1
  k delete service lbweb >/dev/null || return 1
  until_true 15 bash -c "! python3 -c 'import socket; socket.create_connection((\"$ip\", $port), timeout=1)'" \
    || fail "$ip:$port still accepts connections after the service was deleted" || return 1
  k delete pod lbweb --wait=false >/dev/null
}

test_controllers() {
  k create job once --image=busybox -- sh -c 'echo job-done' >/dev/null || return 1
  until_true 60 bash -c '[[ "$(kubectl get job once -o jsonpath="{.status.succeeded}")" == 1 ]]' || fail "job did not complete" || return 1
  [[ "$(k logs job/once)" == job-done ]] || fail "job logs" || return 1
  k create namespace tmp-ns >/dev/null || return 1
  until_true 30 k -n tmp-ns get serviceaccount default || fail "no default service account in a new namespace" || return 1
  k delete namespace tmp-ns --wait=true --timeout=60s >/dev/null || fail "namespace deletion hung" || return 1
  k delete job once --wait=false >/dev/null
}

test_second_context() {
  local nodes
  nodes="$(k --context skycore-b get nodes -o jsonpath='{.items[*].metadata.name}')" || return 1
  [[ "$nodes" == skycore-b-cpu-0 ]] || fail "cluster b nodes: $nodes" || return 1
  k --context skycore-b run other --image=busybox --restart=Never --command -- sh -c 'echo cluster-b; sleep 60' >/dev/null || return 1
  until_true 30 bash -c '[[ "$(kubectl --context skycore-b get pod other -o jsonpath="{.status.phase}")" == Running ]]' \
    || fail "pod on cluster b not Running" || return 1
  [[ "$(k --context skycore-b logs other)" == cluster-b ]] || fail "cluster b logs" || return 1
  ! k --context skycore get pod other >/dev/null 2>&1 || fail "cluster b pod visible in cluster a" || return 1
  k --context skycore-b delete pod other --wait=false >/dev/null
}

test_scale() {
  local t0=$SECONDS
  "$cluster" scale "$scale_nodes" 2>&1 | sed 's/^/    /' || return 1
  note "registered in $((SECONDS - t0))s"
  t0=$SECONDS
  local n
  n="$(k get nodes --no-headers | wc -l)"
  note "kubectl get nodes listed $n nodes in $((SECONDS - t0))s"
  [[ "$n" == $((scale_nodes + 3)) ]] || fail "want $((scale_nodes + 3)) nodes, got $n" || return 1
  n="$(k get nodes -l skypilot.co/accelerator=h100,skycore.dev/scale-node --no-headers | wc -l)"
  [[ "$n" -gt 0 ]] || fail "no H100 scale nodes" || return 1
  "$cluster" status | sed 's/^/    /'
}

test_down_leaves_nothing() {
  local pids=() f
  for f in "$SKYCORE_K8S_ROOT"/pids/*.pid; do pids+=("$(cat "$f")"); done
  for f in "$SKYCORE_K8S_ROOT"/nodes*/*/pods/*/pids; do [[ -f "$f" ]] && pids+=($(cat "$f")); done
  ((${#pids[@]} >= 10)) || fail "expected at least 10 recorded processes, got ${#pids[@]}" || return 1
  "$cluster" down 2>/dev/null || return 1
  started_cluster=0
  local p left=()
  for p in "${pids[@]}"; do
    [[ -d /proc/$p ]] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && left+=("$p")
  done
  ((${#left[@]} == 0)) || fail "still running after down: ${left[*]}" || return 1
  "$cluster" status >/dev/null 2>&1 && fail "status says running after down"
  return 0
}

# ------------------------------------------------------------------ main

command -v go >/dev/null || { echo "tests/k8s: go is required"; exit 1; }
command -v openssl >/dev/null || { echo "tests/k8s: openssl is required"; exit 1; }
"$cluster" down >/dev/null 2>&1

run_test unit test_unit
run_test up test_up
if [[ $started_cluster == 1 ]]; then
  run_test version test_version
  run_test nodes_and_labels test_nodes_and_labels
  run_test pod_lifecycle test_pod_lifecycle
  run_test exec_protocols test_exec_protocols
  run_test logs_tail_follow test_logs_tail_follow
  run_test gpu_scheduling test_gpu_scheduling
  run_test restricted_user test_restricted_user
  run_test watch_order test_watch_order
  run_test port_forward test_port_forward
  run_test load_balancer test_load_balancer
  run_test controllers test_controllers
  run_test second_context test_second_context
  if [[ "$scale_nodes" -gt 0 ]]; then run_test scale test_scale; fi
  run_test down_leaves_nothing test_down_leaves_nothing
fi

((failed == 0)) || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
((failed == 0))
