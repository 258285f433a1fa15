//! Secrets and TLS: the generated Secrets (made once, never overwritten) and the serving
//! certificate (its Secret, and in SelfSigned mode the CA and the leaf, renewed two thirds
//! through its life), reported as the CertificateReady condition.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use ovu_crds::{CertificateStatus, OvuSystem, TlsMode};
use serde_json::{Value, json};

use super::Error;
use super::cache;
use super::run::{Run, get_dynamic};
use crate::render::names::{Component, FIELD_MANAGER};
use crate::render::{self, Ctx, Facts, Kind};
use crate::status::{self, Cond};
use crate::{secrets, tls};

const STEP: &str = "tls";

/// The generated Secrets: created when missing, never overwritten (keys a newer version
/// needs are added).
pub async fn ensure_secrets(
    sys: &OvuSystem,
    facts: &Facts,
    run: &mut Run<'_>,
) -> Result<(), Error> {
    let rctx = Ctx::new(sys, facts)?;
    let generated = secrets::generate(&rctx).map_err(|_| Error::KeyGen)?;
    // Each missing one is a GET (never made twice) and a create: not one after the other.
    for (_, r) in run.ensure_all(&generated, |_, _| false).await {
        r?;
    }
    Ok(())
}

/// The hash of a TLS Secret's certificate (in the pod template: nginx rolls when it
/// changes). A cached Secret carries the digest of the value, which is this hash.
fn hash_secret_cert(v: &Value) -> Option<String> {
    v.pointer("/data/tls.crt").and_then(Value::as_str).map(|c| {
        c.strip_prefix(cache::DIGEST_PREFIX)
            .map_or_else(|| render::short_hash(&[c]), str::to_string)
    })
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn ts(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// The digest of one Secret value as the cache keeps it, whether `s` came from the cache
/// (already a digest) or from a GET (the value).
fn value_digest(s: &Value, key: &str) -> String {
    let v = s
        .pointer(&format!("/data/{key}"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if cache::is_digest(v) {
        v.to_string()
    } else {
        cache::digest(v)
    }
}

/// What [`tls::inspect_user_certificate`] said of a user's Secret, per namespace/name, with
/// the digests of the values and the hosts it was judged for.
type Inspected = (String, Option<tls::Validity>, Result<(), tls::CertProblem>);
static USER_CERTS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, Inspected>>,
> = std::sync::LazyLock::new(Default::default);

/// The time-independent checks of the certificate in a TLS Secret (the user's in `Secret`
/// mode; cert-manager's in `CertManager` mode, whose validity tells which certificate it
/// holds). The cache holds only digests of Secret values, so the values are read with a GET,
/// but only when the Secret (or the domain) changed since the last look: a steady-state
/// reconcile costs no request for it.
async fn user_certificate(
    client: &kube::Client,
    ns: &str,
    name: &str,
    cached: &Value,
    hosts: &[String],
) -> Result<(Option<tls::Validity>, Result<(), tls::CertProblem>), Error> {
    let key = format!("{ns}/{name}");
    let stamp = format!(
        "{} {} {}",
        value_digest(cached, "tls.crt"),
        value_digest(cached, "tls.key"),
        hosts.join(",")
    );
    let known = USER_CERTS
        .lock()
        .ok()
        .and_then(|m| m.get(&key).filter(|e| e.0 == stamp).cloned());
    if let Some((_, validity, verdict)) = known {
        return Ok((validity, verdict));
    }
    let Some(full) = get_dynamic(client, STEP, Kind::Secret, ns, name).await? else {
        return Ok((None, Ok(())));
    };
    let bytes = |k: &str| {
        use base64::Engine as _;
        full.pointer(&format!("/data/{k}"))
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default()
    };
    let (validity, verdict) =
        tls::inspect_user_certificate(&bytes("tls.crt"), &bytes("tls.key"), hosts);
    // Judged by what was read, under the digests of what was read (the Secret may have
    // changed between the cached view and the GET).
    let stamp = format!(
        "{} {} {}",
        value_digest(&full, "tls.crt"),
        value_digest(&full, "tls.key"),
        hosts.join(",")
    );
    if let Ok(mut m) = USER_CERTS.lock() {
        m.insert(key, (stamp, validity, verdict.clone()));
    }
    Ok((validity, verdict))
}

/// Make sure the serving certificate exists (and is fresh, in SelfSigned mode); report it.
pub async fn ensure_tls(
    sys: &OvuSystem,
    facts: &mut Facts,
    run: &mut Run<'_>,
    now: Timestamp,
) -> Result<(Cond, CertificateStatus), Error> {
    let rctx = Ctx::new(sys, facts)?;
    let ns = rctx.ns.clone();
    let names = rctx.names.clone();
    let mode = sys.spec.frontend.tls.mode;
    let mut cs = CertificateStatus {
        mode,
        secret_name: rctx.tls_secret_name(),
        ..Default::default()
    };
    let client = run.client;
    let cond = match mode {
        TlsMode::Disabled => Cond::new(
            status::CERTIFICATE_READY,
            true,
            "Disabled",
            "TLS is disabled: the sites are served over plain HTTP",
        ),
        TlsMode::Secret => {
            let name = sys
                .spec
                .frontend
                .tls
                .secret_name
                .clone()
                .unwrap_or_default();
            match run.get(STEP, Kind::Secret, &ns, &name).await? {
                Some(s)
                    if s.pointer("/data/tls.crt").is_some()
                        && s.pointer("/data/tls.key").is_some() =>
                {
                    facts.tls_hash = hash_secret_cert(&s);
                    let hosts = render::frontend::dns_names(&sys.spec.domain);
                    let (validity, verdict) =
                        user_certificate(client, &ns, &name, &s, &hosts).await?;
                    let verdict = match validity {
                        Some(v) => tls::check_validity(v, now).and(verdict),
                        None => verdict,
                    };
                    cs.not_after = validity.map(|v| Time(v.not_after));
                    match verdict {
                        Ok(()) => Cond::new(
                            status::CERTIFICATE_READY,
                            true,
                            "SecretPresent",
                            format!("using Secret {name}"),
                        ),
                        Err(p) => Cond::new(
                            status::CERTIFICATE_READY,
                            false,
                            p.reason,
                            format!("Secret {name}: {}", p.message),
                        ),
                    }
                }
                Some(_) => Cond::new(
                    status::CERTIFICATE_READY,
                    false,
                    "SecretIncomplete",
                    format!("Secret {name} lacks tls.crt or tls.key"),
                ),
                None => Cond::new(
                    status::CERTIFICATE_READY,
                    false,
                    "SecretMissing",
                    format!("Secret {name} not found in namespace {ns}"),
                ),
            }
        }
        TlsMode::CertManager => {
            let secret = names.tls_secret();
            let in_secret = match run.get(STEP, Kind::Secret, &ns, &secret).await? {
                Some(s) if s.pointer("/data/tls.crt").is_some() => {
                    facts.tls_hash = hash_secret_cert(&s);
                    let hosts = render::frontend::dns_names(&sys.spec.domain);
                    user_certificate(client, &ns, &secret, &s, &hosts).await?.0
                }
                _ => None,
            };
            match run
                .get(STEP, Kind::Certificate, &ns, &names.certificate())
                .await?
            {
                Some(c) => {
                    cs.not_after = c
                        .pointer("/status/notAfter")
                        .and_then(Value::as_str)
                        .and_then(ts)
                        .map(Time);
                    cs.renew_after = c
                        .pointer("/status/renewalTime")
                        .and_then(Value::as_str)
                        .and_then(ts)
                        .map(Time);
                    let ready = c
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .and_then(|a| a.iter().find(|x| x["type"] == "Ready"));
                    match ready {
                        // cert-manager writes the Secret, then the Certificate's status, and
                        // the two reach this operator on separate watches: a Ready Certificate
                        // whose Secret this reconcile still sees with the temporary (or the
                        // previous) certificate would make the system Ready before nginx was
                        // rolled onto the issued one. Ready only when the Secret's leaf is the
                        // certificate cert-manager reports (its notAfter); its change rolls
                        // nginx (`tls_hash`), and the verdict waits for that rollout.
                        Some(r)
                            if r["status"] == "True"
                                && cs.not_after.is_some()
                                && in_secret.map(|v| v.not_after)
                                    != cs.not_after.as_ref().map(|t| t.0) =>
                        {
                            Cond::new(
                                status::CERTIFICATE_READY,
                                false,
                                "SecretNotUpdated",
                                format!(
                                    "cert-manager reports the Certificate ready; Secret {secret} \
                                     does not hold it yet ({})",
                                    match in_secret {
                                        Some(v) =>
                                            format!("its certificate expires {}", v.not_after),
                                        None => "no readable certificate".to_string(),
                                    }
                                ),
                            )
                        }
                        Some(r) if r["status"] == "True" => Cond::new(
                            status::CERTIFICATE_READY,
                            true,
                            "Issued",
                            "cert-manager reports the Certificate ready",
                        ),
                        Some(r) => Cond::new(
                            status::CERTIFICATE_READY,
                            false,
                            "NotIssued",
                            format!(
                                "cert-manager: {}",
                                r["message"].as_str().unwrap_or("not ready")
                            ),
                        ),
                        None => Cond::new(
                            status::CERTIFICATE_READY,
                            false,
                            "Pending",
                            "waiting for cert-manager to issue the Certificate",
                        ),
                    }
                }
                None => Cond::new(
                    status::CERTIFICATE_READY,
                    false,
                    "Pending",
                    "the Certificate is created with the frontend tier; waiting for cert-manager",
                ),
            }
        }
        TlsMode::SelfSigned => {
            let system = names.system.clone();
            // Both made here, not by the renderers: prune must keep them.
            run.keep(Kind::Secret, &names.ca_secret());
            run.keep(Kind::Secret, &names.tls_secret());
            // The CA: created once. The cache has only the digests of its values: they are
            // read (with a GET) when a leaf is issued.
            let ca_live = run.get(STEP, Kind::Secret, &ns, &names.ca_secret()).await?;
            let mut ca_pem = ca_live
                .as_ref()
                .and_then(|s| decode_pem(s, "ca.crt", "ca.key"));
            let ca_there = ca_live.as_ref().is_some_and(|s| {
                s.pointer("/data/ca.crt").is_some() && s.pointer("/data/ca.key").is_some()
            });
            if !ca_there {
                ca_pem = Some(new_ca(&rctx, run, now).await?);
            }
            // The leaf: issued when missing, two thirds through its life, or issued for
            // other names (the domain changed).
            let dns_names = render::frontend::dns_names(&sys.spec.domain);
            let dns_joined = dns_names.join(",");
            let leaf_live = run
                .get(STEP, Kind::Secret, &ns, &names.tls_secret())
                .await?;
            let window = leaf_live.as_ref().and_then(|s| {
                let a = s.pointer("/metadata/annotations")?;
                if a.get(tls::DNS_NAMES_ANNOTATION)?.as_str()? != dns_joined {
                    return None;
                }
                let nb = ts(a.get(tls::NOT_BEFORE_ANNOTATION)?.as_str()?)?;
                let na = ts(a.get(tls::NOT_AFTER_ANNOTATION)?.as_str()?)?;
                s.pointer("/data/tls.crt")?;
                Some((nb, na))
            });
            let (nb, na, hash) = match (window, &leaf_live) {
                (Some((nb, na)), Some(s)) if !tls::needs_renewal(now, nb, na) => {
                    (nb, na, hash_secret_cert(s))
                }
                _ => {
                    let ca = match ca_pem {
                        Some(ca) => ca,
                        None => {
                            match get_dynamic(client, STEP, Kind::Secret, &ns, &names.ca_secret())
                                .await?
                                .and_then(|s| decode_pem(&s, "ca.crt", "ca.key"))
                            {
                                Some(ca) => ca,
                                None => new_ca(&rctx, run, now).await?,
                            }
                        }
                    };
                    let leaf = tls::issue_leaf(&ca, &system, &dns_names, now)?;
                    let mut meta = rctx.meta(&names.tls_secret(), Component::Frontend);
                    meta["annotations"] = json!({
                        tls::NOT_BEFORE_ANNOTATION: leaf.not_before.to_string(),
                        tls::NOT_AFTER_ANNOTATION: leaf.not_after.to_string(),
                        tls::DNS_NAMES_ANNOTATION: dns_joined,
                    });
                    let obj = json!({
                        "apiVersion": "v1", "kind": "Secret", "metadata": meta,
                        "type": "kubernetes.io/tls",
                        "data": {"tls.crt": b64(&leaf.pem.cert), "tls.key": b64(&leaf.pem.key), "ca.crt": b64(&ca.cert)},
                    });
                    let api: Api<DynamicObject> =
                        Api::namespaced_with(client.clone(), &ns, &Kind::Secret.api_resource());
                    api.patch(
                        &names.tls_secret(),
                        &PatchParams::apply(FIELD_MANAGER).force(),
                        &Patch::Apply(&obj),
                    )
                    .await
                    .map_err(|e| Error::ApplyChild {
                        kind: "Secret".into(),
                        name: names.tls_secret(),
                        source: e.into(),
                    })?;
                    run.changes.push(if leaf_live.is_some() {
                        format!("renewed certificate in Secret {}", names.tls_secret())
                    } else {
                        format!("issued certificate into Secret {}", names.tls_secret())
                    });
                    let h = obj
                        .pointer("/data/tls.crt")
                        .and_then(Value::as_str)
                        .map(|c| render::short_hash(&[c]));
                    (leaf.not_before, leaf.not_after, h)
                }
            };
            facts.tls_hash = hash;
            cs.not_after = Some(Time(na));
            cs.renew_after = Some(Time(tls::renew_after(nb, na)));
            Cond::new(
                status::CERTIFICATE_READY,
                true,
                "Issued",
                format!("self-signed certificate valid until {na}"),
            )
        }
    };
    Ok((cond, cs))
}

/// Make the CA (create-only: an existing one is kept, see `apply::ensure`).
async fn new_ca(rctx: &Ctx<'_>, run: &mut Run<'_>, now: Timestamp) -> Result<tls::Pem, Error> {
    let names = &rctx.names;
    let ca = tls::generate_ca(&names.system, now)?;
    let child = rctx.child_with_meta(
        Kind::Secret,
        &names.ca_secret(),
        rctx.meta(&names.ca_secret(), Component::Frontend),
        json!({"type": "Opaque", "data": {"ca.crt": b64(&ca.cert), "ca.key": b64(&ca.key)}}),
        true,
    );
    run.ensure(&child).await?;
    Ok(ca)
}

fn decode_pem(s: &Value, cert: &str, key: &str) -> Option<tls::Pem> {
    use base64::Engine as _;
    let d = |k: &str| -> Option<String> {
        let b = s
            .pointer(&format!("/data/{}", k.replace('/', "~1")))?
            .as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
        String::from_utf8(bytes).ok()
    };
    Some(tls::Pem {
        cert: d(cert)?,
        key: d(key)?,
    })
}
