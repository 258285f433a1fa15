//! The shared table of invalid specs (`ovu_crds::examples`), offline: each case is refused by
//! the Rust twin of its rule (or by serde), naming the field, and every rule of the CRD has a
//! case. The e2e admission test (e2e/tests/it/install.rs) runs the same table against a real
//! API server.

use std::collections::BTreeSet;

use kube::CustomResourceExt;
use ovu_crds::examples::{Offline, invalid_specs, merge, valid_spec};
use ovu_crds::{OvuSystem, OvuSystemSpec, rules};
use serde_json::Value;

fn spec_of(patch: &Value) -> Value {
    let mut s = valid_spec();
    merge(&mut s, patch.clone());
    s
}

#[test]
fn the_valid_spec_is_valid() {
    let s: OvuSystemSpec = serde_json::from_value(valid_spec()).unwrap();
    assert_eq!(s.validate(), Ok(()));
}

#[test]
fn each_invalid_spec_is_refused_offline_naming_its_field() {
    let mut failures = Vec::new();
    for c in invalid_specs() {
        let s = spec_of(&c.patch);
        let parsed = serde_json::from_value::<OvuSystemSpec>(s.clone());
        let verdict = match (&c.offline, parsed) {
            (Offline::Validate { field, message }, Ok(spec)) => match spec.validate() {
                Ok(()) => Err("validate() accepted it".to_string()),
                // Exactly the one field: a case that breaks two rules tests neither well.
                Err(e)
                    if e.0.iter().all(|e| e.field == *field)
                        && e.0.iter().any(|e| e.message.contains(message)) =>
                {
                    Ok(())
                }
                Err(e) => Err(format!("want {field}: {message}; got {e}")),
            },
            (Offline::Validate { .. }, Err(e)) => Err(format!("does not parse: {e}")),
            (Offline::Unparsable, Ok(_)) => Err("parses, but serde should refuse it".into()),
            (Offline::Unparsable, Err(_)) => Ok(()),
            (Offline::Name, Ok(spec)) if spec.validate().is_ok() => {
                if rules::is_system_name(&c.system) {
                    Err(format!("{:?} is a good system name", c.system))
                } else {
                    Ok(())
                }
            }
            (Offline::Name, _) => Err("the spec itself should be valid".into()),
            // Both the object as created and as changed are valid on their own: only the
            // API server, which has the old object, can refuse the change.
            (Offline::Transition, Ok(after)) => {
                let before: Result<OvuSystemSpec, _> = serde_json::from_value(spec_of(
                    c.created_with.as_ref().unwrap_or(&Value::Null),
                ));
                match (c.created_with.is_some(), before.map(|b| b.validate())) {
                    (true, Ok(Ok(()))) if after.validate().is_ok() => Ok(()),
                    _ => Err("a transition case is valid before and after".into()),
                }
            }
            (Offline::Transition, Err(e)) => Err(format!("does not parse: {e}")),
        };
        if c.offline != Offline::Name && !rules::is_system_name(&c.system) {
            failures.push(format!("{}: bad system name {:?}", c.case, c.system));
        }
        if let Err(e) = verdict {
            failures.push(format!("{} ({}): {e}", c.case, c.patch));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn case_names_are_unique_namespace_safe_labels() {
    let cases = invalid_specs();
    let names: BTreeSet<&str> = cases.iter().map(|c| c.case).collect();
    assert_eq!(names.len(), cases.len(), "duplicate case names");
    for n in names {
        assert!(rules::is_system_name(n) && n.len() <= 30, "{n}");
    }
    for c in &cases {
        assert!(!c.api.is_empty(), "{}: no API message to expect", c.case);
    }
}

fn cel_messages(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(rules)) = m.get("x-kubernetes-validations") {
                for r in rules {
                    if let Some(msg) = r["message"].as_str() {
                        out.insert(msg.to_string());
                    }
                }
            }
            m.values().for_each(|v| cel_messages(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| cel_messages(v, out)),
        _ => {}
    }
}

/// A rule added to the CRD without a case in the table fails here, so every rule is tested
/// offline and against the API server.
#[test]
fn every_cel_message_has_a_case() {
    let crd = serde_json::to_value(OvuSystem::crd()).unwrap();
    let mut messages = BTreeSet::new();
    cel_messages(&crd, &mut messages);
    assert!(messages.len() > 20, "found only {messages:?}");
    let expected: BTreeSet<&str> = invalid_specs().iter().flat_map(|c| c.api.clone()).collect();
    let untested: Vec<&String> = messages
        .iter()
        .filter(|m| !expected.contains(m.as_str()))
        .collect();
    assert!(
        untested.is_empty(),
        "CRD rules without a case in ovu_crds::examples::invalid_specs: {untested:#?}"
    );
}
