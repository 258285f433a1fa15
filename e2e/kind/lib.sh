# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Shared by e2e/kind/{docker,tools,node-image,run}; sourced, not run. Paths, versions and the
# address plan of the kind cluster, and `dk`/`kind_` wrappers that always talk to OVU's own
# dockerd (never a system one a developer may have).
KIND_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$KIND_DIR/../.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# Tools and the Docker engine's data outlive a clone: a second clone reuses the built kind
# binary and node image instead of rebuilding them.
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/ovu
TOOLS_DIR=$CACHE_DIR/tools
# dockerd: data root (images, the nodes' volumes), pidfile, socket and log. One engine per
# machine, as there is one real-container cluster at a time.
DOCKER_DIR=${OVU_DOCKER_DIR:-$CACHE_DIR/docker}
# The exec root holds containerd's sockets: keep it short (unix socket paths are ≤ 107 bytes).
DOCKER_EXEC_ROOT=${OVU_DOCKER_EXEC_ROOT:-/run/ovu-docker}
DOCKER_SOCK=$DOCKER_DIR/docker.sock
# OVU_KIND_DOCKER_HOST names a Docker engine that already runs (a CI runner's, e.g.
# unix:///var/run/docker.sock): `docker start` then starts nothing and only makes the network.
if [[ -n ${OVU_KIND_DOCKER_HOST:-} ]]; then
  export DOCKER_HOST=$OVU_KIND_DOCKER_HOST
else
  export DOCKER_HOST=unix://$DOCKER_SOCK
fi
# The OCI runtime dockerd uses by default: runc minus CAP_SYS_RESOURCE (see runc-wrapper).
RUNTIME_NAME=ovu-runc

KIND_VERSION=v0.33.0
KIND_BIN=$TOOLS_DIR/kind-$KIND_VERSION/kind
# crictl in the node image (kind's `load docker-image` and `export logs` use it).
CRICTL_VERSION=v1.37.0
CRICTL_BIN=$TOOLS_DIR/crictl-$CRICTL_VERSION/crictl
# Tilt, the dev loop of the Tiltfile at the repository root.
TILT_VERSION=v0.37.6
TILT_BIN=$TOOLS_DIR/tilt-$TILT_VERSION/tilt
CLUSTER_NAME=${OVU_KIND_CLUSTER:-ovu}

# Addresses inside 198.18.0.0/15 (set aside for network tests), clear of the real-node
# cluster's nodes 198.18.0.1x, services 198.18.128.0/20 and pods 198.19.0.0/16.
KIND_NETWORK=kind
KIND_SUBNET=198.18.64.0/24
KIND_GATEWAY=198.18.64.1
KIND_POD_SUBNET=198.18.96.0/19
KIND_SERVICE_SUBNET=198.18.160.0/20
# The API server on loopback, away from the real-node cluster's 16443 (and kwok's +1000/+2000).
KIND_API_PORT=16643
# `make up`'s NodePorts (deploy/local/kind), published on 127.0.0.1 under the same numbers
# (cluster.yaml): the frontend's HTTPS and Mailpit's web UI.
KIND_HTTPS_NODEPORT=31443
KIND_MAILPIT_NODEPORT=31825

KIND_RUN_DIR=${OVU_KIND_RUN_DIR:-$KIND_DIR/_run}
KIND_KUBECONFIG=$KIND_RUN_DIR/kubeconfig

dk() { docker "$@"; }
docker_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
