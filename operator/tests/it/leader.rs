//! Leader election over a Lease, against the in-memory API: one winner, renewal, takeover
//! after expiry, release.

use crate::fake;

use std::time::Duration;

use fake::Fake;
use ovu_operator::leader::{LeaderElector, LeaseConfig};
use serde_json::json;

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ovu-system/leases/ovu-operator";

fn elector(client: &kube::Client, id: &str) -> LeaderElector {
    LeaderElector::new(
        client.clone(),
        LeaseConfig {
            namespace: "ovu-system".into(),
            name: "ovu-operator".into(),
            identity: id.into(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        },
    )
}

#[tokio::test]
async fn one_of_two_candidates_leads_and_the_other_waits() {
    let (client, fake) = Fake::start();
    let a = elector(&client, "a");
    let b = elector(&client, "b");
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(a.try_acquire_or_renew().await.unwrap(), "the holder renews");
    let lease = fake.get(LEASE).unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "a");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let (client, fake) = Fake::start();
    let a = elector(&client, "a");
    assert!(a.try_acquire_or_renew().await.unwrap());
    let mut lease = fake.get(LEASE).unwrap();
    lease["spec"]["renewTime"] = json!("2020-01-01T00:00:00.000000Z");
    fake.put(LEASE, lease);
    let b = elector(&client, "b");
    assert!(b.try_acquire_or_renew().await.unwrap());
    let lease = fake.get(LEASE).unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    assert!(
        !a.try_acquire_or_renew().await.unwrap(),
        "the old leader lost it"
    );
}

#[tokio::test]
async fn a_stale_write_loses_on_resource_version() {
    let (client, fake) = Fake::start();
    let a = elector(&client, "a");
    assert!(a.try_acquire_or_renew().await.unwrap());
    // Someone else renewed in between: the fake rejects a replace with an old resourceVersion.
    let mut lease = fake.get(LEASE).unwrap();
    lease["spec"]["holderIdentity"] = json!("c");
    lease["spec"]["renewTime"] = json!("2099-01-01T00:00:00.000000Z");
    fake.put(LEASE, lease);
    assert!(!a.try_acquire_or_renew().await.unwrap());
}

#[tokio::test]
async fn release_lets_a_standby_take_over_at_once() {
    let (client, fake) = Fake::start();
    let a = elector(&client, "a");
    assert!(a.try_acquire_or_renew().await.unwrap());
    a.release().await;
    assert!(fake.get(LEASE).unwrap()["spec"]["holderIdentity"].is_null());
    assert!(elector(&client, "b").try_acquire_or_renew().await.unwrap());
}
