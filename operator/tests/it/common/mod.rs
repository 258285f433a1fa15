//! Test fixtures: the samples from manifests/samples, as if read back from an API server.
#![allow(dead_code)]

use ovu_crds::OvuSystem;

pub const NS: &str = "ovu-test";
pub const UID: &str = "11111111-2222-3333-4444-555555555555";

pub fn sample(file: &str) -> OvuSystem {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests/samples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut sys: OvuSystem = serde_yaml::from_str(&text).unwrap();
    sys.metadata.namespace = Some(NS.into());
    sys.metadata.uid = Some(UID.into());
    sys.metadata.generation = Some(1);
    sys.metadata.resource_version = Some("1".into());
    sys
}

pub fn minimal() -> OvuSystem {
    sample("ovusystem.yaml")
}

pub fn full() -> OvuSystem {
    sample("ovusystem-full.yaml")
}
