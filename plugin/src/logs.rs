//! `kubectl ovu logs <component>`: the logs of a component's pods through the API server
//! (the kubelet serves them), one stream per pod and container, prefixed `[pod/container]`
//! when there is more than one.

use anyhow::bail;
use futures::{AsyncBufReadExt as _, StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, LogParams};
use ovu_crds::{OvuSystem, names};

use crate::{Ctx, api_err, out, progress};

/// How long opening one log stream may take.
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The components whose pods carry `app.kubernetes.io/component=<name>`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Ulm,
    Aam,
    Frontend,
    Postgres,
    Redis,
    Backup,
    Restore,
}

impl From<Component> for names::Component {
    fn from(c: Component) -> Self {
        match c {
            Component::Ulm => names::Component::Ulm,
            Component::Aam => names::Component::Aam,
            Component::Frontend => names::Component::Frontend,
            Component::Postgres => names::Component::Postgres,
            Component::Redis => names::Component::Redis,
            Component::Backup => names::Component::Backup,
            Component::Restore => names::Component::Restore,
        }
    }
}

impl Component {
    pub fn as_str(self) -> &'static str {
        names::Component::from(self).as_str()
    }
}

/// The label selector of a component's pods (the operator's own, from `ovu_crds::names`).
pub fn selector(system: &str, c: Component) -> String {
    names::pod_selector(system, c.into())
}

/// Which (pod, container) streams to read: every regular container of every pod, or only
/// `container` (which must exist in at least one of them). Pods sorted by name.
pub fn streams(pods: &[Pod], container: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut all = std::collections::BTreeSet::new();
    for p in pods {
        for c in p.spec.iter().flat_map(|s| s.containers.iter()) {
            all.insert(c.name.clone());
            if container.is_none_or(|want| want == c.name) {
                out.push((p.name_any(), c.name.clone()));
            }
        }
        // Init containers (migrate, bootstrap) only when asked for by name.
        if let Some(want) = container {
            for c in p
                .spec
                .iter()
                .flat_map(|s| s.init_containers.iter().flatten())
            {
                all.insert(c.name.clone());
                if want == c.name {
                    out.push((p.name_any(), c.name.clone()));
                }
            }
        }
    }
    out.sort();
    if out.is_empty()
        && let Some(want) = container
    {
        return Err(format!(
            "no container {want:?} in these pods; they have {}",
            all.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(out)
}

pub async fn run(
    ctx: &Ctx,
    sys: &OvuSystem,
    component: Component,
    follow: bool,
    tail: Option<i64>,
    container: Option<&str>,
) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let sel = selector(&sys.name_any(), component);
    let list = pods
        .list(&ListParams::default().labels(&sel))
        .await
        .map_err(|e| anyhow::anyhow!("cannot list pods ({sel}): {}", api_err(&e)))?;
    if list.items.is_empty() {
        bail!(
            "no {} pods of OvuSystem {}/{} (selector {sel})",
            component.as_str(),
            ctx.namespace,
            sys.name_any()
        );
    }
    let which = streams(&list.items, container).map_err(anyhow::Error::msg)?;
    let prefixed = which.len() > 1;
    let mut failures = Vec::new();
    let mut readers = Vec::new();
    // Opened together, each with a limit: the API server reaches each pod's kubelet, and a
    // node that does not answer must not hold up the others or hang the command.
    let opened = futures::future::join_all(which.iter().map(|(pod, c)| {
        let lp = LogParams {
            container: Some(c.clone()),
            follow,
            tail_lines: tail,
            ..Default::default()
        };
        let pods = pods.clone();
        async move {
            let r = tokio::time::timeout(OPEN_TIMEOUT, pods.log_stream(pod, &lp)).await;
            (pod, c, r)
        }
    }))
    .await;
    for (pod, c, r) in opened {
        match r {
            Ok(Ok(r)) => {
                let prefix = if prefixed {
                    format!("[{pod}/{c}] ")
                } else {
                    String::new()
                };
                let label = format!("pod {pod} container {c}");
                readers.push(
                    r.lines()
                        .map_ok(move |l| format!("{prefix}{l}\n"))
                        .map_err(move |e| format!("{label}: {e}"))
                        .boxed(),
                );
            }
            Ok(Err(e)) => failures.push(format!(
                "cannot read the logs of pod {pod} container {c}: {}",
                api_err(&e)
            )),
            Err(_) => failures.push(format!(
                "cannot read the logs of pod {pod} container {c}: the API server did not answer within {} s (is the node's kubelet reachable?)",
                OPEN_TIMEOUT.as_secs()
            )),
        }
    }
    // Without --follow each stream ends; with it they interleave as lines arrive.
    let mut merged = futures::stream::select_all(readers);
    while let Some(item) = merged.next().await {
        match item {
            Ok(line) => out(&line)?,
            Err(e) => failures.push(format!("reading the logs of {e}")),
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    for f in &failures[..failures.len() - 1] {
        progress(&format!("error: {f}"));
    }
    bail!("{}", failures[failures.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"initContainers": [{"name": "migrate"}], "containers": [{"name": "ulm"}]},
        }))
        .unwrap()
    }

    #[test]
    fn every_pod_and_container_once_in_order() {
        let pods = [pod("ovu-ulm-b"), pod("ovu-ulm-a")];
        assert_eq!(
            streams(&pods, None).unwrap(),
            [
                ("ovu-ulm-a".into(), "ulm".into()),
                ("ovu-ulm-b".into(), "ulm".into())
            ]
        );
        assert_eq!(
            streams(&pods, Some("migrate")).unwrap(),
            [
                ("ovu-ulm-a".into(), "migrate".into()),
                ("ovu-ulm-b".into(), "migrate".into())
            ]
        );
        let e = streams(&pods, Some("nginx")).unwrap_err();
        assert_eq!(
            e,
            "no container \"nginx\" in these pods; they have migrate, ulm"
        );
    }

    /// The selector picks exactly the pods the operator labels as that component.
    #[test]
    fn pods_are_found_by_the_contract_labels() {
        use clap::ValueEnum as _;
        for &c in Component::value_variants() {
            for &other in Component::value_variants() {
                let pod = names::labels("ovu", other.into());
                assert_eq!(
                    names::selects(&selector("ovu", c), &pod),
                    c == other,
                    "{c:?} {other:?}"
                );
            }
            assert!(!names::selects(
                &selector("ovu", c),
                &names::labels("shop", c.into())
            ));
        }
        assert_eq!(
            selector("ovu", Component::Postgres),
            "app.kubernetes.io/component=postgres,app.kubernetes.io/instance=ovu,app.kubernetes.io/name=ovu"
        );
    }
}
