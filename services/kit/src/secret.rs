//! A URL that may carry a password (PostgreSQL, Redis). It prints only redacted — `Debug`
//! and `Display` replace the password with `***` — so a logged config, an error message or
//! a panic never shows the credential; the one place that connects asks for it with
//! [`SecretUrl::expose`]. It implements no `Serialize` either, for the same reason.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the client that connects. Never log this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password, if any, replaced by `***`; a URL that does not parse
    /// prints as `<unparsable URL>` (it might still hold a password somewhere).
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(u) => u.to_string(),
            Err(_) => "<unparsable URL>".into(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretUrl").field(&self.redacted()).finish()
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_password() {
        for (url, shown) in [
            (
                "postgres://ulm_user:p%40ss%2Fw%3Ard@db:5432/ulm_db?sslmode=disable",
                "postgres://ulm_user:***@db:5432/ulm_db?sslmode=disable",
            ),
            (
                "redis://default:r3dis@127.0.0.1:6379/0",
                "redis://default:***@127.0.0.1:6379/0",
            ),
            // A password without a user name.
            ("redis://:r3dis@h/0", "redis://:***@h/0"),
        ] {
            let s = SecretUrl::new(url);
            assert_eq!(s.expose(), url);
            assert_eq!(s.to_string(), shown);
            assert_eq!(format!("{s:?}"), format!("SecretUrl({shown:?})"));
            // Also inside a struct's derived Debug, pretty or not.
            #[derive(Debug)]
            #[allow(dead_code)]
            struct Cfg {
                url: SecretUrl,
            }
            let cfg = Cfg { url: s.clone() };
            for printed in [format!("{cfg:?}"), format!("{cfg:#?}")] {
                assert!(
                    !printed.contains("r3dis") && !printed.contains("p%40ss"),
                    "{printed}"
                );
                assert!(printed.contains("***"), "{printed}");
            }
        }
        // Without a password the URL prints as it is.
        assert_eq!(SecretUrl::new("redis://h/0").to_string(), "redis://h/0");
        // Something that does not parse is not printed at all: it may hold a password.
        let odd = SecretUrl::new("postgres://u:secret@[bad");
        assert_eq!(odd.to_string(), "<unparsable URL>");
        assert!(!format!("{odd:?}").contains("secret"));
    }
}
