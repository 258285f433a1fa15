# restore.fromBucket: fetch the chosen backup from the bucket, decrypt it with the age
# identity, and unpack it where the restore below looks (RESTORE_DIR), as a backup folder.
offsite_init
want="${RESTORE_BACKUP:-latest}"
if ! have=$(offsite_list); then
  echo "restore: cannot list s3://$S3_BUCKET/$folder (rclone's error above: the endpoint, the key, the CA?)" >&2
  exit 1
fi
if [ "$want" = latest ]; then
  key=$(echo "$have" | tail -n 1)
  if [ -z "$key" ]; then
    echo "restore: no backup in s3://$S3_BUCKET/$folder (names <time>Z.tar.age)" >&2
    exit 1
  fi
else
  key="$want.tar.age"
  if ! echo "$have" | grep -qxF "$key"; then
    echo "restore: backup $want is not in s3://$S3_BUCKET/$folder; it holds: $(echo "$have" | sed 's/\.tar\.age$//' | tr '\n' ' ')" >&2
    exit 1
  fi
fi
name="${key%.tar.age}"
RESTORE_DIR="${RESTORE_DIR:-/restore}"
RESTORE_BACKUP="$name"
rm -rf "${RESTORE_DIR:?}/$name" "$RESTORE_DIR/.fetch"
mkdir -p "$RESTORE_DIR/.fetch"
echo "restore: fetching s3://$S3_BUCKET/$folder$key"
# The archive holds one folder, named like the object; anything else in it is refused.
# POSIX sh has no pipefail: each stage notes its own failure.
failed="${OVU_TMP_DIR:-/tmp}/offsite.failed"
rm -f "$failed"
{ rcl cat "$remote$key" || echo "the download" >> "$failed"; } |
  { age -d -i "$offsite_dir/identity" || echo "decryption (is identitySecret the age private key matching the backup's recipient?)" >> "$failed"; } |
  { tar -C "$RESTORE_DIR/.fetch" --no-same-owner -xf - "$name/ulm_db.dump" "$name/aam_db.dump" || echo "unpacking" >> "$failed"; }
if [ -e "$failed" ]; then
  echo "restore: fetching $key: $(tr '\n' ';' < "$failed") failed" >&2
  exit 1
fi
mv "$RESTORE_DIR/.fetch/$name" "$RESTORE_DIR/$name"
rmdir "$RESTORE_DIR/.fetch"
