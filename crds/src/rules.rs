//! The validation rules, once as CEL (for the API server) and once as Rust (for the operator).
//!
//! Each `CEL_*` constant is embedded in the CRD schema; the matching `is_*` function accepts
//! exactly the same strings, so a spec the API server accepts is one the operator accepts.
//! The character sets are deliberately narrow: these values end up in nginx configuration,
//! shell arguments and container specs, and none of the allowed characters can break out of
//! a quoted or unquoted context there (no spaces, quotes, `;`, `$`, braces or newlines).

/// `spec.domain`: a lowercase DNS name with at least two labels.
pub const CEL_DOMAIN: &str =
    r"self.matches('^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$')";
/// Message for [`CEL_DOMAIN`].
pub const MSG_DOMAIN: &str = "domain must be a lowercase DNS name such as ovu.co.il (letters, digits, hyphens, dots; at least two labels)";

/// A Kubernetes label key (optional DNS prefix, then a name).
pub const CEL_LABEL_KEY: &str = r"self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')";
/// Message for [`CEL_LABEL_KEY`].
pub const MSG_LABEL_KEY: &str = "placement.nodeLabel must be a label key such as ovu.co.il/tier";

/// A container image reference: non-empty, no whitespace or shell characters.
pub const CEL_IMAGE: &str = r"self.matches('^[A-Za-z0-9][A-Za-z0-9._/:@-]*$')";
/// Message for [`CEL_IMAGE`].
pub const MSG_IMAGE: &str = "image must be a non-empty image reference such as ovu/ulm:0.1.0 (letters, digits and . _ / : @ -)";

/// A browser origin for CORS.
pub const CEL_ORIGIN: &str =
    r"self.matches('^https?://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$')";
/// Message for [`CEL_ORIGIN`].
pub const MSG_ORIGIN: &str = "each corsOrigins entry must be an origin such as https://portal.example.com (scheme, lowercase host, optional port; no path)";

/// An IP address or CIDR (Kubernetes' CEL network library, API servers ≥ 1.31).
pub const CEL_IP_OR_CIDR: &str = "isIP(self) || isCIDR(self)";
/// Message for [`CEL_IP_OR_CIDR`].
pub const MSG_IP_OR_CIDR: &str =
    "each trustedProxies entry must be an IP address or CIDR such as 10.244.0.0/16 or fd00::/8";

/// A trusted network no wider than /8 (IPv4) or /32 (IPv6): every address in it can claim any
/// client address, so `0.0.0.0/0` or a typo'd `/1` would let anyone pick their rate-limit
/// bucket and audit address. ULM and AAM refuse the same widths in `TRUSTED_PROXIES`.
pub const CEL_PROXY_WIDTH: &str =
    "!isCIDR(self) || cidr(self).prefixLength() >= (cidr(self).ip().family() == 4 ? 8 : 32)";
/// Message for [`CEL_PROXY_WIDTH`] on `network.trustedProxies`.
pub const MSG_PROXY_WIDTH: &str = "each trustedProxies entry must be no wider than /8 (IPv4) or /32 (IPv6): every address in it can claim any client address";
/// Message for an entry of `exposure.proxyProtocol.trustedCidrs` that is not an address.
pub const MSG_PP_IP_OR_CIDR: &str = "each proxyProtocol.trustedCidrs entry must be an IP address or CIDR such as 198.18.0.0/24 or fd00::/64";
/// Message for [`CEL_PROXY_WIDTH`] on `exposure.proxyProtocol.trustedCidrs`.
pub const MSG_PP_WIDTH: &str = "each proxyProtocol.trustedCidrs entry must be no wider than /8 (IPv4) or /32 (IPv6): every address in it can claim any client address";

/// A DNS-1123 subdomain (Secret, issuer, StorageClass names).
pub const CEL_DNS_SUBDOMAIN: &str = r"self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')";
/// Message for a Secret name.
pub const MSG_SECRET_NAME: &str =
    "tls.secretName must be a Secret name (lowercase letters, digits, hyphens, dots)";
/// Message for `spec.imagePullSecrets[].name`.
pub const MSG_PULL_SECRET: &str = "each imagePullSecrets entry must name a Secret such as registry-credentials (lowercase letters, digits, hyphens, dots)";
/// Message for `spec.mail.credentialsSecret`.
pub const MSG_MAIL_SECRET: &str =
    "mail.credentialsSecret must be a Secret name (lowercase letters, digits, hyphens, dots)";
/// A DNS-1123 label (namespace names).
pub const CEL_DNS_LABEL: &str = r"self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')";
/// Message for `spec.monitoring.prometheusNamespace`.
pub const MSG_PROMETHEUS_NAMESPACE: &str = "monitoring.prometheusNamespace must be a namespace name such as monitoring (lowercase letters, digits, hyphens; at most 63)";
/// Message for an issuer name.
pub const MSG_ISSUER_NAME: &str =
    "issuerRef.name must be an issuer name (lowercase letters, digits, hyphens, dots)";

/// A Kubernetes quantity in the forms people write (`500m`, `1`, `256Mi`, `10Gi`).
pub const CEL_QUANTITY: &str = r"self.matches('^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$')";
/// Message for [`CEL_QUANTITY`].
pub const MSG_QUANTITY: &str = "must be a quantity such as 500m, 1, 256Mi or 10Gi";

/// Redis `maxmemory`.
pub const CEL_REDIS_MEMORY: &str = r"self.matches('^[0-9]{1,12}(kb|mb|gb)$')";
/// Message for [`CEL_REDIS_MEMORY`].
pub const MSG_REDIS_MEMORY: &str =
    "redis.maxMemory must be digits followed by kb, mb or gb, such as 256mb";

/// A 5-field cron expression.
pub const CEL_CRON: &str = r"self.matches('^[0-9*/,A-Za-z?-]+( [0-9*/,A-Za-z?-]+){4}$')";
/// Message for [`CEL_CRON`].
pub const MSG_CRON: &str = "backup.schedule must be a 5-field cron expression such as \"0 2 * * *\" (minute hour day-of-month month day-of-week, single spaces)";

/// Storage is fixed once created (a transition rule: only checked on update).
pub const CEL_STORAGE_IMMUTABLE: &str = "self.size == oldSelf.size && (has(self.storageClassName) ? self.storageClassName : '') == (has(oldSelf.storageClassName) ? oldSelf.storageClassName : '')";

/// Which backup to restore: `latest`, or a backup's folder name as the backup Job makes it
/// (`<UTC timestamp>Z`, with `_<n>` for a second backup within the same second).
pub const CEL_BACKUP_NAME: &str =
    r"self == 'latest' || self.matches('^[0-9]{8}T[0-9]{6}(_[0-9]{1,4})?Z$')";
/// Message for [`CEL_BACKUP_NAME`].
pub const MSG_BACKUP_NAME: &str =
    "restore.backup must be latest or a backup name such as 20261126T020000Z";
/// Message for a restore source claim name.
pub const MSG_RESTORE_CLAIM: &str = "restore.fromClaim must be a PersistentVolumeClaim name such as shop-backups (lowercase letters, digits, hyphens, dots)";
/// A restore bootstraps a new system: it cannot be added to a running system or changed
/// (a transition rule on `spec.database`); removing it once done is fine.
pub const CEL_RESTORE_ONCE: &str =
    "has(self.restore) ? (has(oldSelf.restore) && self.restore == oldSelf.restore) : true";
/// Message for [`CEL_RESTORE_ONCE`].
pub const MSG_RESTORE_ONCE: &str = "database.restore only bootstraps a new system: it cannot be added to an existing OvuSystem or changed (create a new OvuSystem to restore; removing restore is allowed)";

/// Node ports only make sense for a NodePort Service.
pub const CEL_NODE_PORTS: &str =
    "self.type == 'NodePort' || (!has(self.httpNodePort) && !has(self.httpsNodePort))";

/// The OvuSystem name: children are `<name>-<component>` and must stay valid Service names.
pub const MAX_NAME_LEN: usize = 40;

fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `spec.mail.from`: a bare mail address with a lowercase DNS domain.
pub const CEL_MAIL_ADDRESS: &str =
    r"self.matches('^[A-Za-z0-9._%+-]+@[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')";
/// Message for [`CEL_MAIL_ADDRESS`].
pub const MSG_MAIL_ADDRESS: &str = "mail.from must be a bare address such as no-reply@ovu.co.il (no display name; lowercase domain)";

/// `spec.mail.smtp.host`: a lowercase DNS name or an IP address.
pub const CEL_HOST: &str = r"isIP(self) || self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')";
/// Message for [`CEL_HOST`].
pub const MSG_SMTP_HOST: &str =
    "mail.smtp.host must be a host name such as smtp.example.com or an IP address";

/// Rust twin of [`CEL_DOMAIN`] (plus its maxLength).
pub fn is_domain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 || !labels.iter().all(|l| is_dns_label(l, 63)) {
        return false;
    }
    labels
        .last()
        .is_some_and(|l| l.as_bytes()[0].is_ascii_lowercase())
}

/// Rust twin of [`CEL_LABEL_KEY`].
pub fn is_label_key(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && (p.is_empty() || !p.split('.').all(|l| is_dns_label(l, 253)))
    {
        return false;
    }
    let nb = name.as_bytes();
    !name.is_empty()
        && name.len() <= 63
        && nb[0].is_ascii_alphanumeric()
        && nb[nb.len() - 1].is_ascii_alphanumeric()
        && nb
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Rust twin of [`CEL_IMAGE`].
pub fn is_image(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b':' | b'@' | b'-')
        })
}

/// Rust twin of [`CEL_IP_OR_CIDR`]: an IPv4 or IPv6 address, optionally with a prefix
/// length that fits it (`/0`–`/32`, `/0`–`/128`). Zones and leading zeros are refused, as
/// the API server does.
pub fn is_ip_or_cidr(s: &str) -> bool {
    if s.len() > 49 {
        return false;
    }
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    match prefix {
        None => true,
        Some(p) => {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
                && p.parse::<u8>().is_ok_and(|n| n <= max)
        }
    }
}

/// Rust twin of [`CEL_PROXY_WIDTH`]: true for single addresses, for CIDRs no wider than /8
/// (IPv4) or /32 (IPv6), and for anything that is not a CIDR (that is [`is_ip_or_cidr`]'s job).
pub fn is_narrow_enough(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return true;
    };
    let (Ok(ip), Ok(n)) = (addr.parse::<std::net::IpAddr>(), prefix.parse::<u8>()) else {
        return true;
    };
    n >= if ip.is_ipv4() { 8 } else { 32 }
}

/// Rust twin of [`CEL_ORIGIN`].
pub fn is_origin(s: &str) -> bool {
    if s.len() > 255 {
        return false;
    }
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    is_dns_subdomain(host)
}

/// Rust twin of [`CEL_MAIL_ADDRESS`] (plus its length bounds).
pub fn is_mail_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    (3..=254).contains(&s.len())
        && !local.is_empty()
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-'))
        && is_dns_subdomain(domain)
}

/// Rust twin of [`CEL_HOST`].
pub fn is_host(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok() || is_dns_subdomain(s)
}

/// Rust twin of [`CEL_DNS_SUBDOMAIN`].
pub fn is_dns_subdomain(s: &str) -> bool {
    let b = s.as_bytes();
    !s.is_empty()
        && s.len() <= 253
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
}

/// Rust twin of [`CEL_DNS_LABEL`] (with the schema's length limit of 63): a namespace name.
pub fn is_namespace_name(s: &str) -> bool {
    is_dns_label(s, 63)
}

/// Rust twin of [`CEL_QUANTITY`].
pub fn is_quantity(s: &str) -> bool {
    if s.is_empty() || s.len() > 32 {
        return false;
    }
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_end);
    let num_ok = match num.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => !num.is_empty(),
    };
    num_ok
        && matches!(
            suffix,
            "" | "m" | "k" | "M" | "G" | "T" | "Ki" | "Mi" | "Gi" | "Ti"
        )
}

/// Rust twin of [`CEL_REDIS_MEMORY`].
pub fn is_redis_memory(s: &str) -> bool {
    let Some(num) = s
        .strip_suffix("kb")
        .or_else(|| s.strip_suffix("mb"))
        .or_else(|| s.strip_suffix("gb"))
    else {
        return false;
    };
    !num.is_empty() && num.len() <= 12 && num.bytes().all(|c| c.is_ascii_digit())
}

/// Rust twin of [`CEL_CRON`].
pub fn is_cron(s: &str) -> bool {
    let fields: Vec<&str> = s.split(' ').collect();
    s.len() <= 100
        && fields.len() == 5
        && fields.iter().all(|f| {
            !f.is_empty()
                && f.bytes().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'*' | b'/' | b',' | b'-' | b'?')
                })
        })
}

/// The message of the CRD's top-level rule on `metadata.name` (the rule is the
/// `#[kube(validation)]` of `OvuSystemSpec`; [`is_system_name`] is its twin).
pub const MSG_SYSTEM_NAME: &str = "metadata.name must be a DNS label of at most 40 characters starting with a letter (child objects are named <name>-<component>)";

/// Whether an OvuSystem name is short and simple enough for every child name.
pub fn is_system_name(s: &str) -> bool {
    is_dns_label(s, MAX_NAME_LEN) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Rust twin of [`CEL_BACKUP_NAME`].
pub fn is_backup_name(s: &str) -> bool {
    if s == "latest" {
        return true;
    }
    let Some(body) = s.strip_suffix('Z') else {
        return false;
    };
    let (stamp, n) = match body.split_once('_') {
        Some((t, n)) => (t, Some(n)),
        None => (body, None),
    };
    let b = stamp.as_bytes();
    b.len() == 15
        && b[8] == b'T'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || c.is_ascii_digit())
        && n.is_none_or(|n| (1..=4).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit()))
}

/// `s3.endpoint`: the S3 server's base URL, scheme and host (name or IPv4) and an optional
/// port, no path or credentials: it is written into the backup tool's configuration file.
pub const CEL_S3_ENDPOINT: &str =
    r"self.matches('^https?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?$')";
/// Message for [`CEL_S3_ENDPOINT`].
pub const MSG_S3_ENDPOINT: &str = "s3.endpoint must be the S3 server's URL such as https://s3.example.com or https://198.18.0.5:8333 (scheme, host, optional port; no path)";

/// `s3.bucket`: S3's bucket naming rules (3–63 lowercase letters, digits, hyphens, dots).
pub const CEL_S3_BUCKET: &str = r"self.matches('^[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]$')";
/// Message for [`CEL_S3_BUCKET`].
pub const MSG_S3_BUCKET: &str = "s3.bucket must be a bucket name such as ovu-backups (3 to 63 lowercase letters, digits, hyphens, dots)";

/// `s3.prefix`: folders inside the bucket, `a/b/` or `a/b`; no `.` or `..` segment (the tool
/// resolves those, so the backups would land outside the folder the user named).
pub const CEL_S3_PREFIX: &str =
    r"self.matches('^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/?$') && !self.matches('(^|/)[.][.]?(/|$)')";
/// Message for [`CEL_S3_PREFIX`].
pub const MSG_S3_PREFIX: &str = "s3.prefix must be folders inside the bucket such as shop/ or backups/shop/ (letters, digits, . _ - separated by /; no . or .. folder)";

/// Message for `s3.region` (checked with [`CEL_DNS_LABEL`]).
pub const MSG_S3_REGION: &str =
    "s3.region must be a region name such as us-east-1 (lowercase letters, digits, hyphens)";

/// A key inside a Secret or ConfigMap.
pub const CEL_CONFIG_KEY: &str = r"self.matches('^[-._a-zA-Z0-9]+$')";
/// Message for [`CEL_CONFIG_KEY`].
pub const MSG_CONFIG_KEY: &str =
    "must be a key of a Secret or ConfigMap such as ca.crt (letters, digits, - _ .)";

/// Message for a Secret or ConfigMap name in `destination` or `fromBucket`.
pub const MSG_OBJECT_NAME: &str = "must be the name of a Secret or ConfigMap in this namespace (lowercase letters, digits, hyphens, dots)";

/// The CA comes from one place.
pub const CEL_ONE_CA: &str = "!(has(self.caSecret) && has(self.caConfigMap))";
/// Message for [`CEL_ONE_CA`].
pub const MSG_ONE_CA: &str = "s3: give the CA certificate in caSecret or in caConfigMap, not both";

/// A restore has exactly one source.
pub const CEL_RESTORE_SOURCE: &str = "has(self.fromClaim) != has(self.fromBucket)";
/// Message for [`CEL_RESTORE_SOURCE`].
pub const MSG_RESTORE_SOURCE: &str = "database.restore needs exactly one source: fromClaim (a backup volume in this namespace) or fromBucket (an off-site bucket)";

/// Rust twin of [`CEL_S3_ENDPOINT`].
pub fn is_s3_endpoint(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let hb = host.as_bytes();
    !hb.is_empty()
        && hb[0].is_ascii_alphanumeric()
        && hb[hb.len() - 1].is_ascii_alphanumeric()
        && hb
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.'))
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
}

/// Rust twin of [`CEL_S3_BUCKET`].
pub fn is_s3_bucket(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
}

/// Rust twin of [`CEL_S3_PREFIX`].
pub fn is_s3_prefix(s: &str) -> bool {
    let body = s.strip_suffix('/').unwrap_or(s);
    !body.is_empty()
        && body.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        })
}

/// Rust twin of [`CEL_CONFIG_KEY`].
pub fn is_config_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

/// Rust twin of [`CEL_DNS_LABEL`] for `s3.region`.
pub fn is_region(s: &str) -> bool {
    is_dns_label(s, 63)
}
