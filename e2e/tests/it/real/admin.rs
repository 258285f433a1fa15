//! The bootstrap admin's sign-in, second factor included. `make up` runs the sample's default
//! `adminMfa: Required`, so an admin's password alone opens nothing but enrolment: the first
//! sign-in on a system (in any process) enrols a TOTP authenticator the way a person does
//! (`/auth/mfa/setup`, then `/auth/mfa/enable` with its first code) and keeps the key in the
//! test-owned Secret `<system>-e2e-admin-mfa`, so later sign-ins — this binary's, the browser
//! test's (web/e2e/cluster.test.mjs), the next run's — can answer the second step.
//!
//! ULM accepts a code only for a time step newer than the last one it accepted (no replay), so
//! the Secret's annotation `ovu.e2e/last-step` records each step used, whoever used it, and the
//! next sign-in takes a newer one (waiting up to a step when two sign-ins come close).
//! Tokens are kept per process for 10 minutes (admin tokens live 15): fewer sign-ins, fewer
//! steps spent, and the account's 5-logins-a-minute limit stays out of the way.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use totp_rs::{Algorithm, Secret as TotpKey, TOTP};

use super::{Patient, Target};

const STEP_SECS: u64 = 30;
const LAST_STEP: &str = "ovu.e2e/last-step";
const TOKEN_TTL: Duration = Duration::from_secs(600);

/// The newest step this process used (other processes' steps are in the Secret's annotation)
/// and whether the admin is known to be enrolled. Held while enrolling and answering a challenge.
static SESSION: Mutex<Session> = Mutex::const_new(Session {
    enrolled: false,
    last_step: 0,
});

/// This process's admin token; held through a whole sign-in so tests running at once share one.
static TOKEN: Mutex<Option<(String, Instant)>> = Mutex::const_new(None);

struct Session {
    enrolled: bool,
    last_step: u64,
}

fn now_step() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / STEP_SECS)
        .unwrap_or_default()
}

fn code_at(key_base32: &str, step: u64) -> anyhow::Result<String> {
    let key = TotpKey::Encoded(key_base32.to_string())
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("the stored TOTP key is not base32: {e:?}"))?;
    // `new_unchecked`: ULM's keys are 160 bits, which the checked constructor accepts too; the
    // unchecked one keeps a shorter key from a broken Secret an error at sign-in, not here.
    let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, STEP_SECS, key);
    Ok(totp.generate(step * STEP_SECS))
}

/// The bootstrap admin's e-mail and password, from `<system>-bootstrap-admin`.
pub(super) async fn credentials(t: &Target) -> anyhow::Result<(String, String)> {
    let secret = t.names().bootstrap_admin_secret();
    Ok((
        t.secret(&secret, "email").await?,
        t.secret(&secret, "password").await?,
    ))
}

fn mfa_secret_name(t: &Target) -> String {
    format!("{}-e2e-admin-mfa", t.system)
}

/// The stored TOTP key and the newest step any sign-in recorded, if the admin was enrolled by a test.
async fn stored_key(t: &Target) -> anyhow::Result<Option<(String, u64)>> {
    let api = Api::<Secret>::namespaced(t.cluster.client.clone(), &t.ns);
    let Some(s) = api.get_opt(&mfa_secret_name(t)).await? else {
        return Ok(None);
    };
    let key = s
        .data
        .as_ref()
        .and_then(|d| d.get("totp-key"))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        .context("the admin MFA Secret has no totp-key")?;
    let last = s
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LAST_STEP))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Some((key, last)))
}

async fn record_step(t: &Target, step: u64) -> anyhow::Result<()> {
    let api = Api::<Secret>::namespaced(t.cluster.client.clone(), &t.ns);
    api.patch(
        &mfa_secret_name(t),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {LAST_STEP: step.to_string()}}})),
    )
    .await
    .context("recording the TOTP step used")?;
    Ok(())
}

/// A code for a step newer than any used before (here or by another process), waiting for the
/// clock when the newest acceptable step (now + 1) is already spent.
async fn fresh_code(
    t: &Target,
    s: &mut Session,
    key: &str,
    stored_last: u64,
) -> anyhow::Result<(String, u64)> {
    let used = s.last_step.max(stored_last);
    loop {
        let now = now_step();
        let step = now.max(used + 1);
        if step <= now + 1 {
            let code = code_at(key, step)?;
            s.last_step = step;
            record_step(t, step).await?;
            return Ok((code, step));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Enrols the admin (whose password-only `token` may do nothing else) and stores the key.
async fn enrol(
    t: &Target,
    http: &reqwest::Client,
    token: &str,
    s: &mut Session,
) -> anyhow::Result<String> {
    let setup: Value = http
        .post(t.url("ulm", "/api/v1/auth/mfa/setup"))
        .bearer_auth(token)
        .send_patiently()
        .await?
        .error_for_status()
        .context("POST /auth/mfa/setup")?
        .json()
        .await?;
    let key = setup["secret"]
        .as_str()
        .context("mfa/setup answered without a secret")?
        .to_string();
    // Stored before it is turned on: a key ULM accepted but the tests lost would lock them out.
    let api = Api::<Secret>::namespaced(t.cluster.client.clone(), &t.ns);
    let mut data = BTreeMap::new();
    data.insert("totp-key".to_string(), ByteString(key.clone().into_bytes()));
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(mfa_secret_name(t)),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "ovu-e2e".to_string(),
            )])),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    match api.get_opt(&mfa_secret_name(t)).await? {
        Some(_) => {
            api.replace(&mfa_secret_name(t), &PostParams::default(), &secret)
                .await?;
        }
        None => {
            api.create(&PostParams::default(), &secret).await?;
        }
    }
    let (code, _) = fresh_code(t, s, &key, 0).await?;
    let r = http
        .post(t.url("ulm", "/api/v1/auth/mfa/enable"))
        .bearer_auth(token)
        .json(&json!({"code": code}))
        .send_patiently()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    ensure!(
        status.is_success(),
        "POST /auth/mfa/enable: {status} {body}"
    );
    ensure!(
        body["recovery_codes"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "enabling MFA showed no recovery codes: {body}"
    );
    Ok(key)
}

/// The answer to a password sign-in: the MFA challenge, or (an admin not yet enrolled) a token.
pub(super) enum FirstStep {
    Challenge(String),
    Token(String),
}

pub(super) fn first_step(body: &Value) -> anyhow::Result<FirstStep> {
    if body["mfa_required"] == true {
        let t = body["mfa_token"]
            .as_str()
            .context("mfa_required without mfa_token")?;
        return Ok(FirstStep::Challenge(t.to_string()));
    }
    match body["access_token"].as_str() {
        Some(t) => Ok(FirstStep::Token(t.to_string())),
        None => bail!("the sign-in answered neither a token nor an MFA challenge: {body}"),
    }
}

/// Enrols the bootstrap admin unless a test did before (its key is stored). Call it before a
/// password sign-in whose challenge [`complete`] answers: enabling MFA ends the admin's other
/// sessions, so enrolment must not overtake a sign-in half done.
pub(super) async fn ensure_enrolled(t: &Target, http: &reqwest::Client) -> anyhow::Result<()> {
    let mut s = SESSION.lock().await;
    if s.enrolled || stored_key(t).await?.is_some() {
        s.enrolled = true;
        return Ok(());
    }
    let (email, password) = credentials(t).await?;
    let r = t.login(http, &email, &password).await?;
    let status = r.status();
    let body: Value = r.json().await?;
    ensure!(status.is_success(), "admin login: {status} {body}");
    match first_step(&body)? {
        FirstStep::Token(token) => {
            enrol(t, http, &token, &mut s).await?;
        }
        FirstStep::Challenge(_) => bail!(
            "the admin has MFA on but no test stored its key (Secret <system>-e2e-admin-mfa): enrolled by hand?"
        ),
    }
    s.enrolled = true;
    Ok(())
}

/// Answers the MFA challenge of a password sign-in `first` (made by the caller, from wherever
/// it likes) with a fresh code; `second` sends the `/auth/login/mfa` body and returns the
/// answer's status and JSON.
pub(super) async fn complete<F, Fut>(t: &Target, first: &Value, second: F) -> anyhow::Result<String>
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(u16, Value)>>,
{
    let mut s = SESSION.lock().await;
    let challenge = match first_step(first)? {
        FirstStep::Challenge(c) => c,
        FirstStep::Token(_) => bail!(
            "the admin signed in without a second factor: call admin::ensure_enrolled before the password step"
        ),
    };
    let (key, stored_last) = stored_key(t)
        .await?
        .context("the admin has MFA on but no test stored its key (Secret <system>-e2e-admin-mfa): enrolled by hand?")?;
    let (code, step) = fresh_code(t, &mut s, &key, stored_last).await?;
    let (status, body) = second(json!({"mfa_token": challenge, "code": code})).await?;
    ensure!(
        (200..300).contains(&status),
        "admin MFA step (code for step {step}, now {}): {status} {body}",
        now_step()
    );
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .context("the MFA step answered without access_token")
}

/// An access token of the bootstrap admin with both factors (kept for 10 minutes per process).
pub(super) async fn token(t: &Target, http: &reqwest::Client) -> anyhow::Result<String> {
    let mut cached = TOKEN.lock().await;
    if let Some((tok, at)) = cached.as_ref()
        && at.elapsed() < TOKEN_TTL
    {
        return Ok(tok.clone());
    }
    ensure_enrolled(t, http).await?;
    let (email, password) = credentials(t).await?;
    let r = t.login(http, &email, &password).await?;
    let status = r.status();
    let first: Value = r.json().await?;
    ensure!(status.is_success(), "admin login: {status} {first}");
    let url = t.url("ulm", "/api/v1/auth/login/mfa");
    let tok = complete(t, &first, |body| {
        let rb = http.post(&url).json(&body);
        async move {
            let r = rb.send_patiently().await?;
            Ok((r.status().as_u16(), r.json().await?))
        }
    })
    .await?;
    *cached = Some((tok.clone(), Instant::now()));
    Ok(tok)
}
