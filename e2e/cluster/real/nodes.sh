# shellcheck shell=bash disable=SC2153  # CLUSTER_DIR, RUN_DIR, ... come from lib.sh
# Real mode of the local cluster: three real nodes (kubelet + its own containerd each), one
# kube-proxy and one kube-network-policies, all in the host's network namespace. Sourced by
# `up` (after lib.sh, pki.sh and up's own start/fail_component helpers), `down` and
# `load-images`; see README.md "Real mode" for the design.

TIERS=(frontend backend database)
HOST_IFACE=ovuhost0              # empty bridge holding the API server's and the nodes' addresses
NODES_DIR="$RUN_DIR/nodes"
REPO_DIR=$(cd "$CLUSTER_DIR/../.." && pwd)
IMAGES_OCI="$REPO_DIR/images/_build/oci"
CLUSTER_DNS=198.18.128.10
CLUSTER_DOMAIN=cluster.local
# cgroup v1 controllers a kubelet with the cgroupfs driver creates its hierarchy in.
CGROUP_CONTROLLERS=(blkio cpu cpuacct cpuset devices freezer hugetlb memory net_cls net_prio perf_event pids systemd)
# The images every node needs before pods can start: the sandbox and the add-ons.
NODE_IMAGES=(pause coredns local-path kube-network-policies)

# tier_index TIER: 1, 2 or 3 (the node's address 198.18.0.1N and pod subnet 198.19.N.0/24).
tier_index() {
  local i
  for i in "${!TIERS[@]}"; do [[ ${TIERS[$i]} == "$1" ]] && { echo $((i + 1)); return; }; done
  return 1
}
node_ip() { echo "198.18.0.1$(tier_index "$1")"; }
pod_subnet() { echo "198.19.$(tier_index "$1").0/24"; }
pod_bridge() { echo "ovubr$(tier_index "$1")"; }
node_sock() { echo "$NODES_DIR/$1/containerd/containerd.sock"; }
kubelet_healthz_port() { echo "1035$(tier_index "$1")"; }
nctr() { local tier=$1; shift; ctr -a "$(node_sock "$tier")" -n k8s.io "$@"; }

# real_host_network: the host side shared by all nodes. Addresses on an empty bridge because
# this kernel has no dummy driver; all are /32 local addresses, so pods reach them through
# their gateway (their node's pod bridge) and the host reaches them as its own.
real_host_network() {
  local tier
  for tool in containerd containerd-shim-runc-v2 runc ctr iptables; do
    command -v "$tool" >/dev/null || die "$tool is missing; run scripts/deps.sh (Debian packages containerd, runc, iptables, containernetworking-plugins)"
  done
  for p in bridge host-local portmap loopback; do
    [[ -x /usr/lib/cni/$p ]] || die "/usr/lib/cni/$p is missing; run scripts/deps.sh (containernetworking-plugins)"
  done
  [[ -d /sys/fs/cgroup/cpuset ]] || die "no cgroup v1 cpuset hierarchy in /sys/fs/cgroup (this real mode is written for cgroup v1 with the cgroupfs driver)"
  sysctl -qw net.ipv4.ip_forward=1
  # kube-proxy turns route_localnet on (NodePorts on 127.0.0.1); down puts back what was here.
  [[ -s $RUN_DIR/route_localnet.orig ]] || sysctl -n net.ipv4.conf.all.route_localnet >"$RUN_DIR/route_localnet.orig"
  # Pod-to-Service traffic between two pods on one bridge must pass iptables (kube-proxy's DNAT).
  modprobe br_netfilter 2>/dev/null || true
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
  ip link show "$HOST_IFACE" >/dev/null 2>&1 || ip link add "$HOST_IFACE" type bridge
  ip addr replace "$REAL_APISERVER_HOST/32" dev "$HOST_IFACE"
  for tier in "${TIERS[@]}"; do ip addr replace "$(node_ip "$tier")/32" dev "$HOST_IFACE"; done
  ip link set "$HOST_IFACE" up
}

# write_if_changed FILE: stdin into FILE unless FILE already holds exactly that.
write_if_changed() {
  local new
  new=$(cat)
  [[ -f $1 && $(<"$1") == "$new" ]] || printf '%s\n' "$new" >"$1"
}

# node_files TIER: certificates, kubeconfig, containerd, CNI and kubelet configuration.
node_files() {
  local tier=$1 node="ovu-$1" d="$NODES_DIR/$1" ip
  ip=$(node_ip "$tier")
  mkdir -p "$d"/{containerd,containerd/certs.d,cni,cni-ipam,kubelet,pod-logs,plugins}
  new_cert "node-$node" "system:node:$node" system:nodes
  new_cert "node-$node-serving" "system:node:$node" system:nodes "DNS:$node,IP:$ip"
  write_kubeconfig "$d/kubelet.kubeconfig" "node-$node" "system:node:$node"
  # One bridge per node with its /24; host-local hands out the addresses. No masquerade: pod
  # traffic never leaves this machine, and pods see each other's real addresses.
  cat >"$d/cni/10-ovu.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "ovu-$tier", "plugins": [
  {"type": "bridge", "bridge": "$(pod_bridge "$tier")", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$(pod_subnet "$tier")"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$d/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
JSON
  cat >"$d/containerd/config.toml" <<TOML
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
[grpc]
  address = "$d/containerd/containerd.sock"
[ttrpc]
  address = "$d/containerd/containerd.sock.ttrpc"
[debug]
  address = "$d/containerd/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/ovu/pause:3.10"
  # The kubelet asks for oom_score_adj -998 (sandboxes) and below containerd's own; this
  # machine may not lower it (runc: "failed to update /proc/self/oom_score_adj: Permission
  # denied"), so containerd clamps to its own value.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Registries' hosts.toml files (CA, credentials, mirrors), read at each pull: e2e/run-release
  # adds its test registry's here without restarting containerd. Empty for make up, whose
  # images are imported (load-images) and never pulled.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$d/containerd/certs.d"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    SystemdCgroup = false
TOML
  cat >"$d/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1; kubelet 1.35+ refuses it unless told not to.
failCgroupV1: false
cgroupDriver: cgroupfs
# Each node its own cgroup root, so three kubelets never manage the same pods' cgroups.
cgroupRoot: /$node
address: $ip
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: $(kubelet_healthz_port "$tier")
readOnlyPort: 0
containerRuntimeEndpoint: unix://$d/containerd/containerd.sock
podLogsDir: $d/pod-logs
volumePluginDir: $d/plugins
tlsCertFile: $PKI_DIR/node-$node-serving.crt
tlsPrivateKeyFile: $PKI_DIR/node-$node-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI_DIR/ca.crt}
authorization: {mode: Webhook}
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$CLUSTER_DNS]
failSwapOn: false
resolvConf: /etc/resolv.conf
# NodeRestriction lets a kubelet register with taints and with labels outside
# kubernetes.io/k8s.io (--node-labels).
registerWithTaints:
- {key: ovu.co.il/tier, value: $tier, effect: NoSchedule}
# Three kubelets share one disk and one memory with everything else on the machine: evict
# only when really short. Absolute figures, not percentages: 2% of a 252 GB disk is 5 GB,
# which a machine that also holds the build can reach while it still has room to spare.
evictionHard: {memory.available: 100Mi, nodefs.available: 1Gi, imagefs.available: 1Gi}
# No image garbage collection (100 turns it off): the images are imported, never pulled, so
# an image the kubelet deletes from a full disk (say local-path's helper on a node where no
# pod runs it at that moment) is gone for good, and every pod that needs it then waits
# forever (ErrImageNeverPull).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 95
# The pods' images are imported, never pulled; no serialized pulls queueing behind each other.
serializeImagePulls: false
YAML
}

# node_cgroups TIER: the cgroup root in every v1 hierarchy. A new v1 cpuset may start with no
# CPUs and no memory nodes (cgroup.clone_children=0), and then no process can join it: give
# it the parent's.
node_cgroups() {
  local node="ovu-$1" c
  for c in "${CGROUP_CONTROLLERS[@]}"; do
    [[ -d /sys/fs/cgroup/$c ]] && mkdir -p "/sys/fs/cgroup/$c/$node"
  done
  [[ -s /sys/fs/cgroup/cpuset/$node/cpuset.cpus ]] || cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$node/cpuset.cpus"
  [[ -s /sys/fs/cgroup/cpuset/$node/cpuset.mems ]] || cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$node/cpuset.mems"
}

# ctr waits 10 s for a socket that is not there; this check runs before every start.
containerd_healthy() { [[ -S $(node_sock "$1") ]] && ctr --connect-timeout 2s -a "$(node_sock "$1")" version; }
kubelet_healthy() { curl -fsS "http://127.0.0.1:$(kubelet_healthz_port "$1")/healthz"; }

# archive_digest ARCHIVE: the manifest digest an OCI archive from images/build holds.
archive_digest() { tar -xOf "$1" index.json | jq -r '.manifests[0].digest'; }
archive_ref() { tar -xOf "$1" index.json | jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]'; }

# import_images TIER ARCHIVE...: imports each archive unless the node's containerd already
# holds its image with the same digest. An archive's name and digest are read once (its
# index.json sits behind the layers, so tar reads the whole file) and kept for the next node.
declare -A ARCHIVE_INFO=()
import_images() {
  local tier=$1 a ref digest have
  shift
  for a in "$@"; do
    [[ -s $a ]] || die "image archive $a is missing (images/build)"
    if [[ -z ${ARCHIVE_INFO[$a]:-} ]]; then
      ARCHIVE_INFO[$a]="$(archive_ref "$a") $(archive_digest "$a")"
    fi
    read -r ref digest <<<"${ARCHIVE_INFO[$a]}"
    [[ -n $ref && $ref != null ]] || die "$a names no image (not an images/build archive?)"
    # docker.io/ovu/x:1 in the archive; containerd lists it under that full name.
    have=$(nctr "$tier" images ls "name==$ref" 2>/dev/null | awk 'NR > 1 { print $3 }')
    if [[ $have == "$digest" ]]; then
      continue
    fi
    nctr "$tier" images import "$a" >/dev/null || die "importing $a into ovu-$tier's containerd failed"
    log "ovu-$tier: imported $ref"
  done
}

# netns_dir_shared: /run/netns made its own shared mount, as `ip netns add` makes it the first
# time it runs, before any node's containerd puts a pod's network namespace there. Otherwise
# the first `ip netns add` after the pods started (the offsite and ACME tests make namespaces
# of their own) bind-mounts /run/netns over itself: every pod namespace mounted until then is
# left on the directory underneath, where containerd's unmount (through the path, which now
# leads into the bind mount) cannot reach it — "unlinkat /run/netns/cni-…: device or resource
# busy" on every teardown, pods stuck Terminating, a StatefulSet unable to start its pod again.
# Asked of the kernel rather than of mountpoint(1), which goes by the path's text in the mount
# table and so can be fooled by a mount the path no longer leads to.
netns_dir_shared() {
  mkdir -p /run/netns
  mount --make-shared /run/netns 2>/dev/null && return 0
  if ! mount --bind /run/netns /run/netns || ! mount --make-shared /run/netns; then
    die "could not make /run/netns a shared mount of its own"
  fi
}

# real_up: containerd + kubelet per tier, the node objects completed, then the network
# services and the add-ons. Called by `up` after the control plane is healthy.
real_up() {
  local tier node archives=() img t0
  command -v jq >/dev/null || die "jq is missing; run scripts/deps.sh"
  # The add-on images, built from Dockerfiles in images/. images/build is a no-op when they are
  # up to date but takes seconds to find that out; an archive newer than its Dockerfile and
  # than the add-on binary in it needs no asking.
  t0=$SECONDS
  local stale=0 bin
  "$CLUSTER_DIR/addons/build" >/dev/null || die "e2e/cluster/addons/build failed"
  for img in "${NODE_IMAGES[@]}"; do
    archives+=("$IMAGES_OCI/$img.tar")
    case $img in local-path) bin=$BIN_DIR/local-path-provisioner ;; pause) bin="" ;; *) bin=$BIN_DIR/$img ;; esac
    [[ -s $IMAGES_OCI/$img.tar && $IMAGES_OCI/$img.tar -nt $REPO_DIR/images/$img/Dockerfile ]] || stale=1
    [[ -z $bin || $IMAGES_OCI/$img.tar -nt $bin ]] || stale=1
  done
  if ((stale)); then
    "$REPO_DIR/images/build" --no-compile "${NODE_IMAGES[@]}" >/dev/null || die "images/build ${NODE_IMAGES[*]} failed"
    log "node images built ($((SECONDS - t0))s)"
  fi

  netns_dir_shared
  for tier in "${TIERS[@]}"; do
    node_files "$tier"
    node_cgroups "$tier"
    start "containerd-$tier" 60 containerd_healthy "$tier" -- \
      containerd --config "$NODES_DIR/$tier/containerd/config.toml"
  done
  # The three imports in parallel (each unpacks into its own containerd); names and digests
  # read once, before the fork.
  for img in "${archives[@]}"; do
    [[ -s $img ]] || die "image archive $img is missing (images/build)"
    ARCHIVE_INFO[$img]="$(archive_ref "$img") $(archive_digest "$img")"
  done
  local pids=() failed=0
  for tier in "${TIERS[@]}"; do
    import_images "$tier" "${archives[@]}" &
    pids+=($!)
  done
  for img in "${pids[@]}"; do wait "$img" || failed=1; done
  ((failed == 0)) || die "importing the node images failed (see above)"
  for tier in "${TIERS[@]}"; do
    START_ATTEMPTS=3 start "kubelet-$tier" 60 kubelet_healthy "$tier" -- "$BIN_DIR/kubelet" \
      --config="$NODES_DIR/$tier/kubelet.yaml" \
      --kubeconfig="$NODES_DIR/$tier/kubelet.kubeconfig" \
      --root-dir="$NODES_DIR/$tier/kubelet" \
      --hostname-override="ovu-$tier" \
      --node-labels="ovu.co.il/tier=$tier" \
      --node-ip="$(node_ip "$tier")"
  done

  # Node registration, then what a kubelet may not set itself: spec.podCIDR (set once; the
  # controller-manager's allocator is off so each tier keeps its documented /24).
  # Labels and taints come from the kubelets' flags; checked here so that an edited or lost
  # one on a long-lived node is repaired by the next `up`.
  local deadline=$((SECONDS + 90)) state want
  for tier in "${TIERS[@]}"; do
    node="ovu-$tier"
    want="$tier $(pod_subnet "$tier") ovu.co.il/tier=$tier:NoSchedule, True"
    state_of() { kc get node "$node" -o jsonpath='{.metadata.labels.ovu\.co\.il/tier} {.spec.podCIDR} {range .spec.taints[*]}{.key}={.value}:{.effect},{end} {.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null; }
    until state=$(state_of) && [[ -n $state ]]; do
      ((SECONDS < deadline)) || fail_component "kubelet-$tier" "did not register node $node within 90s"
      sleep 0.5
    done
    [[ $state == "$want" ]] && continue
    if [[ $state != "$tier $(pod_subnet "$tier") "* ]]; then
      [[ $(kc get node "$node" -o jsonpath='{.spec.podCIDR}') == "" ]] &&
        kc patch node "$node" --type=merge -p "{\"spec\":{\"podCIDR\":\"$(pod_subnet "$tier")\",\"podCIDRs\":[\"$(pod_subnet "$tier")\"]}}" >/dev/null
      kc label node "$node" --overwrite "ovu.co.il/tier=$tier" >/dev/null
    fi
    [[ $state == *" ovu.co.il/tier=$tier:NoSchedule, "* ]] || kc taint node "$node" --overwrite "ovu.co.il/tier=$tier:NoSchedule" >/dev/null
    until [[ $(state_of) == "$want" ]]; do
      ((SECONDS < deadline)) || fail_component "kubelet-$tier" "node $node not Ready with its label, taint and podCIDR within 90s (now: $(state_of))"
      sleep 0.5
    done
  done
  log "nodes ovu-frontend, ovu-backend, ovu-database Ready"

  real_kube_proxy
  real_network_policies
  real_addons
}

# real_kube_proxy: ONE kube-proxy for the three nodes: they share the host's network
# namespace, and three would fight over the same iptables chains.
real_kube_proxy() {
  new_cert kube-proxy system:kube-proxy
  write_kubeconfig "$RUN_DIR/kube-proxy.kubeconfig" kube-proxy system:kube-proxy
  # kube-proxy exits when its config file changes: rewrite it only when the content does.
  write_if_changed "$RUN_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $RUN_DIR/kube-proxy.kubeconfig}
# iptables (Debian's iptables-nft backend): proven here; NodePorts on 127.0.0.1 work through
# route_localnet, which kube-proxy sets in this mode.
mode: iptables
hostnameOverride: ovu-frontend
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10356
metricsBindAddress: 127.0.0.1:10349
# NodePorts on loopback (https://...localhost:30443 from the host) and on the node addresses,
# not on the machine's outside interfaces.
nodePortAddresses: [127.0.0.0/8, 198.18.0.0/15]
iptables:
  localhostNodePorts: true
# 0: leave the host's conntrack sysctls as they are (a shared machine, not ours to tune).
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML
  start kube-proxy 60 curl -fsS http://127.0.0.1:10356/healthz -- "$BIN_DIR/kube-proxy" \
    --config="$RUN_DIR/kube-proxy.yaml"
}

# real_network_policies: the rule that hands the first packet of every pod connection to
# kube-network-policies (NFQUEUE 100), in mangle POSTROUTING: after kube-proxy's DNAT (so
# the destination is the serving pod) and before any SNAT, where its own nftables chain
# would hook. Its own rule uses the nft `queue` expression (CONFIG_NFT_QUEUE), which this
# kernel lacks; the xtables NFQUEUE target (CONFIG_NETFILTER_XT_TARGET_NFQUEUE) is there.
# --queue-bypass: while no kube-network-policies listens, packets pass (fail open).
# Packets from root's own sockets (the kubelets' probes) pass, as in its own rules.
NETPOL_CHAIN=OVU-NETPOL
NETPOL_IN_CHAIN=OVU-NETPOL-IN
real_network_policies() {
  local rules=(
    "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    "-m owner --uid-owner 0 -j RETURN"
    "-s $POD_CIDR -j NFQUEUE --queue-num 100 --queue-bypass"
    "-d $POD_CIDR -j NFQUEUE --queue-num 100 --queue-bypass"
  ) r
  # Rewritten only when it differs (iptables-nft prints the rules as given here).
  if [[ $(iptables -t mangle -S "$NETPOL_CHAIN" 2>/dev/null) != "$(printf -- '-N %s\n' "$NETPOL_CHAIN"; printf -- "-A $NETPOL_CHAIN %s\n" "${rules[@]}")" ]]; then
    iptables -t mangle -N "$NETPOL_CHAIN" 2>/dev/null || iptables -t mangle -F "$NETPOL_CHAIN"
    # shellcheck disable=SC2086 # each rule is a list of iptables words
    for r in "${rules[@]}"; do iptables -t mangle -A "$NETPOL_CHAIN" $r; done
  fi
  iptables -t mangle -C POSTROUTING -j "$NETPOL_CHAIN" 2>/dev/null ||
    iptables -t mangle -A POSTROUTING -j "$NETPOL_CHAIN"
  # A pod's packet to this machine itself (the API server, any listener on the host) goes
  # PREROUTING → INPUT and never reaches POSTROUTING: without this hook no egress policy
  # would hold for it. (No owner match here: it is valid only on the output side.)
  local in_rules=(
    "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    "-s $POD_CIDR -j NFQUEUE --queue-num 100 --queue-bypass"
  )
  if [[ $(iptables -t mangle -S "$NETPOL_IN_CHAIN" 2>/dev/null) != "$(printf -- '-N %s\n' "$NETPOL_IN_CHAIN"; printf -- "-A $NETPOL_IN_CHAIN %s\n" "${in_rules[@]}")" ]]; then
    iptables -t mangle -N "$NETPOL_IN_CHAIN" 2>/dev/null || iptables -t mangle -F "$NETPOL_IN_CHAIN"
    # shellcheck disable=SC2086 # each rule is a list of iptables words
    for r in "${in_rules[@]}"; do iptables -t mangle -A "$NETPOL_IN_CHAIN" $r; done
  fi
  iptables -t mangle -C INPUT -j "$NETPOL_IN_CHAIN" 2>/dev/null ||
    iptables -t mangle -A INPUT -j "$NETPOL_IN_CHAIN"
}
real_network_policies_cleanup() {
  while iptables -t mangle -D POSTROUTING -j "$NETPOL_CHAIN" 2>/dev/null; do :; done
  iptables -t mangle -F "$NETPOL_CHAIN" 2>/dev/null && iptables -t mangle -X "$NETPOL_CHAIN" 2>/dev/null
  while iptables -t mangle -D INPUT -j "$NETPOL_IN_CHAIN" 2>/dev/null; do :; done
  iptables -t mangle -F "$NETPOL_IN_CHAIN" 2>/dev/null && iptables -t mangle -X "$NETPOL_IN_CHAIN" 2>/dev/null
  return 0
}

# real_addons: CoreDNS, local-path-provisioner and kube-network-policies as Deployments from
# real/addons.yaml, with the image tags images/build gave them; waits for them to be ready.
real_addons() {
  local manifest="$RUN_DIR/addons.yaml" d
  tag_of() {
    local a="$IMAGES_OCI/$1.tar"
    [[ -n ${ARCHIVE_INFO[$a]:-} ]] || ARCHIVE_INFO[$a]="$(archive_ref "$a") $(archive_digest "$a")"
    local ref=${ARCHIVE_INFO[$a]%% *}
    echo "${ref##*:}"
  }
  mkdir -p "$RUN_DIR/volumes"
  sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@COREDNS_TAG@|$(tag_of coredns)|g" \
    -e "s|@LOCAL_PATH_TAG@|$(tag_of local-path)|g" -e "s|@NETPOL_TAG@|$(tag_of kube-network-policies)|g" \
    "$CLUSTER_DIR/real/addons.yaml" >"$manifest"
  # kubectl apply takes seconds here; when the manifest is the one applied last time and all
  # its objects still exist, there is nothing to apply.
  local sum applied=0 ready
  sum=$(sha256sum "$manifest" | cut -d' ' -f1)
  if [[ $(cat "$RUN_DIR/addons.applied" 2>/dev/null) != "$sum" ]] ||
    [[ $(kc get -f "$manifest" -o name 2>/dev/null | wc -l) != $(grep -c '^kind:' "$manifest") ]]; then
    apply_or_fail "applying the add-ons (real/addons.yaml)" kc apply -f "$manifest"
    echo "$sum" >"$RUN_DIR/addons.applied"
    applied=1
  fi
  # Nothing applied and a pod of each Ready now: done, without three rollout watches (a
  # Deployment's own status lags behind pods that `down` deleted, so pods are asked).
  ready_apps() {
    kc get pods -A -l "$1" -o json | jq -r --arg key "$2" '.items[] | select(.metadata.deletionTimestamp == null)
      | select(any(.status.conditions[]?; .type == "Ready" and .status == "True")) | .metadata.labels[$key]'
  }
  ready=$({ ready_apps k8s-app=kube-dns k8s-app; ready_apps 'app in (local-path-provisioner,kube-network-policies)' app; } | sort -u | wc -l)
  if ((applied == 0 && ready == 3)); then
    log "add-ons ready: coredns (kube-dns $CLUSTER_DNS), local-path-provisioner (default StorageClass local-path), kube-network-policies"
    return 0
  fi
  for d in kube-system/coredns local-path-storage/local-path-provisioner kube-system/kube-network-policies; do
    kc -n "${d%/*}" rollout status "deployment/${d#*/}" --timeout=120s >/dev/null 2>&1 || {
      {
        echo "[up] error: add-on ${d#*/} not ready within 120s"
        kc -n "${d%/*}" get pods -o wide 2>&1 | sed 's/^/    /'
        kc -n "${d%/*}" logs "deployment/${d#*/}" --tail=30 2>&1 | sed 's/^/    /'
      } >&2
      exit 1
    }
  done
  local deadline=$((SECONDS + 120))
  until (($({ ready_apps k8s-app=kube-dns k8s-app; ready_apps 'app in (local-path-provisioner,kube-network-policies)' app; } | sort -u | wc -l) == 3)); do
    ((SECONDS < deadline)) || { kc get pods -A -o wide | grep -E 'coredns|local-path|network-policies' >&2; die "add-on pods not Ready within 120s"; }
    sleep 1
  done
  log "add-ons ready: coredns (kube-dns $CLUSTER_DNS), local-path-provisioner (default StorageClass local-path), kube-network-policies"
}

# running_tasks TIER: the IDs of the node's running containers (sandboxes included).
running_tasks() { nctr "$1" tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING" { print $1 }'; }

# sandbox_netns TIER: the network namespace files of the node's pod sandboxes (to remove those
# the kubelet could not tear down).
sandbox_netns() {
  local tier=$1 id
  for id in $(nctr "$tier" containers ls -q 2>/dev/null); do
    nctr "$tier" containers info "$id" 2>/dev/null |
      jq -r '.Spec.linux.namespaces[]? | select(.type == "network") | .path // empty' 2>/dev/null
  done | sort -u
}

# kubelet_iptables_cleanup: the chains every kubelet creates (KUBE-FIREWALL, its canaries)
# and the route_localnet value from before kube-proxy set it.
kubelet_iptables_cleanup() {
  local table chain
  while iptables -t filter -D INPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
  while iptables -t filter -D OUTPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
  for table in filter nat mangle; do
    for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
      iptables -t "$table" -F "$chain" 2>/dev/null && iptables -t "$table" -X "$chain" 2>/dev/null
    done
  done
  if [[ -s $RUN_DIR/route_localnet.orig ]]; then
    sysctl -qw "net.ipv4.conf.all.route_localnet=$(<"$RUN_DIR/route_localnet.orig")"
    rm -f "$RUN_DIR/route_localnet.orig"
  fi
  return 0
}

# real_down_host: the addresses on ovuhost0, once the API server (which serves on one of them
# and deletes its lease through it when it stops) is down.
real_down_host() { ip link del "$HOST_IFACE" 2>/dev/null || true; }

# real_down: stops what real_up started and removes what it and its pods left in the host:
# pods (through their kubelets, so CNI tears their network down), containers, shims, network
# namespaces, mounts, interfaces, kube-proxy's iptables rules, cgroups. Called by `down`
# after the scheduler and controller-manager are stopped (nothing replaces a deleted pod) and
# before the API server.
real_down() {
  local tier sock pid netns=() d f deadline
  # 1. Pods, while the API server and the kubelets still run.
  # Only with our API server running: without ovuhost0 its address would be routed off the machine.
  if [[ -n $(component_pid kube-apiserver) ]] && kc get --raw /readyz >/dev/null 2>&1 && [[ -n $(component_pid kubelet-frontend)$(component_pid kubelet-backend)$(component_pid kubelet-database) ]]; then
    kc delete pods -A --field-selector spec.nodeName!=,status.phase!=Failed --grace-period=2 --wait=false >/dev/null 2>&1 || true
    deadline=$((SECONDS + 40))
    for tier in "${TIERS[@]}"; do
      [[ -n $(component_pid "kubelet-$tier") ]] || continue
      until [[ -z $(running_tasks "$tier") ]] || ((SECONDS >= deadline)); do sleep 0.5; done
    done
    # The kubelets confirm each deletion; left over are pods of nodes that were down.
    kc delete pods -A --field-selector spec.nodeName!= --grace-period=0 --force >/dev/null 2>&1 || true
  fi
  real_network_policies_cleanup
  if [[ -n $(component_pid kube-proxy) ]]; then
    stop_component kube-proxy || true
  fi
  # kube-proxy's iptables chains (KUBE-*), whether or not it still ran.
  if [[ -f $RUN_DIR/kube-proxy.yaml ]]; then
    "$BIN_DIR/kube-proxy" --cleanup --config="$RUN_DIR/kube-proxy.yaml" >>"$LOG_DIR/kube-proxy.log" 2>&1 ||
      log "kube-proxy --cleanup failed (see $LOG_DIR/kube-proxy.log)"
  fi
  # 2. Kubelets, then whatever containers are still there, then the containerds and shims.
  for tier in "${TIERS[@]}"; do stop_component "kubelet-$tier" || true; done
  for tier in "${TIERS[@]}"; do
    sock=$(node_sock "$tier") d="$NODES_DIR/$tier"
    if [[ -n $(component_pid "containerd-$tier") ]]; then
      mapfile -t netns < <(sandbox_netns "$tier")
      for f in $(running_tasks "$tier"); do nctr "$tier" tasks kill -s KILL "$f" >/dev/null 2>&1 || true; done
      sleep 0.5
      for f in $(nctr "$tier" tasks ls -q 2>/dev/null); do nctr "$tier" tasks rm -f "$f" >/dev/null 2>&1 || true; done
      stop_component "containerd-$tier" || true
    fi
    # Shims outlive containerd; ours are the ones started with this node's socket.
    for f in /proc/[0-9]*; do
      [[ $(tr '\0' ' ' 2>/dev/null <"$f/cmdline") == *"containerd-shim"*"-address $sock "* ]] || continue
      pid=${f#/proc/}
      kill -KILL "$pid" 2>/dev/null && log "killed leftover shim $pid of ovu-$tier"
    done
    # Whatever still runs in the node's cgroups is one of its containers (e.g. its shim was
    # killed above): end it, then remove the network namespaces its sandboxes had.
    while read -r f; do
      kill -KILL "$f" 2>/dev/null && log "killed leftover container process $f of ovu-$tier"
    done < <(find /sys/fs/cgroup/pids/"ovu-$tier" -name cgroup.procs -exec cat {} + 2>/dev/null)
    for f in "${netns[@]}"; do
      [[ $f == /var/run/netns/* || $f == /run/netns/* ]] || continue
      # Busy when another mount namespace holds a copy of the mount (a Docker engine started
      # after the cluster, e.g. for kind), or when the mount was stranded under a later bind
      # mount of /run/netns (a cluster made before netns_dir_shared existed; unmounting
      # /run/netns once nothing uses it frees those): detach it lazily; a file that still cannot go is
      # named, and the rest of `down` goes on (under `set -e` one rm ended it here, leaving
      # the API server, etcd and two containerds running).
      umount "$f" 2>/dev/null || umount -l "$f" 2>/dev/null || true
      rm -f "$f" 2>/dev/null || log "could not remove network namespace $f (in use)"
    done
    netns=()
    # No sandbox survives a stopped containerd here, so no address is still handed out.
    [[ -d $d/cni-ipam ]] && find "$d/cni-ipam" -mindepth 1 -delete 2>/dev/null
  done
  # 3. Mounts under the nodes' directories (rootfs, shm, volumes), deepest first.
  if [[ -d $NODES_DIR ]]; then
    awk -v p="$NODES_DIR/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r | while read -r f; do
      umount "$f" 2>/dev/null || umount -l "$f" 2>/dev/null || log "could not unmount $f"
    done
  fi
  # 4. The pod bridges (their veths went with the netns), the kubelets' own iptables chains
  # (KUBE-FIREWALL guards route_localnet; both go), and the nodes' cgroups.
  for tier in "${TIERS[@]}"; do ip link del "$(pod_bridge "$tier")" 2>/dev/null || true; done
  kubelet_iptables_cleanup
  for tier in "${TIERS[@]}"; do
    # unified: the cgroup v2 hierarchy a hybrid v1 setup also mounts; runc creates there too.
    for f in "${CGROUP_CONTROLLERS[@]}" unified; do
      [[ -d /sys/fs/cgroup/$f/ovu-$tier ]] || continue
      find "/sys/fs/cgroup/$f/ovu-$tier" -depth -type d -exec rmdir {} + 2>/dev/null ||
        log "cgroup /sys/fs/cgroup/$f/ovu-$tier still in use"
    done
  done
}
