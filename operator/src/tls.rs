//! TLS material for `SelfSigned` mode: an operator-generated CA and a leaf certificate for the
//! system's names, renewed at two thirds of its lifetime.
//!
//! The CA key and certificate live in `<n>-ca`; the leaf in `<n>-tls` (kubernetes.io/tls, plus
//! `ca.crt`), with its validity window in annotations so renewal needs no X.509 parser. To sign
//! a new leaf the CA certificate object is rebuilt from its fixed parameters and its stored key:
//! same subject and key, so the new leaf chains to the stored CA certificate.
//!
//! For `Secret` mode (a certificate the user brings) [`check_user_certificate`] reads the
//! Secret's PEM and says what is wrong with it, if anything, before nginx is left to serve it.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Leaf lifetime: 90 days, like public CAs; renewed after 60.
pub const LEAF_LIFETIME: SignedDuration = SignedDuration::from_hours(90 * 24);
/// CA lifetime: 10 years.
pub const CA_LIFETIME: SignedDuration = SignedDuration::from_hours(3650 * 24);

pub const NOT_BEFORE_ANNOTATION: &str = "ovu.co.il/not-before";
pub const NOT_AFTER_ANNOTATION: &str = "ovu.co.il/not-after";
/// The names the leaf was issued for (comma-separated), so a domain change reissues it.
pub const DNS_NAMES_ANNOTATION: &str = "ovu.co.il/dns-names";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("time out of range")]
    Time,
}

/// A PEM certificate and its PEM private key.
#[derive(Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem").field("key", &"<redacted>").finish()
    }
}

/// A leaf certificate and its validity window.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub pem: Pem,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

fn odt(t: Timestamp) -> Result<time::OffsetDateTime, TlsError> {
    time::OffsetDateTime::from_unix_timestamp(t.as_second()).map_err(|_| TlsError::Time)
}

fn ca_params(system: &str, now: Timestamp) -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "OVU");
    dn.push(DnType::CommonName, format!("OVU {system} CA"));
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = odt(now)?;
    p.not_after = odt(now + CA_LIFETIME)?;
    Ok(p)
}

/// A new CA for one system.
pub fn generate_ca(system: &str, now: Timestamp) -> Result<Pem, TlsError> {
    let key = KeyPair::generate()?;
    let cert = ca_params(system, now)?.self_signed(&key)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A leaf for `dns_names`, signed by the CA, valid from `now` for [`LEAF_LIFETIME`].
pub fn issue_leaf(
    ca: &Pem,
    system: &str,
    dns_names: &[String],
    now: Timestamp,
) -> Result<Leaf, TlsError> {
    let ca_key = KeyPair::from_pem(&ca.key)?;
    let ca_cert = ca_params(system, now)?.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(dns_names.to_vec())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "OVU");
    dn.push(
        DnType::CommonName,
        dns_names.first().cloned().unwrap_or_default(),
    );
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Backdate a little so clocks that are slightly behind accept it.
    let not_before = now - SignedDuration::from_mins(5);
    let not_after = now + LEAF_LIFETIME;
    p.not_before = odt(not_before)?;
    p.not_after = odt(not_after)?;
    let cert = p.signed_by(&key, &ca_cert, &ca_key)?;
    Ok(Leaf {
        pem: Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        },
        not_before,
        not_after,
    })
}

/// Two thirds into the validity window.
pub fn renew_after(not_before: Timestamp, not_after: Timestamp) -> Timestamp {
    let life = not_after.duration_since(not_before);
    not_before + life * 2 / 3
}

/// Whether a leaf valid over `[not_before, not_after]` should be replaced at `now`.
pub fn needs_renewal(now: Timestamp, not_before: Timestamp, not_after: Timestamp) -> bool {
    now >= renew_after(not_before, not_after)
}

/// What is wrong with a user-supplied certificate, as a condition reason and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertProblem {
    pub reason: &'static str,
    pub message: String,
}

/// The validity window of a certificate that passed the checks (or failed only on time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

fn problem(reason: &'static str, message: String) -> CertProblem {
    CertProblem { reason, message }
}

/// Whether a certificate name (`ulm.example.com`, `*.example.com`) covers `host`: a wildcard
/// stands for exactly one leftmost label, as browsers match it (RFC 6125 6.4.3).
fn name_covers(name: &str, host: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    match name.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => name == host,
    }
}

/// Checks the leaf (first) certificate of `cert_pem` and the key `key_pem` of a `Secret`-mode
/// TLS Secret against the host names nginx serves and the time `now`: it must parse, be within
/// its validity window, name every host in its subjectAltName (browsers ignore the common
/// name), and hold the public half of the key. Returns the validity window whenever the
/// certificate parses. See [`inspect_user_certificate`] and [`check_validity`], its two halves.
pub fn check_user_certificate(
    cert_pem: &[u8],
    key_pem: &[u8],
    hosts: &[String],
    now: Timestamp,
) -> (Option<Validity>, Result<(), CertProblem>) {
    let (validity, verdict) = inspect_user_certificate(cert_pem, key_pem, hosts);
    let verdict = match validity {
        Some(v) => check_validity(v, now).and(verdict),
        None => verdict,
    };
    (validity, verdict)
}

/// The checks that do not depend on the time (so their result can be kept while the Secret
/// is unchanged): the certificate parses, names every host, and matches the key. A key this
/// operator cannot read (e.g. a PKCS#1 RSA key) is not judged: nginx reads more formats than
/// we do, so only a key we can read and that does not match is reported.
pub fn inspect_user_certificate(
    cert_pem: &[u8],
    key_pem: &[u8],
    hosts: &[String],
) -> (Option<Validity>, Result<(), CertProblem>) {
    let unreadable = |why: String| {
        (
            None,
            Err(problem(
                "CertificateUnreadable",
                format!("tls.crt is not a PEM X.509 certificate: {why}"),
            )),
        )
    };
    let pem = match x509_parser::pem::Pem::iter_from_buffer(cert_pem).next() {
        Some(Ok(p)) if p.label == "CERTIFICATE" => p,
        Some(Ok(p)) => return unreadable(format!("its first PEM block is a {}", p.label)),
        Some(Err(e)) => return unreadable(e.to_string()),
        None => return unreadable("no PEM block found".into()),
    };
    let cert = match pem.parse_x509() {
        Ok(c) => c,
        Err(e) => return unreadable(e.to_string()),
    };
    let v = cert.validity();
    let (Ok(not_before), Ok(not_after)) = (
        Timestamp::from_second(v.not_before.timestamp()),
        Timestamp::from_second(v.not_after.timestamp()),
    ) else {
        return unreadable("its validity dates are out of range".into());
    };
    let validity = Some(Validity {
        not_before,
        not_after,
    });
    let names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => return unreadable(format!("its subjectAltName does not parse: {e}")),
    };
    let missing: Vec<&str> = hosts
        .iter()
        .filter(|h| !names.iter().any(|n| name_covers(n, h)))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let has = if names.is_empty() {
            "it has no DNS names in subjectAltName".to_string()
        } else {
            format!("it names {}", names.join(", "))
        };
        return (
            validity,
            Err(problem(
                "CertificateWrongNames",
                format!("tls.crt does not cover {} ({has})", missing.join(", ")),
            )),
        );
    }
    let key = std::str::from_utf8(key_pem)
        .ok()
        .and_then(|k| KeyPair::from_pem(k).ok());
    if let Some(key) = key
        && key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref()
    {
        return (
            validity,
            Err(problem(
                "CertificateKeyMismatch",
                "tls.key is not the private key of tls.crt".into(),
            )),
        );
    }
    (validity, Ok(()))
}

/// Whether `now` is inside the certificate's validity window.
pub fn check_validity(v: Validity, now: Timestamp) -> Result<(), CertProblem> {
    if now >= v.not_after {
        return Err(problem(
            "CertificateExpired",
            format!(
                "tls.crt expired at {}: put a renewed certificate in the Secret",
                v.not_after
            ),
        ));
    }
    if now < v.not_before {
        return Err(problem(
            "CertificateNotYetValid",
            format!(
                "tls.crt is not valid before {} (is a clock wrong?)",
                v.not_before
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_at_two_thirds() {
        let nb: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let na = nb + SignedDuration::from_hours(90 * 24);
        assert_eq!(
            renew_after(nb, na),
            "2026-03-02T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(!needs_renewal(
            nb + SignedDuration::from_hours(59 * 24),
            nb,
            na
        ));
        assert!(needs_renewal(
            nb + SignedDuration::from_hours(60 * 24),
            nb,
            na
        ));
    }

    #[test]
    fn leaf_is_signed_and_covers_the_names() {
        let now = Timestamp::now();
        let ca = generate_ca("ovu", now).unwrap();
        let names = vec!["ovu.co.il".to_string(), "ulm.ovu.co.il".to_string()];
        let leaf = issue_leaf(&ca, "ovu", &names, now).unwrap();
        assert!(leaf.pem.cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf.pem.key.contains("PRIVATE KEY"));
        assert_eq!(leaf.not_after.duration_since(now), LEAF_LIFETIME);
        assert!(!format!("{:?}", leaf.pem).contains("PRIVATE"));
    }

    fn hosts() -> Vec<String> {
        crate::render::frontend::dns_names("shop.example")
    }

    /// A self-signed certificate for `names`, valid over `[nb, na]` (seconds from `t0`).
    fn user_cert(names: &[&str], nb: i64, na: i64, t0: Timestamp) -> Pem {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.not_before = odt(t0 + SignedDuration::from_secs(nb)).unwrap();
        p.not_after = odt(t0 + SignedDuration::from_secs(na)).unwrap();
        Pem {
            cert: p.self_signed(&key).unwrap().pem(),
            key: key.serialize_pem(),
        }
    }

    fn check(p: &Pem, now: Timestamp) -> Result<(), CertProblem> {
        check_user_certificate(p.cert.as_bytes(), p.key.as_bytes(), &hosts(), now).1
    }

    fn reason(p: &Pem, now: Timestamp) -> &'static str {
        check(p, now).expect_err("a problem").reason
    }

    const ALL: [&str; 5] = [
        "shop.example",
        "www.shop.example",
        "ulm.shop.example",
        "aam.shop.example",
        "api.shop.example",
    ];

    #[test]
    fn a_good_user_certificate_passes_and_reports_its_window() {
        let t0: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        let good = user_cert(&ALL, -3600, 86400, t0);
        let (validity, verdict) =
            check_user_certificate(good.cert.as_bytes(), good.key.as_bytes(), &hosts(), t0);
        assert_eq!(verdict, Ok(()));
        let v = validity.unwrap();
        assert_eq!(v.not_after, t0 + SignedDuration::from_secs(86400));
        assert_eq!(v.not_before, t0 - SignedDuration::from_secs(3600));
        // A wildcard covers one label: with the apex named too, every host is covered.
        let wild = user_cert(&["shop.example", "*.shop.example"], -60, 60, t0);
        assert_eq!(check(&wild, t0), Ok(()));
        // A chain (leaf first, then its issuer) is judged by its leaf.
        let chain = Pem {
            cert: format!("{}{}", good.cert, wild.cert),
            key: good.key.clone(),
        };
        assert_eq!(check(&chain, t0), Ok(()));
    }

    #[test]
    fn expired_early_misnamed_mismatched_and_garbage_certificates_are_named() {
        let t0: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        let expired = user_cert(&ALL, -86400, -1, t0);
        let p = check(&expired, t0).unwrap_err();
        assert_eq!(p.reason, "CertificateExpired");
        assert!(p.message.contains("2026-05-31T23:59:59Z"), "{}", p.message);
        assert_eq!(
            reason(&user_cert(&ALL, 60, 86400, t0), t0),
            "CertificateNotYetValid"
        );

        let misnamed = user_cert(&["shop.example", "ulm.shop.example"], -60, 60, t0);
        let p = check(&misnamed, t0).unwrap_err();
        assert_eq!(p.reason, "CertificateWrongNames");
        assert!(
            p.message
                .contains("www.shop.example, aam.shop.example, api.shop.example"),
            "{}",
            p.message
        );
        // `*.shop.example` does not cover the apex, nor a name two labels down.
        let p = check(&user_cert(&["*.shop.example"], -60, 60, t0), t0).unwrap_err();
        assert!(
            p.message
                .starts_with("tls.crt does not cover shop.example ("),
            "{}",
            p.message
        );
        assert!(!name_covers("*.example", "ulm.shop.example"));
        assert!(name_covers("ULM.Shop.Example.", "ulm.shop.example"));

        let other = user_cert(&ALL, -60, 60, t0);
        let swapped = Pem {
            cert: user_cert(&ALL, -60, 60, t0).cert,
            key: other.key,
        };
        assert_eq!(reason(&swapped, t0), "CertificateKeyMismatch");

        for garbage in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let p = Pem {
                cert: garbage.into(),
                key: other_key(),
            };
            assert_eq!(reason(&p, t0), "CertificateUnreadable", "{garbage:?}");
        }
        let key_first = Pem {
            cert: other_key(),
            key: other_key(),
        };
        let p = check(&key_first, t0).unwrap_err();
        assert!(p.message.contains("PRIVATE KEY"), "{}", p.message);
    }

    fn other_key() -> String {
        KeyPair::generate().unwrap().serialize_pem()
    }

    /// A key this operator cannot read is not judged: nginx reads more formats.
    #[test]
    fn a_key_we_cannot_read_is_left_to_nginx() {
        let t0: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        let good = user_cert(&ALL, -60, 60, t0);
        let odd = Pem {
            cert: good.cert,
            key: "-----BEGIN RSA PRIVATE KEY-----\nnot really\n-----END RSA PRIVATE KEY-----\n"
                .into(),
        };
        assert_eq!(check(&odd, t0), Ok(()));
    }
}
