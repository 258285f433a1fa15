//! Which OvuSystem a command is about, and the bootstrap admin's credentials.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use ovu_crds::OvuSystem;
use ovu_crds::names::Names;

use crate::{Ctx, api_err, out};

/// The system a command names, or the only one there is. `names` are the OvuSystems in
/// `namespace`; an error says what to do.
pub fn choose(
    namespace: &str,
    names: &[String],
    requested: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(name) = requested {
        if names.iter().any(|n| n == name) {
            return Ok(name.to_string());
        }
        if names.is_empty() {
            bail!(
                "no OvuSystem {name:?} in namespace {namespace} (there is none; -n names another namespace)"
            );
        }
        bail!(
            "no OvuSystem {name:?} in namespace {namespace}; there is {}",
            names.join(", ")
        );
    }
    match names {
        [] => bail!("no OvuSystem in namespace {namespace} (-n names another namespace)"),
        [only] => Ok(only.clone()),
        many => bail!(
            "{} OvuSystems in namespace {namespace} ({}): name one",
            many.len(),
            many.join(", ")
        ),
    }
}

/// Read the chosen system.
pub async fn get(ctx: &Ctx, requested: Option<&str>) -> anyhow::Result<OvuSystem> {
    let api: Api<OvuSystem> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    if let Some(name) = requested {
        // One read when named: the common case, and the only one a user allowed to get but
        // not list can use.
        match api.get_opt(name).await {
            Ok(Some(s)) => return Ok(s),
            Ok(None) => {}
            Err(e) => bail!(
                "cannot read OvuSystem {}/{name}: {}",
                ctx.namespace,
                api_err(&e)
            ),
        }
    }
    let list = api.list(&ListParams::default()).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot list the OvuSystems in namespace {}: {}",
            ctx.namespace,
            api_err(&e)
        )
    })?;
    let mut names: Vec<String> = list.items.iter().map(|s| s.name_any()).collect();
    names.sort();
    let name = choose(&ctx.namespace, &names, requested)?;
    list.items
        .into_iter()
        .find(|s| s.name_any() == name)
        .with_context(|| format!("OvuSystem {name} vanished"))
}

/// The bootstrap admin's credentials as printed.
pub fn format_admin(email: &str, password: &str) -> String {
    format!("email:    {email}\npassword: {password}\n")
}

pub async fn admin_password(ctx: &Ctx, sys: &OvuSystem) -> anyhow::Result<()> {
    let name = Names::new(&sys.name_any()).bootstrap_admin_secret();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let secret = api
        .get_opt(&name)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read Secret {}/{name}: {}",
                ctx.namespace,
                api_err(&e)
            )
        })?
        .with_context(|| {
            format!(
                "no Secret {}/{name}: the operator creates it when it first brings the system up",
                ctx.namespace
            )
        })?;
    let data = secret.data.unwrap_or_default();
    let field = |key: &str| -> anyhow::Result<String> {
        let v = data
            .get(key)
            .with_context(|| format!("Secret {}/{name} has no key {key:?}", ctx.namespace))?;
        String::from_utf8(v.0.clone())
            .with_context(|| format!("Secret {}/{name} key {key:?} is not UTF-8", ctx.namespace))
    };
    out(&format_admin(&field("email")?, &field("password")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_only_system_is_chosen() {
        assert_eq!(choose("ns", &names(&["ovu"]), None).unwrap(), "ovu");
    }

    #[test]
    fn a_named_system_is_chosen_among_many() {
        assert_eq!(choose("ns", &names(&["a", "b"]), Some("b")).unwrap(), "b");
    }

    #[test]
    fn several_systems_need_a_name_and_the_error_lists_them() {
        let e = choose("prod", &names(&["a", "b"]), None)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "2 OvuSystems in namespace prod (a, b): name one");
    }

    #[test]
    fn no_system_says_where_it_looked() {
        let e = choose("prod", &[], None).unwrap_err().to_string();
        assert!(e.contains("no OvuSystem in namespace prod"), "{e}");
        let e = choose("prod", &[], Some("x")).unwrap_err().to_string();
        assert!(e.contains("\"x\"") && e.contains("prod"), "{e}");
    }

    #[test]
    fn an_unknown_name_is_named_with_the_ones_there_are() {
        let e = choose("prod", &names(&["a", "b"]), Some("c"))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "no OvuSystem \"c\" in namespace prod; there is a, b");
    }

    #[test]
    fn credentials_print_on_two_lines() {
        assert_eq!(
            format_admin("admin@ovu.localhost", "s3cret"),
            "email:    admin@ovu.localhost\npassword: s3cret\n"
        );
    }
}
