# shellcheck shell=bash
# PKI for the local cluster, made with Debian's openssl; sourced by `up`.
# One CA signs everything (serving and client certificates, and the controller-manager's
# CSR signer): this is a throwaway test cluster, and one CA keeps every kubeconfig simple.
# Existing files are kept, so a second `up` reuses the same identities.

# new_ca NAME CN: a self-signed P-256 CA valid ten years.
new_ca() {
  local name=$1 cn=$2
  [[ -s $PKI_DIR/$name.crt && -s $PKI_DIR/$name.key ]] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/$name.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI_DIR/$name.key" -subj "/CN=$cn" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI_DIR/$name.crt"
}

# new_cert NAME CN [O] [SANs] [CA]: a P-256 key and a certificate signed by CA (default ca),
# valid a year.
new_cert() {
  local name=$1 cn=$2 org=${3:-} sans=${4:-} ca=${5:-ca}
  [[ -s $PKI_DIR/$name.crt && -s $PKI_DIR/$name.key ]] && return 0
  local subj="/CN=$cn" ext="$PKI_DIR/$name.ext"
  [[ -n $org ]] && subj="/O=$org$subj"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $sans ]]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/$name.key" 2>/dev/null
  openssl req -new -key "$PKI_DIR/$name.key" -subj "$subj" -out "$PKI_DIR/$name.csr"
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/$ca.crt" -CAkey "$PKI_DIR/$ca.key" \
    -CAcreateserial -days 365 -extfile "$ext" -out "$PKI_DIR/$name.crt" 2>/dev/null
  rm -f "$PKI_DIR/$name.csr" "$ext"
}

# write_kubeconfig FILE CERTNAME USER: a kubeconfig with the certificates embedded, so it
# still works when copied elsewhere.
write_kubeconfig() {
  local file=$1 cert=$2 user=$3
  cat >"$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: ovu-local
  cluster:
    server: https://$APISERVER_HOST:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 <"$PKI_DIR/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$PKI_DIR/$cert.crt")
    client-key-data: $(base64 -w0 <"$PKI_DIR/$cert.key")
contexts:
- name: ovu-local
  context:
    cluster: ovu-local
    user: $user
current-context: ovu-local
KUBECONFIG
  chmod 600 "$file"
}

ensure_pki() {
  command -v openssl >/dev/null || die "openssl is missing (Debian package openssl)"
  mkdir -p "$PKI_DIR"
  chmod 700 "$PKI_DIR"
  [[ -s $PKI_DIR/ca.crt ]] || log "creating the cluster PKI in $PKI_DIR"
  new_ca ca ovu-local-ca
  # The aggregation layer's request-header CA is separate from the client CA, as kubeadm does:
  # a certificate from it lets the holder assert any user in headers. The controller-manager
  # and scheduler read it for delegated authentication and log errors every second without it.
  new_ca front-proxy-ca ovu-local-front-proxy-ca
  new_cert front-proxy-client front-proxy-client "" "" front-proxy-ca
  # Real mode serves on $REAL_APISERVER_HOST too; a certificate from before that SAN is replaced.
  if [[ -s $PKI_DIR/apiserver.crt ]] && ! openssl x509 -noout -ext subjectAltName -in "$PKI_DIR/apiserver.crt" | grep -q "IP Address:$REAL_APISERVER_HOST"; then
    rm -f "$PKI_DIR/apiserver.crt" "$PKI_DIR/apiserver.key"
  fi
  new_cert apiserver kube-apiserver "" \
    "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$FIRST_SERVICE_IP,IP:$REAL_APISERVER_HOST"
  new_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  new_cert admin ovu-admin system:masters
  new_cert kube-controller-manager system:kube-controller-manager
  new_cert kube-scheduler system:kube-scheduler
  # kwok plays every kubelet and, with the volume stages, a PV provisioner; as a simulator it
  # is not what the tests check, so it gets admin rights rather than a hand-kept role.
  new_cert kwok kwok-controller system:masters
  # kwok's own HTTPS endpoint (the kubelet API it serves for the fake nodes).
  new_cert kwok-serving kwok-serving "" "DNS:localhost,IP:127.0.0.1"
  if [[ ! -s $PKI_DIR/sa.key ]]; then
    openssl genrsa -out "$PKI_DIR/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null
  fi
  chmod 600 "$PKI_DIR"/*.key
  write_kubeconfig "$RUN_DIR/kube-controller-manager.kubeconfig" kube-controller-manager system:kube-controller-manager
  write_kubeconfig "$RUN_DIR/kube-scheduler.kubeconfig" kube-scheduler system:kube-scheduler
  write_kubeconfig "$RUN_DIR/kwok.kubeconfig" kwok kwok-controller
  write_kubeconfig "$KUBECONFIG_ADMIN" admin ovu-admin
}
