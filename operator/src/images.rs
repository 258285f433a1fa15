//! The images a system runs when its spec names none: the operator's own configuration, not
//! the CRD's. A default stored in each OvuSystem by the API server would pin every system to
//! the release it was created under; resolved here instead, an operator upgrade (whose
//! Deployment a release pins to its images by digest, `scripts/release.sh`) rolls every system
//! that did not pin an image, and a system that names one keeps it.
//!
//! Read once at start from `OVU_DEFAULT_IMAGE_{ULM,AAM,WEB,POSTGRES,REDIS}`; each that is unset
//! falls back to the compiled-in reference below (what `make up`, the kwok e2e and dev use).

use std::ffi::OsString;

use ovu_crds::{Images, OvuSystemSpec, rules};

/// Compiled-in fallbacks: (environment variable, image).
pub const FALLBACKS: [(&str, &str); 5] = [
    ("OVU_DEFAULT_IMAGE_ULM", "ovu/ulm:0.1.0"),
    ("OVU_DEFAULT_IMAGE_AAM", "ovu/aam:0.1.0"),
    ("OVU_DEFAULT_IMAGE_WEB", "ovu/web:0.1.0"),
    ("OVU_DEFAULT_IMAGE_POSTGRES", "postgres:16"),
    ("OVU_DEFAULT_IMAGE_REDIS", "redis:7"),
];

/// A default image variable the operator cannot use: start-up stops with this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var}={value:?} is not an image reference: {msg} (unset it to use {fallback})", msg = rules::MSG_IMAGE)]
    Invalid {
        var: &'static str,
        value: String,
        fallback: &'static str,
    },
    #[error("{var} is not valid UTF-8")]
    NotUnicode { var: &'static str },
}

/// The operator's default image of each component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultImages(pub Images);

impl Default for DefaultImages {
    /// The compiled-in fallbacks.
    fn default() -> Self {
        let [ulm, aam, web, postgres, redis] = FALLBACKS.map(|(_, image)| image.to_string());
        Self(Images {
            ulm,
            aam,
            web,
            postgres,
            redis,
        })
    }
}

impl DefaultImages {
    /// From the process environment (see [`DefaultImages::from_lookup`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var_os(var))
    }

    /// From `lookup` (the environment, or a map in tests): each variable that is set must be
    /// an image reference by the same rule the CRD applies to `spec.*.image`; an unset one
    /// keeps its fallback. An empty value is refused rather than read as unset: it is more
    /// likely a release's substitution that went wrong than a wish for the fallback.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        let read = |(var, fallback): (&'static str, &'static str)| -> Result<String, ConfigError> {
            let Some(raw) = lookup(var) else {
                return Ok(fallback.to_string());
            };
            let value = raw
                .into_string()
                .map_err(|_| ConfigError::NotUnicode { var })?;
            if rules::is_image(&value) {
                Ok(value)
            } else {
                Err(ConfigError::Invalid {
                    var,
                    value,
                    fallback,
                })
            }
        };
        let [ulm, aam, web, postgres, redis] = FALLBACKS;
        Ok(Self(Images {
            ulm: read(ulm)?,
            aam: read(aam)?,
            web: read(web)?,
            postgres: read(postgres)?,
            redis: read(redis)?,
        }))
    }

    /// The images `spec` runs: each one it names, else this default.
    pub fn resolve(&self, spec: &OvuSystemSpec) -> Images {
        let pick = |named: &Option<String>, default: &String| {
            named.clone().unwrap_or_else(|| default.clone())
        };
        let d = &self.0;
        Images {
            ulm: pick(&spec.backend.ulm.image, &d.ulm),
            aam: pick(&spec.backend.aam.image, &d.aam),
            web: pick(&spec.frontend.image, &d.web),
            postgres: pick(&spec.database.postgres.image, &d.postgres),
            redis: pick(&spec.database.redis.image, &d.redis),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn unset_variables_keep_the_compiled_fallbacks() {
        let d = DefaultImages::from_lookup(lookup(&[])).unwrap();
        assert_eq!(d, DefaultImages::default());
        assert_eq!(d.0.ulm, "ovu/ulm:0.1.0");
        assert_eq!(d.0.aam, "ovu/aam:0.1.0");
        assert_eq!(d.0.web, "ovu/web:0.1.0");
        assert_eq!(d.0.postgres, "postgres:16");
        assert_eq!(d.0.redis, "redis:7");
    }

    #[test]
    fn each_variable_sets_its_own_image() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = format!("registry.example.com:5000/ovu/ulm:1.2.0@{digest}");
        let d = DefaultImages::from_lookup(lookup(&[
            ("OVU_DEFAULT_IMAGE_ULM", &pinned),
            ("OVU_DEFAULT_IMAGE_REDIS", "ovu/redis-local:7"),
        ]))
        .unwrap();
        assert_eq!(d.0.ulm, pinned);
        assert_eq!(d.0.redis, "ovu/redis-local:7");
        assert_eq!(d.0.aam, "ovu/aam:0.1.0", "an unset one keeps its fallback");
    }

    #[test]
    fn a_bad_reference_is_a_startup_error_naming_the_variable() {
        for bad in ["", "ovu/web:1; rm -rf /", "has space", "-leading-dash"] {
            let e =
                DefaultImages::from_lookup(lookup(&[("OVU_DEFAULT_IMAGE_WEB", bad)])).unwrap_err();
            assert_eq!(
                e,
                ConfigError::Invalid {
                    var: "OVU_DEFAULT_IMAGE_WEB",
                    value: bad.into(),
                    fallback: "ovu/web:0.1.0"
                }
            );
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!(
                    "OVU_DEFAULT_IMAGE_WEB={bad:?} is not an image reference"
                )),
                "{msg}"
            );
        }
        let long = format!("ovu/{}", "x".repeat(600));
        assert!(
            DefaultImages::from_lookup(lookup(&[("OVU_DEFAULT_IMAGE_POSTGRES", &long)])).is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_value_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStringExt;
        let e = DefaultImages::from_lookup(|k| {
            (k == "OVU_DEFAULT_IMAGE_AAM").then(|| OsString::from_vec(vec![b'o', 0xff]))
        })
        .unwrap_err();
        assert_eq!(
            e,
            ConfigError::NotUnicode {
                var: "OVU_DEFAULT_IMAGE_AAM"
            }
        );
    }

    #[test]
    fn a_spec_image_wins_over_the_default() {
        let spec: OvuSystemSpec = serde_json::from_value(serde_json::json!({
            "domain": "ovu.example.com",
            "backend": {"aam": {"image": "ovu/aam:pinned"}},
            "database": {"redis": {"image": "redis:7.2"}},
        }))
        .unwrap();
        let d = DefaultImages::from_lookup(lookup(&[("OVU_DEFAULT_IMAGE_AAM", "ovu/aam:2.0.0")]))
            .unwrap();
        let got = d.resolve(&spec);
        assert_eq!(got.aam, "ovu/aam:pinned");
        assert_eq!(got.redis, "redis:7.2");
        assert_eq!(got.ulm, "ovu/ulm:0.1.0");
        assert_eq!(got.web, "ovu/web:0.1.0");
        assert_eq!(got.postgres, "postgres:16");
    }
}
