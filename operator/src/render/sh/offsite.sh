# Off-site copies in an S3 bucket (spec.database.backup.destination, restore.fromBucket).
# rclone talks S3; age encrypts. The bucket's credentials, the CA and the age key are files
# of the mounted Secrets under $OFFSITE_DIR, never arguments or environment variables: the
# credentials go into rclone's configuration file in the pod's private /tmp (umask 077).
offsite_dir="${OFFSITE_DIR:-/etc/ovu/offsite}"
offsite_init() {
  for tool in rclone age tar; do
    if ! command -v "$tool" > /dev/null; then
      echo "offsite: $tool is not in the database image; off-site backups need an image with the Debian packages age and rclone (such as OVU's postgres image), see README" >&2
      exit 1
    fi
  done
  conf="${OVU_TMP_DIR:-/tmp}/rclone.conf"
  {
    echo "[offsite]"
    echo "type = s3"
    echo "provider = Other"
    echo "endpoint = $S3_ENDPOINT"
    echo "region = ${S3_REGION:-us-east-1}"
    echo "access_key_id = $(cat "$offsite_dir/access-key-id")"
    echo "secret_access_key = $(cat "$offsite_dir/secret-access-key")"
    echo "force_path_style = true"
    # A streamed upload (rcat) has no size known in advance: S3's 10,000 parts of chunk_size
    # cap it (48 GiB at rclone's default 5 MiB). 16 MiB parts allow 156 GiB; two in flight keep
    # the buffers (32 MiB) well inside the Job's 256 Mi memory limit.
    echo "chunk_size = 16M"
    echo "upload_concurrency = 2"
    # The bucket exists (OVU never creates one); checking would need a permission to list
    # all buckets that a key scoped to one bucket lacks.
    echo "no_check_bucket = true"
  } > "$conf"
  ca=""
  [ ! -s "$offsite_dir/ca.crt" ] || ca="$offsite_dir/ca.crt"
  # The folder: "" or "a/b/".
  folder="${S3_PREFIX%/}"
  [ -z "$folder" ] || folder="$folder/"
  remote="offsite:$S3_BUCKET/$folder"
}
rcl() {
  if [ -n "$ca" ]; then set -- --ca-cert "$ca" "$@"; fi
  rclone --config "$conf" --retries 3 --low-level-retries 5 --contimeout 15s --timeout 5m "$@"
}
# The backups in the bucket's folder, oldest first (one level: other folders are not ours).
# Fails when the folder cannot be listed (an empty folder is no failure).
offsite_list() {
  all=$(rcl lsf --files-only "$remote") || return 1
  echo "$all" | grep -E '^[0-9]{8}T[0-9]{6}(_[0-9]{1,4})?Z\.tar\.age$' | sort
}
