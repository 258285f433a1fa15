# shellcheck shell=bash
# buildah's image store for images/build and images/smoke (sourced; needs $OUT, log from
# scripts/lib.sh). Defines STORE_DRIVER, STORE (the store's directory) and bh (buildah on it).
#
# The driver is overlay wherever the kernel mounts an overlay on $OUT's filesystem (this machine,
# CI): each layer is stored once, as its own diff. vfs, the fallback (an $OUT on overlayfs, or a
# kernel without it), stores every layer as a full copy of the root filesystem: the twelve images
# took 3.5 GB there against about 1 GB on overlay, and a CI machine with 14 GiB free ran out of
# disk in the kind pass (session 29). OVU_BUILDAH_DRIVER=vfs|overlay chooses.

# overlay_mounts: whether an overlay with its upper directory under $OUT mounts and takes writes.
overlay_mounts() {
  local d ok=1
  d=$(mktemp -d "$OUT/.overlay-probe.XXXXXX")
  mkdir -p "$d"/{lower,upper,work,merged}
  if mount -t overlay overlay -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" "$d/merged" 2>/dev/null; then
    touch "$d/merged/probe" 2>/dev/null && ok=0
    umount "$d/merged"
  fi
  rm -rf "$d"
  return "$ok"
}

mkdir -p "$OUT"
STORE_DRIVER=${OVU_BUILDAH_DRIVER:-}
if [[ -z $STORE_DRIVER ]]; then
  if overlay_mounts; then STORE_DRIVER=overlay; else STORE_DRIVER=vfs; fi
fi
[[ $STORE_DRIVER == overlay || $STORE_DRIVER == vfs ]] ||
  die "OVU_BUILDAH_DRIVER=$STORE_DRIVER: expected overlay or vfs"
# One store per driver (buildah refuses to open a store made with another driver).
STORE="$OUT/storage/$STORE_DRIVER"
# The store before session 29 was vfs, at storage/root: moved under its driver's name, or, once
# overlay is used, removed (GBs of full copies nothing reads any more).
if [[ -d $OUT/storage/root ]]; then
  if [[ $STORE_DRIVER == vfs && ! -e $STORE ]]; then
    mkdir -p "$STORE" && mv "$OUT/storage/root" "$STORE/root" && rm -rf "$OUT/storage/run"
  else
    log "removing the old vfs image store $OUT/storage/root ($(du -sh "$OUT/storage/root" | cut -f1))"
    rm -rf "$OUT/storage/root" "$OUT/storage/run"
  fi
fi
export STORAGE_DRIVER=$STORE_DRIVER
bh() { buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver "$STORE_DRIVER" "$@"; }
