//! `kubectl ovu restore --from-bucket`: a new OvuSystem that starts from an off-site backup
//! (README "Off-site backups"), when the system that made it may be gone with its cluster.
//!
//! What flows through here: the bucket location (`s3://<bucket>/<prefix>/`, or a whole object
//! key `s3://<bucket>/<prefix>/<backup>.tar.age`) and the names of the Secrets the restore
//! needs → the folder's objects, listed over S3 (ListObjectsV2, signed with AWS Signature V4)
//! with the key from the credentials Secret and the CA from the named ConfigMap or Secret, as
//! the restore Job will reach them → the backup chosen (`latest` = the newest there) → the
//! OvuSystem with `spec.database.restore.fromBucket`, created or printed (`--dry-run`).
//!
//! Listing first means a wrong endpoint, key, CA, bucket or backup name is said here, by
//! name, instead of by a restore Job that fails in the cluster later.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use hmac::{Hmac, Mac as _};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use ovu_crds::{OvuSystem, OvuSystemSpec, Restore, RestoreBucket, S3Bucket};
use sha2::{Digest as _, Sha256};

use crate::{Ctx, api_err, out, progress};

/// Where the backups are: bucket, folder (empty or ending in `/`) and, when the location named
/// an object, that backup's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    pub folder: String,
    pub backup: Option<String>,
}

/// Parse `s3://bucket/prefix/` or `s3://bucket/prefix/<backup>.tar.age` (as status shows
/// `lastUploadedObject`); a bad value is named with what is expected.
pub fn parse_location(s: &str) -> anyhow::Result<Location> {
    let Some(rest) = s.strip_prefix("s3://") else {
        bail!(
            "--from-bucket {s:?} is not an s3:// location: give s3://<bucket>/<prefix>/ or the object s3://<bucket>/<prefix>/<backup>.tar.age (status.backup.lastUploadedObject)"
        );
    };
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !ovu_crds::rules::is_s3_bucket(bucket) {
        bail!(
            "--from-bucket {s:?}: {bucket:?} is not a bucket name ({})",
            ovu_crds::rules::MSG_S3_BUCKET
        );
    }
    let (folder, backup) = match path.rsplit_once('/').map_or(("", path), |(f, o)| (f, o)) {
        (f, "") => (f.to_string(), None),
        (f, object) => match object.strip_suffix(".tar.age") {
            Some(name) if ovu_crds::rules::is_backup_name(name) => {
                (f.to_string(), Some(name.to_string()))
            }
            _ => bail!(
                "--from-bucket {s:?}: {object:?} is not a backup object (<time>Z.tar.age, e.g. 20261204T020000Z.tar.age); end a folder with /"
            ),
        },
    };
    let folder = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    if !folder.is_empty() && !ovu_crds::rules::is_s3_prefix(&folder) {
        bail!(
            "--from-bucket {s:?}: {folder:?} is not a prefix the CRD accepts ({})",
            ovu_crds::rules::MSG_S3_PREFIX
        );
    }
    Ok(Location {
        bucket: bucket.to_string(),
        folder,
        backup,
    })
}

/// One backup in the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub backup: String,
    pub size: u64,
}

/// Which backup to restore among `have` (any order): the one the location named, else
/// `from` (`latest`: the newest; or a backup name). Anything else names what is there.
pub fn choose(
    have: &[Object],
    named: Option<&str>,
    from: Option<&str>,
    where_: &str,
) -> anyhow::Result<Object> {
    let mut names: Vec<&str> = have.iter().map(|o| o.backup.as_str()).collect();
    names.sort_unstable();
    let there = || {
        if names.is_empty() {
            format!("{where_} holds no backup (<time>Z.tar.age)")
        } else {
            format!("{where_} holds {}", names.join(", "))
        }
    };
    let want = match (named, from) {
        (Some(n), Some(f)) if f != n && f != "latest" => {
            bail!("--from {f:?} and the object named in --from-bucket ({n}) disagree: give one")
        }
        (Some(n), _) => n,
        (None, None) | (None, Some("latest")) => {
            // Backup names are UTC times, so the greatest is the newest.
            let Some(newest) = names.last() else {
                bail!("nothing to restore: {}", there());
            };
            newest
        }
        (None, Some(f)) if ovu_crds::rules::is_backup_name(f) => f,
        (None, Some(f)) => bail!(
            "--from {f:?} is neither latest nor a backup name such as 20261204T020000Z; {}",
            there()
        ),
    };
    have.iter()
        .find(|o| o.backup == want)
        .cloned()
        .with_context(|| format!("backup {want} is not in the bucket: {}", there()))
}

/// The S3 request's credentials and trust, read from the namespace as the restore Job will.
pub struct Access {
    pub key_id: String,
    pub secret_key: String,
    pub ca_pem: Option<Vec<u8>>,
}

/// What the command line gave for `--from-bucket`.
#[derive(Debug, Clone)]
pub struct Request {
    pub location: String,
    pub endpoint: String,
    pub region: Option<String>,
    pub credentials_secret: String,
    pub ca_config_map: Option<String>,
    pub ca_secret: Option<String>,
    pub identity_secret: String,
    pub from: Option<String>,
    pub into: String,
    pub domain: String,
    pub dry_run: bool,
    pub list_only: bool,
}

/// The spec's bucket for a location (keys at their defaults, as the README's Secrets use).
pub fn s3_bucket(r: &Request, loc: &Location) -> S3Bucket {
    S3Bucket {
        endpoint: r.endpoint.clone(),
        bucket: loc.bucket.clone(),
        prefix: (!loc.folder.is_empty()).then(|| loc.folder.clone()),
        region: r.region.clone(),
        credentials_secret: r.credentials_secret.clone(),
        access_key_id_key: "access-key-id".into(),
        secret_access_key_key: "secret-access-key".into(),
        ca_secret: r.ca_secret.clone(),
        ca_config_map: r.ca_config_map.clone(),
        ca_key: "ca.crt".into(),
    }
}

/// The new OvuSystem: defaults, the domain, and the restore of `backup` from the bucket.
pub fn build(r: &Request, loc: &Location, backup: &str, namespace: &str) -> OvuSystem {
    let mut spec: OvuSystemSpec = serde_json::from_value(serde_json::json!({"domain": r.domain}))
        .unwrap_or_else(|_| {
            unreachable!("a spec with only a domain deserializes: every other field has a default")
        });
    spec.database.restore = Some(Restore {
        from_claim: None,
        from_bucket: Some(RestoreBucket {
            s3: s3_bucket(r, loc),
            identity_secret: r.identity_secret.clone(),
            identity_key: "identity".into(),
        }),
        backup: backup.to_string(),
    });
    let mut sys = OvuSystem::new(&r.into, spec);
    sys.metadata = ObjectMeta {
        name: Some(r.into.clone()),
        namespace: Some(namespace.to_string()),
        ..Default::default()
    };
    sys
}

/// Checks that need no cluster: said before anything is read.
pub fn check(r: &Request) -> anyhow::Result<Location> {
    let loc = parse_location(&r.location)?;
    if !ovu_crds::rules::is_s3_endpoint(&r.endpoint) {
        bail!(
            "--endpoint {:?}: {}",
            r.endpoint,
            ovu_crds::rules::MSG_S3_ENDPOINT
        );
    }
    if !ovu_crds::rules::is_domain(&r.domain) {
        bail!(
            "--domain {:?} is not a domain: {}",
            r.domain,
            ovu_crds::rules::MSG_DOMAIN
        );
    }
    for (flag, v) in [
        ("--credentials-secret", Some(&r.credentials_secret)),
        ("--identity-secret", Some(&r.identity_secret)),
        ("--ca-config-map", r.ca_config_map.as_ref()),
        ("--ca-secret", r.ca_secret.as_ref()),
    ] {
        if let Some(v) = v
            && !ovu_crds::rules::is_dns_subdomain(v)
        {
            bail!(
                "{flag} {v:?} is not an object name: {}",
                ovu_crds::rules::MSG_OBJECT_NAME
            );
        }
    }
    Ok(loc)
}

async fn read_access(ctx: &Ctx, r: &Request) -> anyhow::Result<Access> {
    let ns = &ctx.namespace;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = |name: String| {
        let secrets = secrets.clone();
        async move {
            match secrets.get_opt(&name).await {
                Ok(Some(s)) => Ok(s.data.unwrap_or_default()),
                Ok(None) => bail!(
                    "there is no Secret {ns}/{name}: create it first (README, Off-site backups)"
                ),
                Err(e) => bail!("cannot read Secret {ns}/{name}: {}", api_err(&e)),
            }
        }
    };
    let creds = secret(r.credentials_secret.clone()).await?;
    let value = |key: &str| -> anyhow::Result<String> {
        let v = creds.get(key).with_context(|| {
            format!(
                "Secret {ns}/{} has no key {key} (it needs access-key-id and secret-access-key)",
                r.credentials_secret
            )
        })?;
        Ok(String::from_utf8_lossy(&v.0).trim().to_string())
    };
    let (key_id, secret_key) = (value("access-key-id")?, value("secret-access-key")?);
    let ca_pem = if let Some(name) = &r.ca_secret {
        let data = secret(name.clone()).await?;
        Some(
            data.get("ca.crt")
                .with_context(|| format!("Secret {ns}/{name} has no key ca.crt"))?
                .0
                .clone(),
        )
    } else if let Some(name) = &r.ca_config_map {
        let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
        let cm = match cms.get_opt(name).await {
            Ok(Some(cm)) => cm,
            Ok(None) => bail!("there is no ConfigMap {ns}/{name} (--ca-config-map)"),
            Err(e) => bail!("cannot read ConfigMap {ns}/{name}: {}", api_err(&e)),
        };
        let pem = cm
            .data
            .unwrap_or_default()
            .remove("ca.crt")
            .with_context(|| format!("ConfigMap {ns}/{name} has no key ca.crt"))?;
        Some(pem.into_bytes())
    } else {
        None
    };
    Ok(Access {
        key_id,
        secret_key,
        ca_pem,
    })
}

/// RFC 3986 percent-encoding as Signature V4 wants it: only unreserved characters stay.
fn uri_encode(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes a key of any length: new_from_slice cannot fail for it.
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The `Authorization` header of a GET with no body (AWS Signature Version 4, service s3);
/// `host` as the request sends it, `query` unencoded (it is encoded and sorted here).
pub fn authorization(
    access: &Access,
    region: &str,
    amz_date: &str,
    host: &str,
    path: &str,
    query: &BTreeMap<&str, String>,
) -> String {
    let empty_hash = hex::encode(Sha256::digest(b""));
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let signed = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!(
        "GET\n{path}\n{canonical_query}\nhost:{host}\nx-amz-content-sha256:{empty_hash}\nx-amz-date:{amz_date}\n\n{signed}\n{empty_hash}"
    );
    let day = &amz_date[..8];
    let scope = format!("{day}/{region}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{}", access.secret_key).as_bytes(), day);
    let k = hmac(&k, region);
    let k = hmac(&k, "s3");
    let k = hmac(&k, "aws4_request");
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={}",
        access.key_id,
        hex::encode(hmac(&k, &to_sign))
    )
}

/// The text of each `<tag>…</tag>` in `xml`, entities decoded.
fn texts<'a>(xml: &'a str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest: &'a str = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        found.push(
            after[..j]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[j + close.len()..];
    }
    found
}

/// The backups (`<name>.tar.age` directly in the folder) of one ListObjectsV2 page, and the
/// continuation token if the listing goes on.
pub fn parse_listing(xml: &str, folder: &str) -> (Vec<Object>, Option<String>) {
    let objects = texts(xml, "Contents")
        .iter()
        .filter_map(|c| {
            let key = texts(c, "Key").into_iter().next()?;
            let size = texts(c, "Size").into_iter().next()?.trim().parse().ok()?;
            let name = key.strip_prefix(folder)?.strip_suffix(".tar.age")?;
            ovu_crds::rules::is_backup_name(name).then(|| Object {
                backup: name.to_string(),
                size,
            })
        })
        .collect();
    let more = texts(xml, "IsTruncated")
        .first()
        .is_some_and(|t| t.trim() == "true");
    let token = texts(xml, "NextContinuationToken").into_iter().next();
    (objects, token.filter(|_| more))
}

/// Every backup in the folder (ListObjectsV2, path-style, as rclone and the Jobs address it).
pub async fn list(
    endpoint: &str,
    region: &str,
    loc: &Location,
    access: &Access,
) -> anyhow::Result<Vec<Object>> {
    let base = reqwest::Url::parse(endpoint)
        .with_context(|| format!("--endpoint {endpoint:?} is not a URL"))?;
    let host = match (base.host_str(), base.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => bail!("--endpoint {endpoint:?} has no host"),
    };
    let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
    if let Some(pem) = &access.ca_pem {
        let ca = reqwest::Certificate::from_pem(pem)
            .context("the CA (ca.crt) is not a PEM certificate")?;
        b = b.tls_built_in_root_certs(false).add_root_certificate(ca);
    }
    let http = b.build().context("building the HTTPS client")?;
    let path = format!("/{}", uri_encode(&loc.bucket));
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = BTreeMap::new();
        query.insert("list-type", "2".to_string());
        query.insert("prefix", loc.folder.clone());
        if let Some(t) = &token {
            query.insert("continuation-token", t.clone());
        }
        let amz_date = Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
        let auth = authorization(access, region, &amz_date, &host, &path, &query);
        let qs = query
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut url = base.clone();
        url.set_path(&path);
        url.set_query(Some(&qs));
        let resp = http
            .get(url)
            .header("x-amz-date", &amz_date)
            .header("x-amz-content-sha256", hex::encode(Sha256::digest(b"")))
            .header("authorization", auth)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot list s3://{}/{} at {endpoint}: {} (the endpoint, or the CA: --ca-config-map/--ca-secret)",
                    loc.bucket,
                    loc.folder,
                    error_chain(&e)
                )
            })?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let code = texts(&body, "Code").into_iter().next().unwrap_or_default();
            let msg = texts(&body, "Message")
                .into_iter()
                .next()
                .unwrap_or_default();
            bail!(
                "listing s3://{}/{} at {endpoint} was refused: HTTP {status} {code} {msg} (the bucket's name, or the key in --credentials-secret)",
                loc.bucket,
                loc.folder
            );
        }
        let (page, next) = parse_listing(&body, &loc.folder);
        all.extend(page);
        match next {
            Some(t) => token = Some(t),
            None => return Ok(all),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

pub async fn run(ctx: &Ctx, r: &Request, loc: &Location) -> anyhow::Result<()> {
    let systems: Api<OvuSystem> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    if !r.list_only {
        match systems.get_opt(&r.into).await {
            Ok(Some(_)) => bail!(
                "OvuSystem {}/{} already exists: a restore creates a new system (choose another --into)",
                ctx.namespace,
                r.into
            ),
            Ok(None) => {}
            Err(e) => bail!(
                "cannot check for OvuSystem {}/{}: {}",
                ctx.namespace,
                r.into,
                api_err(&e)
            ),
        }
    }
    let access = read_access(ctx, r).await?;
    let region = r.region.as_deref().unwrap_or("us-east-1");
    let mut have = list(&r.endpoint, region, loc, &access).await?;
    have.sort_by(|a, b| b.backup.cmp(&a.backup));
    let where_ = format!("s3://{}/{}", loc.bucket, loc.folder);
    if r.list_only {
        let mut text = format!("{} backup(s) in {where_}, newest first:\n", have.len());
        for o in &have {
            text.push_str(&format!("  {}  {} bytes\n", o.backup, o.size));
        }
        return out(&text);
    }
    let chosen = choose(&have, loc.backup.as_deref(), r.from.as_deref(), &where_)?;
    // The name, not `latest`: what is restored stays what was checked here, even if a newer
    // backup is uploaded before the restore Job runs.
    let sys = build(r, loc, &chosen.backup, &ctx.namespace);
    if r.dry_run {
        progress(&format!(
            "would restore {where_}{}.tar.age ({} bytes); not created (--dry-run)",
            chosen.backup, chosen.size
        ));
        return out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&sys).context("printing the OvuSystem")?
        ));
    }
    systems
        .create(&PostParams::default(), &sys)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot create OvuSystem {}/{}: {}",
                ctx.namespace,
                r.into,
                api_err(&e)
            )
        })?;
    out(&format!(
        "created OvuSystem {}/{} restoring {where_}{}.tar.age ({} bytes; domain {}); follow it with: kubectl ovu status {} -n {}\n",
        ctx.namespace, r.into, chosen.backup, chosen.size, r.domain, r.into, ctx.namespace
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_a_folder_or_an_object_and_bad_ones_are_named() {
        assert_eq!(
            parse_location("s3://ovu-backups/shop/").unwrap(),
            Location {
                bucket: "ovu-backups".into(),
                folder: "shop/".into(),
                backup: None
            }
        );
        assert_eq!(
            parse_location("s3://ovu-backups/a/b/20261204T020000Z.tar.age").unwrap(),
            Location {
                bucket: "ovu-backups".into(),
                folder: "a/b/".into(),
                backup: Some("20261204T020000Z".into())
            }
        );
        for top in ["s3://ovu-backups", "s3://ovu-backups/"] {
            let l = parse_location(top).unwrap();
            assert_eq!((l.folder.as_str(), l.backup), ("", None), "{top}");
        }
        for (bad, says) in [
            ("https://x/y/", "not an s3:// location"),
            ("s3://Bad_Bucket/shop/", "not a bucket name"),
            ("s3://ovu-backups/shop", "not a backup object"),
            ("s3://ovu-backups/shop/x.tar.age", "not a backup object"),
        ] {
            let e = parse_location(bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!("{bad:?}")) && e.contains(says),
                "{bad}: {e}"
            );
        }
    }

    fn objs(names: &[&str]) -> Vec<Object> {
        names
            .iter()
            .map(|n| Object {
                backup: n.to_string(),
                size: 7,
            })
            .collect()
    }

    #[test]
    fn latest_is_the_newest_and_unknown_names_list_what_is_there() {
        let have = objs(&["20261203T020000Z", "20261204T020000Z", "20261202T020000Z"]);
        let pick = |named, from| choose(&have, named, from, "s3://b/f/").map(|o| o.backup);
        assert_eq!(pick(None, None).unwrap(), "20261204T020000Z");
        assert_eq!(pick(None, Some("latest")).unwrap(), "20261204T020000Z");
        assert_eq!(
            pick(None, Some("20261202T020000Z")).unwrap(),
            "20261202T020000Z"
        );
        assert_eq!(
            pick(Some("20261203T020000Z"), None).unwrap(),
            "20261203T020000Z"
        );
        let e = pick(None, Some("20261201T020000Z"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("20261201T020000Z is not in the bucket")
                && e.contains("20261202T020000Z, 20261203T020000Z, 20261204T020000Z"),
            "{e}"
        );
        let e = pick(None, Some("yesterday")).unwrap_err().to_string();
        assert!(e.contains("\"yesterday\" is neither latest"), "{e}");
        let e = pick(Some("20261203T020000Z"), Some("20261204T020000Z"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("disagree"), "{e}");
        let e = choose(&[], None, None, "s3://b/f/")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s3://b/f/ holds no backup"), "{e}");
    }

    #[test]
    fn a_listing_keeps_only_backups_directly_in_the_folder() {
        let xml = "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>\
            <Contents><Key>f/20261204T020000Z.tar.age</Key><Size>48213</Size></Contents>\
            <Contents><Key>f/notes.txt</Key><Size>3</Size></Contents>\
            <Contents><Key>f/sub/20261203T020000Z.tar.age</Key><Size>9</Size></Contents>\
            <Contents><Key>f/20261203T020000Z.tar.age</Key><Size>100</Size></Contents>\
            <NextContinuationToken>a&amp;b</NextContinuationToken></ListBucketResult>";
        let (o, next) = parse_listing(xml, "f/");
        assert_eq!(
            o,
            vec![
                Object {
                    backup: "20261204T020000Z".into(),
                    size: 48213
                },
                Object {
                    backup: "20261203T020000Z".into(),
                    size: 100
                }
            ]
        );
        assert_eq!(next.as_deref(), Some("a&b"));
        let (_, next) = parse_listing("<IsTruncated>false</IsTruncated>", "f/");
        assert_eq!(next, None);
    }

    /// The S3 API reference's worked example "GET Bucket (List Objects)" (Signature V4 in a
    /// header: GET /?max-keys=2&prefix=J on examplebucket, 20130524T000000Z, the example key):
    /// its published signature.
    #[test]
    fn the_signature_is_the_one_aws_documents_for_its_list_example() {
        let access = Access {
            key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            ca_pem: None,
        };
        let mut q = BTreeMap::new();
        q.insert("prefix", "J".to_string());
        q.insert("max-keys", "2".to_string());
        let a = authorization(
            &access,
            "us-east-1",
            "20130524T000000Z",
            "examplebucket.s3.amazonaws.com",
            "/",
            &q,
        );
        assert_eq!(
            a,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
             Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
        assert_eq!(uri_encode("a/b c~é"), "a%2Fb%20c~%C3%A9");
    }

    fn request() -> Request {
        Request {
            location: "s3://ovu-backups/shop/".into(),
            endpoint: "https://198.18.0.1:18406".into(),
            region: None,
            credentials_secret: "ovu-backup-s3".into(),
            ca_config_map: Some("ovu-backup-s3-ca".into()),
            ca_secret: None,
            identity_secret: "ovu-restore-age".into(),
            from: None,
            into: "shop".into(),
            domain: "shop.example.com".into(),
            dry_run: true,
            list_only: false,
        }
    }

    #[test]
    fn the_new_system_restores_the_chosen_backup_from_the_bucket() {
        let r = request();
        let loc = check(&r).unwrap();
        let sys = build(&r, &loc, "20261204T020000Z", "prod");
        let v = serde_json::to_value(&sys).unwrap();
        assert_eq!(
            v["metadata"],
            serde_json::json!({"name": "shop", "namespace": "prod"})
        );
        assert_eq!(v["spec"]["domain"], "shop.example.com");
        assert_eq!(
            v["spec"]["database"]["restore"],
            serde_json::json!({
                "fromBucket": {
                    "s3": {"endpoint": "https://198.18.0.1:18406", "bucket": "ovu-backups",
                           "prefix": "shop/", "credentialsSecret": "ovu-backup-s3",
                           "accessKeyIdKey": "access-key-id", "secretAccessKeyKey": "secret-access-key",
                           "caConfigMap": "ovu-backup-s3-ca", "caKey": "ca.crt"},
                    "identitySecret": "ovu-restore-age", "identityKey": "identity",
                },
                "backup": "20261204T020000Z",
            })
        );
        // What the CRD's own rules accept (the same checks the API server runs).
        assert!(v["spec"]["database"].get("backup").is_some());
    }

    #[test]
    fn bad_flags_are_named_before_anything_is_read() {
        for (change, says) in [
            (
                (|r: &mut Request| r.endpoint = "s3.example.com".into()) as fn(&mut Request),
                "--endpoint \"s3.example.com\"",
            ),
            (
                |r| r.domain = "not a domain".into(),
                "--domain \"not a domain\"",
            ),
            (
                |r| r.credentials_secret = "Bad_Name".into(),
                "--credentials-secret \"Bad_Name\"",
            ),
            (
                |r| r.ca_config_map = Some("x/y".into()),
                "--ca-config-map \"x/y\"",
            ),
        ] {
            let mut r = request();
            change(&mut r);
            let e = check(&r).unwrap_err().to_string();
            assert!(e.contains(says), "{says}: {e}");
        }
    }
    /// A real S3 server (SeaweedFS over TLS with a private CA, `scripts/s3-server.sh`, as the
    /// operator's script tests run it) on 127.0.0.1: the listing with the scoped key and the
    /// CA finds the backups of the folder only, and a wrong key, a missing CA and a bucket the
    /// key may not read are each said.
    #[tokio::test]
    async fn listing_a_real_s3_server_and_its_refusals() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = std::env::temp_dir().join(format!("ovu-plugin-s3-{}", std::process::id()));
        let script = root.join("scripts/s3-server.sh");
        struct Stop(std::path::PathBuf, std::path::PathBuf);
        impl Drop for Stop {
            fn drop(&mut self) {
                let _ = std::process::Command::new(&self.0)
                    .arg("stop")
                    .arg(&self.1)
                    .output();
                let _ = std::fs::remove_dir_all(&self.1);
            }
        }
        let _stop = Stop(script.clone(), dir.clone());
        let out = std::process::Command::new(&script)
            .args(["start"])
            .arg(&dir)
            .args(["127.0.0.1", "18500"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env: BTreeMap<String, String> = std::fs::read_to_string(dir.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let admin = |args: &[&str]| {
            let o = std::process::Command::new("rclone")
                .arg("--config")
                .arg(dir.join("admin-rclone.conf"))
                .arg("--ca-cert")
                .arg(dir.join("ca.crt"))
                .args(args)
                .env_remove("AWS_CA_BUNDLE")
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        let f = dir.join("obj");
        let body = "age-encryption.org/v1 (not really)";
        std::fs::write(&f, body).unwrap();
        let f = f.to_str().unwrap();
        for key in [
            "shop/20261204T020000Z.tar.age",
            "shop/20261203T020000Z.tar.age",
            "shop/notes.txt",
            "other/20261205T020000Z.tar.age",
        ] {
            admin(&["copyto", f, &format!("s3:ovu-backups/{key}")]);
        }
        admin(&["mkdir", "s3:someone-elses"]);
        let endpoint = &env["S3_ENDPOINT"];
        let access = Access {
            key_id: env["S3_ACCESS_KEY_ID"].clone(),
            secret_key: env["S3_SECRET_ACCESS_KEY"].clone(),
            ca_pem: Some(std::fs::read(dir.join("ca.crt")).unwrap()),
        };
        let loc = parse_location("s3://ovu-backups/shop/").unwrap();
        let mut have = list(endpoint, "us-east-1", &loc, &access).await.unwrap();
        have.sort_by(|a, b| a.backup.cmp(&b.backup));
        let size = body.len() as u64;
        assert_eq!(
            have,
            vec![
                Object {
                    backup: "20261203T020000Z".into(),
                    size
                },
                Object {
                    backup: "20261204T020000Z".into(),
                    size
                },
            ]
        );
        let wrong = Access {
            key_id: access.key_id.clone(),
            secret_key: "0".repeat(40),
            ca_pem: access.ca_pem.clone(),
        };
        let e = list(endpoint, "us-east-1", &loc, &wrong)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("was refused: HTTP 403") && e.contains("--credentials-secret"),
            "{e}"
        );
        let no_ca = Access {
            key_id: access.key_id.clone(),
            secret_key: access.secret_key.clone(),
            ca_pem: None,
        };
        let e = list(endpoint, "us-east-1", &loc, &no_ca)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot list s3://ovu-backups/shop/") && e.contains("the CA"),
            "{e}"
        );
        let theirs = parse_location("s3://someone-elses/").unwrap();
        let e = list(endpoint, "us-east-1", &theirs, &access)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("listing s3://someone-elses/") && e.contains("was refused"),
            "{e}"
        );
    }
}
