//! Health: probe ULM and AAM by their Service names once every tier serves, and keep
//! status.health quiet (rewritten only when the verdict changes or the record ages).

use ovu_crds::ComponentHealth;

use super::Context;
use crate::render::Ctx;
use crate::render::names::{Component, ports};

/// The health to record, given the recorded one; `None` without a prober (tests without
/// network): the recorded health stays.
pub async fn probe_health(
    ctx: &Context,
    rctx: &Ctx<'_>,
    recorded: &[ComponentHealth],
) -> Option<Vec<ComponentHealth>> {
    let prober = ctx.prober.as_ref()?;
    let mut out: Vec<ComponentHealth> = Vec::new();
    for (c, port) in [(Component::Ulm, ports::ULM), (Component::Aam, ports::AAM)] {
        let host = rctx.names.service_host(c, &rctx.ns);
        // The port constants are small positive numbers.
        let port = u16::try_from(port).unwrap_or_default();
        let h = prober.probe(c.as_str(), &host, port).await;
        let labels = crate::metrics::ComponentLabels {
            namespace: rctx.ns.clone(),
            system: rctx.system().to_string(),
            component: c.as_str().into(),
        };
        if prober.enabled() {
            ctx.metrics
                .health_up
                .get_or_create(&labels)
                .set(i64::from(h.status == "Healthy"));
        }
        if let Some(ms) = h.latency_ms {
            #[allow(clippy::cast_precision_loss)]
            ctx.metrics
                .health_latency
                .get_or_create(&labels)
                .set(ms as f64 / 1000.0);
        }
        let old = recorded.iter().find(|o| o.component == h.component);
        // With probes off nothing was measured: refreshing the time would be a status write
        // every few minutes per system that says nothing new.
        let same_verdict = old.is_some_and(|o| o.status == h.status && o.message == h.message);
        if !prober.enabled() && same_verdict {
            out.extend(old.cloned());
        } else if crate::health::worth_recording(old, &h, ctx.health_max_age) {
            out.push(h);
        } else if let Some(o) = old {
            out.push(o.clone());
        }
    }
    Some(out)
}
