# The backup in "$final" is complete (and verified, with verify on): encrypt it to the
# recipient's public key and upload it, then keep the newest $RETAIN in the bucket as well.
if [ -n "${S3_BUCKET:-}" ]; then
  offsite_init
  name=$(basename "$final")
  key="$name.tar.age"
  echo "offsite: encrypting $name with age and uploading it to s3://$S3_BUCKET/$folder$key"
  # S3 makes an object visible only once its upload completed: a cut upload leaves nothing
  # that a listing (or a restore of `latest`) would pick.
  # POSIX sh has no pipefail: each stage notes its own failure.
  failed="${OVU_TMP_DIR:-/tmp}/offsite.failed"
  rm -f "$failed"
  { tar -C "$(dirname "$final")" -cf - "$name" || echo tar >> "$failed"; } |
    { age -e -R "$offsite_dir/recipient" || echo "age (is recipientSecret an age public key, age1...?)" >> "$failed"; } |
    { rcl rcat "$remote$key" || echo "the upload" >> "$failed"; }
  if [ -e "$failed" ]; then
    echo "offsite: $(tr '\n' ' ' < "$failed")failed; the backup stays on the volume, the bucket gets no copy of it" >&2
    rcl deletefile "$remote$key" 2> /dev/null || true
    exit 1
  fi
  listing=$(rcl lsf --files-only --format ps --separator ' ' "$remote")
  size=$(echo "$listing" | awk -v k="$key" '$1 == k {print $2}')
  if [ -z "$size" ]; then
    echo "offsite: $key is not in s3://$S3_BUCKET/$folder after its upload; it holds: $(echo "$listing" | tr '\n' ' ')" >&2
    exit 1
  fi
  echo "offsite: uploaded s3://$S3_BUCKET/$folder$key ($size bytes)"
  if ! kept=$(offsite_list); then
    echo "offsite retention: cannot list s3://$S3_BUCKET/$folder (rclone's error above); nothing deleted" >&2
    exit 1
  fi
  echo "$kept" | head -n "-$RETAIN" | while read -r old; do
    [ -n "$old" ] || continue
    echo "offsite retention: removing s3://$S3_BUCKET/$folder$old"
    rcl deletefile "$remote$old"
  done
  # What the operator reads into status.backup (the pod's termination message).
  printf '{"object":"s3://%s/%s%s","size":%s}\n' "$S3_BUCKET" "$folder" "$key" "$size" \
    > "${TERMINATION_LOG:-/dev/termination-log}"
fi
