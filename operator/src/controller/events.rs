//! Events on OvuSystems (`events.k8s.io/v1`), with a bounded memory of the recent ones so a
//! repeated event becomes a series on one Event object instead of a new object each time.
//!
//! Why not kube's `Recorder`: it remembers every event it sent for six minutes, each a whole
//! `Event` plus its key (~2 kB), with the object's resourceVersion in the key — so an event
//! on a system whose status just changed never matches an earlier one, and a bring-up of 500
//! systems (ten or so events each) kept ~5,000 of them alive: megabytes of the operator's
//! peak memory (bench/README.md, "Operator at scale"). Here the memory is a fixed number of
//! small entries (as client-go's event correlator keeps an LRU of 4,096 keys), keyed by the
//! system's UID, the event's type, reason, action and note; the note is part of the key, so a
//! new message is never hidden as a repeat of an older one.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use ovu_crds::OvuSystem;
use serde_json::json;

pub use kube::runtime::events::EventType;

/// How long a sent event is remembered: a repeat within it is counted on the same object.
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// How many recent events are remembered at most; the least recently seen goes first.
pub const REMEMBERED: usize = 1024;

/// What is remembered of a sent event.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sent {
    name: String,
    count: i32,
    last: Instant,
}

/// The recent events by key, bounded in age ([`SERIES_WINDOW`]) and number ([`REMEMBERED`]).
#[derive(Debug)]
struct Recent {
    sent: HashMap<u64, Sent>,
    window: Duration,
    capacity: usize,
}

/// What to do with an event.
#[derive(Debug, PartialEq, Eq)]
enum Send {
    /// Create a new Event object.
    Create,
    /// Count it on the Event object `name`: the series now has `count` occurrences.
    Repeat { name: String, count: i32 },
}

impl Recent {
    fn new(window: Duration, capacity: usize) -> Self {
        Self {
            sent: HashMap::new(),
            window,
            capacity,
        }
    }

    /// What to send for the event `key` seen at `now`.
    fn decide(&mut self, key: u64, now: Instant) -> Send {
        let window = self.window;
        self.sent
            .retain(|_, s| now.saturating_duration_since(s.last) < window);
        match self.sent.get(&key) {
            Some(s) => Send::Repeat {
                name: s.name.clone(),
                count: s.count.saturating_add(1),
            },
            None => Send::Create,
        }
    }

    /// Remember that the event `key` went out as the object `name`, `count` times in all.
    fn record(&mut self, key: u64, name: String, count: i32, now: Instant) {
        if !self.sent.contains_key(&key) && self.sent.len() >= self.capacity {
            // A full memory forgets the event seen least recently; at worst its next repeat
            // is a new object, which is what kube's recorder does for every repeat.
            if let Some(oldest) = self
                .sent
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| *k)
            {
                self.sent.remove(&oldest);
            }
        }
        self.sent.insert(
            key,
            Sent {
                name,
                count,
                last: now,
            },
        );
    }

    fn forget(&mut self, key: u64) {
        self.sent.remove(&key);
    }
}

/// One event, as the reconcile says it.
pub struct Occurrence<'a> {
    pub type_: EventType,
    pub reason: &'a str,
    pub action: &'a str,
    pub note: &'a str,
}

/// Sends Events about OvuSystems; one for the whole operator, so repeats are recognised.
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<Recent>,
}

impl Recorder {
    /// `controller` is the reporting controller (`ovu-operator`), `instance` this replica
    /// (its pod name; the controller's name when unknown).
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Self {
            client,
            controller: controller.to_string(),
            instance: instance.unwrap_or_else(|| controller.to_string()),
            recent: Mutex::new(Recent::new(SERIES_WINDOW, REMEMBERED)),
        }
    }

    fn key(sys: &OvuSystem, n: &Occurrence<'_>) -> u64 {
        let mut h = DefaultHasher::new();
        (
            sys.namespace(),
            sys.name_any(),
            sys.uid(),
            matches!(n.type_, EventType::Warning),
            n.reason,
            n.action,
            n.note,
        )
            .hash(&mut h);
        h.finish()
    }

    /// Send `n` about `sys`: a new Event, or one more occurrence of the same event sent within
    /// [`SERIES_WINDOW`] (its `series` counted up). An Event the API server no longer has
    /// (its TTL, or deleted) is made anew.
    pub async fn publish(&self, sys: &OvuSystem, n: &Occurrence<'_>) -> Result<(), kube::Error> {
        let key = Self::key(sys, n);
        let ns = sys.namespace().unwrap_or_else(|| "default".into());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let decision = match self.recent.lock() {
            Ok(mut r) => r.decide(key, Instant::now()),
            Err(_) => Send::Create,
        };
        let now = Timestamp::now();
        if let Send::Repeat { name, count } = decision {
            let series = json!({"series": EventSeries {
                count,
                last_observed_time: MicroTime(now),
            }});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&series))
                .await
            {
                Ok(_) => {
                    self.remember(key, name, count);
                    return Ok(());
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    if let Ok(mut r) = self.recent.lock() {
                        r.forget(key);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let name = format!(
            "{}.{:x}",
            sys.name_any(),
            now.as_nanosecond().unsigned_abs()
        );
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(
                match n.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            reason: Some(n.reason.into()),
            action: Some(n.action.into()),
            note: Some(n.note.into()),
            regarding: Some(sys.object_ref(&())),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &ev).await?;
        self.remember(key, name, 1);
        Ok(())
    }

    fn remember(&self, key: u64, name: String, count: i32) {
        if let Ok(mut r) = self.recent.lock() {
            r.record(key, name, count, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_window_is_counted_on_the_first_object() {
        let t0 = Instant::now();
        let mut r = Recent::new(Duration::from_secs(360), 8);
        assert_eq!(r.decide(1, t0), Send::Create);
        r.record(1, "sys.a".into(), 1, t0);
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(
            r.decide(1, t1),
            Send::Repeat {
                name: "sys.a".into(),
                count: 2
            }
        );
        r.record(1, "sys.a".into(), 2, t1);
        // Another event (another key: other note, reason or system) is its own object.
        assert_eq!(r.decide(2, t1), Send::Create);
        // The window counts from the last occurrence: a repeat every 5 minutes stays a series.
        let t2 = t1 + Duration::from_secs(300);
        assert_eq!(
            r.decide(1, t2),
            Send::Repeat {
                name: "sys.a".into(),
                count: 3
            }
        );
        r.record(1, "sys.a".into(), 3, t2);
        // Quiet for longer than the window: forgotten, a new object.
        assert_eq!(r.decide(1, t2 + Duration::from_secs(361)), Send::Create);
        assert!(r.sent.is_empty());
    }

    #[test]
    fn the_memory_never_holds_more_than_its_capacity_and_forgets_the_stalest() {
        let t0 = Instant::now();
        let mut r = Recent::new(Duration::from_secs(360), 3);
        for k in 0..3u64 {
            r.record(k, format!("e{k}"), 1, t0 + Duration::from_secs(k));
        }
        // Event 0 seen again: now the most recent.
        r.record(0, "e0".into(), 2, t0 + Duration::from_secs(10));
        r.record(3, "e3".into(), 1, t0 + Duration::from_secs(11));
        assert_eq!(r.sent.len(), 3);
        assert!(
            !r.sent.contains_key(&1),
            "the least recently seen went first"
        );
        assert!(r.sent.contains_key(&0) && r.sent.contains_key(&2) && r.sent.contains_key(&3));
        // Thousands of distinct events (a bring-up of many systems) stay bounded.
        let mut big = Recent::new(SERIES_WINDOW, REMEMBERED);
        for k in 0..10_000u64 {
            let now = t0 + Duration::from_millis(k);
            if big.decide(k, now) == Send::Create {
                big.record(k, format!("e{k}"), 1, now);
            }
        }
        assert_eq!(big.sent.len(), REMEMBERED);
    }
}
