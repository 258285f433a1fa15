//! `OvuSystemSpec::validate` on good specs and the rules' edge cases; the bad specs, each
//! refused with the field named, are the shared table run by `invalid.rs`.

use ovu_crds::{OvuSystemSpec, rules};
use serde_json::json;

fn spec(v: serde_json::Value) -> OvuSystemSpec {
    serde_json::from_value(v).unwrap()
}

fn fields(s: &OvuSystemSpec) -> Vec<String> {
    match s.validate() {
        Ok(()) => vec![],
        Err(e) => e.0.into_iter().map(|e| e.field).collect(),
    }
}

#[test]
fn good_full_spec_passes() {
    let s = spec(json!({
        "domain": "ovu.co.il",
        "placement": {"nodeLabel": "example.com/tier"},
        "frontend": {"image": "registry.local:5000/ovu/web@sha256:abc", "replicas": 3,
            "tls": {"mode": "CertManager", "issuerRef": {"name": "letsencrypt"}},
            "corsOrigins": ["https://portal.example.com", "http://localhost:5173"]},
        "database": {"redis": {"maxMemory": "1gb"}, "backup": {"schedule": "*/15 1-5 * * MON-FRI", "retain": 30}}
    }));
    assert_eq!(fields(&s), Vec::<String>::new());
}

#[test]
fn too_wide_trusted_networks_are_refused_with_the_reason() {
    let err = spec(json!({"domain": "ovu.co.il", "network": {"trustedProxies": ["0.0.0.0/0"]}}))
        .validate()
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!("spec.network.trustedProxies[0]: {}", rules::MSG_PROXY_WIDTH)
    );
    for ok in [
        "198.0.0.0/8",
        "2001:db8::/32",
        "198.19.1.7",
        "fd00::1",
        "not an address",
    ] {
        assert!(rules::is_narrow_enough(ok), "{ok}");
    }
    for bad in [
        "0.0.0.0/0",
        "128.0.0.0/1",
        "198.0.0.0/7",
        "::/0",
        "2001:db8::/31",
    ] {
        assert!(!rules::is_narrow_enough(bad), "{bad}");
    }
    // A good spec with PROXY protocol passes.
    let ok = spec(
        json!({"domain": "ovu.co.il", "network": {"trustedProxies": ["198.19.0.0/16"]},
        "frontend": {"exposure": {"type": "LoadBalancer", "proxyProtocol": {"trustedCidrs": ["198.18.0.0/24", "fd00:1::/64"]}}}}),
    );
    assert_eq!(fields(&ok), Vec::<String>::new());
}

#[test]
fn error_message_is_readable() {
    let err = spec(json!({"domain": "ovu.co.il", "frontend": {"tls": {"mode": "Secret"}}}))
        .validate()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.frontend.tls.secretName: tls.secretName is required when tls.mode is Secret"
    );
}

#[test]
fn rust_twins_agree_on_edge_cases() {
    assert!(
        rules::is_quantity("500m") && rules::is_quantity("1.5Gi") && !rules::is_quantity("1.Gi")
    );
    assert!(rules::is_system_name("ovu") && !rules::is_system_name("1ovu"));
    assert!(!rules::is_system_name(&"a".repeat(41)));
    assert!(rules::is_origin("https://a.b:8443") && !rules::is_origin("ftp://a.b"));
    for ok in [
        "10.244.0.0/16",
        "198.18.0.1",
        "fd00::/8",
        "::1",
        "0.0.0.0/0",
        "10.0.0.1/32",
    ] {
        assert!(rules::is_ip_or_cidr(ok), "{ok}");
    }
    for bad in [
        "",
        "10.244.0.0/33",
        "fd00::/129",
        "10.0.0/8",
        "010.0.0.1",
        "10.0.0.1/",
        "10.0.0.1/08",
        "fe80::1%eth0",
        "example.com",
        "10.0.0.1/8,10.1.0.0/16",
        " 10.0.0.1",
    ] {
        assert!(!rules::is_ip_or_cidr(bad), "{bad:?}");
    }
    assert!(
        rules::is_label_key("tier") && rules::is_label_key("a.b/c_d") && !rules::is_label_key("/x")
    );
    for ok in [
        "latest",
        "20261126T020000Z",
        "20261126T020000_1Z",
        "20261126T020000_1234Z",
    ] {
        assert!(rules::is_backup_name(ok), "{ok}");
    }
    for bad in [
        "",
        "Latest",
        "20261126T020000",
        "20261126020000Z",
        "2026112T020000Z",
        "20261126T020000_Z",
        "20261126T020000_12345Z",
        "../20261126T020000Z",
        "20261126T02000aZ",
    ] {
        assert!(!rules::is_backup_name(bad), "{bad:?}");
    }
}

#[test]
fn a_restore_spec_passes_and_defaults_to_the_latest_backup() {
    let s = spec(
        json!({"domain": "ovu.co.il", "database": {"restore": {"fromClaim": "shop-backups"}}}),
    );
    assert_eq!(fields(&s), Vec::<String>::new());
    assert_eq!(
        s.database.restore.as_ref().map(|r| r.backup.as_str()),
        Some("latest")
    );
}

#[test]
fn mail_settings_are_checked() {
    let ok = spec(json!({"domain": "ovu.co.il", "mail": {
        "smtp": {"host": "smtp.example.com", "port": 587, "tls": "StartTLS"},
        "from": "no-reply@ovu.co.il", "credentialsSecret": "ovu-smtp"}}));
    assert_eq!(fields(&ok), Vec::<String>::new());
    let minimal = spec(json!({"domain": "ovu.co.il", "mail": {
        "smtp": {"host": "10.0.0.5"}, "from": "a@b.c"}}));
    assert_eq!(fields(&minimal), Vec::<String>::new());
    let m = minimal.mail.unwrap();
    assert_eq!(
        m.smtp.tls,
        ovu_crds::SmtpTlsMode::StartTLS,
        "STARTTLS unless told otherwise"
    );
    assert_eq!(m.smtp.port, None);
    // The bad mail settings are cases of the shared table (tests/it/invalid.rs).
}

#[test]
fn mail_rules_match_their_cel_twins() {
    for good in ["no-reply@ovu.co.il", "a.b+c@x-y.example"] {
        assert!(rules::is_mail_address(good), "{good}");
    }
    for bad in ["@x.y", "a@", "a b@x.y", "a@x.y;", "a@-x.y", "<a@x.y>"] {
        assert!(!rules::is_mail_address(bad), "{bad}");
    }
    for good in ["mailpit", "smtp.example.com", "10.0.0.1", "::1"] {
        assert!(rules::is_host(good), "{good}");
    }
    for bad in ["", "Smtp.example.com", "h;rm", "h h"] {
        assert!(!rules::is_host(bad), "{bad}");
    }
}
