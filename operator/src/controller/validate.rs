//! Validate: a spec the renderers must not see becomes a condition, not an error loop.

use kube::ResourceExt;
use ovu_crds::{OvuSystem, rules};

/// What is wrong with the system, joined; `None` when it may be rendered.
pub fn problems(sys: &OvuSystem) -> Option<String> {
    let mut problems = Vec::new();
    if !rules::is_system_name(&sys.name_any()) {
        problems.push(format!(
            "metadata.name: must be a DNS label of at most {} characters starting with a letter",
            rules::MAX_NAME_LEN
        ));
    }
    if let Err(e) = sys.spec.validate() {
        problems.push(e.to_string());
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}
