//! TLS material for `SelfSigned` mode: an operator-generated CA and a leaf certificate for the
//! system's names, renewed at two thirds of its lifetime.
//!
//! The CA key and certificate live in `<n>-ca`; the leaf in `<n>-tls` (kubernetes.io/tls, plus
//! `ca.crt`), with its validity window in annotations so renewal needs no X.509 parser. To sign
//! a new leaf the CA certificate object is rebuilt from its fixed parameters and its stored key:
//! same subject and key, so the new leaf chains to the stored CA certificate.

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
}
