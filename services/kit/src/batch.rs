//! Point reads coalesced into one statement: many requests that each want one row by key
//! (a session, a user) hand their key to a [`Batcher`]; a statement takes every key that is
//! waiting, reads all their rows at once (`unnest($1)` joined to the table), and each request
//! gets its own row.
//!
//! Why: under load the database's cost per statement, and the client's round trip, pool
//! checkout and return ping per statement, dominate a one-row read. Sixty-four requests in
//! flight become a handful of statements, each fetching a few rows by index.
//!
//! Who runs the statement: the request that finds a lane free (at most `lanes` statements
//! run at once) runs it in its own task, for its key and every key waiting, and answers the
//! others. A request that finds every lane busy waits; the lane that finishes next starts a
//! statement for it. So at low load a read costs what a plain statement costs, with no
//! hand-off to another task, and under load the keys pile up into batches by themselves —
//! no timer, no added wait.
//!
//! Freshness is the same as a statement per request: a key is only ever answered by a
//! statement that *started after the key was queued* (a statement takes keys, then runs;
//! keys that arrive while it runs wait for the next one). So a write committed before a
//! request arrived is always seen by that request — revocations take effect at once, as
//! before. Identical keys waiting together share one row (the answer two statements started
//! at the same moment would give).
//!
//! Failure: a statement that fails answers every key it carried with the same error (a
//! 503 `upstream_unavailable` when the database is away, as a single read would); one that
//! panics answers them with a 500. A request whose client went away before its key was taken
//! is left out; one that goes away while running a statement for others puts their keys
//! back at the front of the queue, for the next statement.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::ApiError;
use crate::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabel {
    read: String,
}

/// How well reads coalesce, per kind of read: `db_batched_reads_total` (requests answered)
/// over `db_batch_statements_total` (statements run) is the mean batch.
#[derive(Clone, Debug, Default)]
pub struct BatchMetrics {
    reads: Family<ReadLabel, Counter>,
    statements: Family<ReadLabel, Counter>,
}

impl BatchMetrics {
    /// Counters registered in a service's registry (served on `/metrics`).
    pub fn registered(metrics: &Metrics) -> Self {
        let m = Self::default();
        metrics.with_registry(|r| {
            r.register(
                "db_batched_reads",
                "Point reads answered by a coalesced statement",
                m.reads.clone(),
            );
            r.register(
                "db_batch_statements",
                "Coalesced statements run",
                m.statements.clone(),
            );
        });
        m
    }

    fn counters(&self, read: &str) -> Counters {
        let label = ReadLabel { read: read.into() };
        Counters {
            reads: self.reads.get_or_create(&label).clone(),
            statements: self.statements.get_or_create(&label).clone(),
        }
    }
}

#[derive(Clone)]
struct Counters {
    reads: Counter,
    statements: Counter,
}

/// What a batch read returns: for each row found, the position of its key in the slice the
/// read was given, and the row. Keys with no row are simply absent.
pub type Rows<V> = Result<Vec<(usize, V)>, ApiError>;

/// The statement a [`Batcher`] runs for a set of distinct keys.
pub type ReadFn<K, V> =
    dyn Fn(Vec<K>) -> Pin<Box<dyn Future<Output = Rows<V>> + Send>> + Send + Sync;

type Reply<V> = oneshot::Sender<Result<Option<V>, ApiError>>;

struct Job<K, V> {
    key: K,
    reply: Reply<V>,
}

/// Coalesces point reads by key; see the module documentation.
pub struct Batcher<K, V> {
    shared: Arc<Shared<K, V>>,
}

struct Shared<K, V> {
    /// Keys waiting for a statement, oldest first.
    queue: std::sync::Mutex<VecDeque<Job<K, V>>>,
    /// One permit per statement that may run at once.
    lanes: Arc<Semaphore>,
    max: usize,
    read: Arc<ReadFn<K, V>>,
    counters: Counters,
}

impl<K, V> std::fmt::Debug for Batcher<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<K, V> Batcher<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// A batcher running at most `lanes` statements at once (at least one), each for at most
    /// `max_batch` distinct keys, counted in `metrics` under `name`.
    pub fn new(
        name: &str,
        lanes: usize,
        max_batch: usize,
        read: Arc<ReadFn<K, V>>,
        metrics: &BatchMetrics,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: std::sync::Mutex::new(VecDeque::new()),
                lanes: Arc::new(Semaphore::new(lanes.max(1))),
                max: max_batch.max(1),
                read,
                counters: metrics.counters(name),
            }),
        }
    }

    /// The row for `key`, read by a statement that started after this call; `None` when
    /// there is no such row.
    ///
    /// When a lane is free the caller runs the statement itself, for its key and every key
    /// waiting with it, and answers the others; otherwise it waits to be answered by a
    /// statement that a finishing lane starts. So one request alone costs no hand-off to
    /// another task, and a request never waits for a lane that nobody will run.
    pub async fn get(&self, key: K) -> Result<Option<V>, ApiError> {
        let (reply, mut answer) = oneshot::channel();
        self.shared.push(Job { key, reply });
        if let Ok(permit) = self.shared.lanes.clone().try_acquire_owned() {
            let jobs = self.shared.take();
            Carry::new(&self.shared, jobs, permit).run().await;
            // Our key was at the back of the queue: answered by now unless more than a
            // batch was waiting ahead of it.
            if let Ok(answered) = answer.try_recv() {
                return answered;
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("a batched read ended without an answer")))
    }
}

impl<K, V> Shared<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Job<K, V>>> {
        // The queue is only pushed to and drained under the lock; a panic elsewhere cannot
        // leave it half-changed.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, job: Job<K, V>) {
        self.queue().push_back(job);
    }

    /// Up to `max` of the oldest waiting keys whose requests are still there.
    fn take(&self) -> Vec<Job<K, V>> {
        let mut q = self.queue();
        let mut jobs = Vec::with_capacity(q.len().min(self.max));
        while jobs.len() < self.max {
            let Some(job) = q.pop_front() else { break };
            if !job.reply.is_closed() {
                jobs.push(job);
            }
        }
        jobs
    }

    /// After a lane is given back: keys that queued while every lane was busy get a statement
    /// of their own, on a task, if a lane is free. Every lane checks this after it is given
    /// back, and a request queues its key before it tries for a lane, so no key is left
    /// waiting with every lane free.
    fn kick(self: &Arc<Self>) {
        if self.queue().is_empty() {
            return;
        }
        let Ok(permit) = self.lanes.clone().try_acquire_owned() else {
            return;
        };
        // No runtime only while the process shuts down, when nobody waits for an answer.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let shared = self.clone();
            rt.spawn(async move {
                let jobs = shared.take();
                Carry::new(&shared, jobs, permit).run().await;
            });
        }
    }
}

/// One statement's keys, on their way to an answer. Dropped before it has answered — the
/// request that was running the statement went away, and its future with it — it puts the
/// keys back at the front of the queue for the next statement, so no other request loses
/// its answer for it.
struct Carry<'a, K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    shared: &'a Arc<Shared<K, V>>,
    jobs: Vec<Job<K, V>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl<'a, K, V> Carry<'a, K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    fn new(
        shared: &'a Arc<Shared<K, V>>,
        jobs: Vec<Job<K, V>>,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            shared,
            jobs,
            permit: Some(permit),
        }
    }

    async fn run(mut self) {
        if self.jobs.is_empty() {
            return;
        }
        let counters = &self.shared.counters;
        counters.statements.inc();
        counters.reads.inc_by(self.jobs.len() as u64);
        let mut keys: Vec<K> = Vec::with_capacity(self.jobs.len());
        let mut index: HashMap<K, usize> = HashMap::with_capacity(self.jobs.len());
        let slots: Vec<usize> = self
            .jobs
            .iter()
            .map(|j| {
                *index.entry(j.key.clone()).or_insert_with(|| {
                    keys.push(j.key.clone());
                    keys.len() - 1
                })
            })
            .collect();
        let distinct = keys.len();
        // A panic in the read becomes an error for these requests instead of unwinding
        // through whichever request happened to run the statement.
        let read = (self.shared.read)(keys);
        let outcome = match AssertUnwindSafe(read).catch_unwind().await {
            Ok(rows) => rows,
            Err(_) => Err(ApiError::internal("a batched read panicked")),
        };
        let jobs = std::mem::take(&mut self.jobs);
        match outcome {
            Ok(rows) => {
                let mut found: Vec<Option<V>> = vec![None; distinct];
                for (i, row) in rows {
                    if let Some(slot) = found.get_mut(i) {
                        *slot = Some(row);
                    }
                }
                for (job, slot) in jobs.into_iter().zip(slots) {
                    let _ = job.reply.send(Ok(found[slot].clone()));
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

impl<K, V> Drop for Carry<'_, K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    fn drop(&mut self) {
        if !self.jobs.is_empty() {
            let mut q = self.shared.queue();
            for job in self.jobs.drain(..).rev() {
                q.push_front(job);
            }
        }
        // Give the lane back first, then look for keys that queued meanwhile (see `kick`).
        drop(self.permit.take());
        self.shared.kick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A read that records each statement's keys, holds the first statement until `gate`
    /// opens, and answers a key `k` with `k * 10` for even `k` only (odd keys have no row).
    fn recording(
        calls: Arc<std::sync::Mutex<Vec<Vec<u32>>>>,
        gate: Arc<tokio::sync::Semaphore>,
    ) -> Arc<ReadFn<u32, u32>> {
        Arc::new(move |keys: Vec<u32>| {
            let calls = calls.clone();
            let gate = gate.clone();
            Box::pin(async move {
                let first = {
                    let mut c = calls.lock().unwrap();
                    c.push(keys.clone());
                    c.len() == 1
                };
                if first {
                    let _permit = gate.acquire().await.unwrap();
                }
                Ok(keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| *k % 2 == 0)
                    .map(|(i, k)| (i, k * 10))
                    .collect())
            })
        })
    }

    struct Rig {
        calls: Arc<std::sync::Mutex<Vec<Vec<u32>>>>,
        gate: Arc<tokio::sync::Semaphore>,
        b: Arc<Batcher<u32, u32>>,
    }

    /// One lane, `max` keys a statement, the [`recording`] read.
    fn rig(max: usize) -> Rig {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let b = Arc::new(Batcher::new(
            "t",
            1,
            max,
            recording(calls.clone(), gate.clone()),
            &BatchMetrics::default(),
        ));
        Rig { calls, gate, b }
    }

    /// Asks for `key` on a task of its own and returns once its statement has started (and is
    /// held open by the gate).
    async fn lead(
        b: &Arc<Batcher<u32, u32>>,
        calls: &std::sync::Mutex<Vec<Vec<u32>>>,
        key: u32,
    ) -> tokio::task::JoinHandle<Result<Option<u32>, ApiError>> {
        let task = tokio::spawn({
            let b = b.clone();
            async move { b.get(key).await }
        });
        while calls.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        task
    }

    #[tokio::test]
    async fn keys_waiting_while_a_statement_runs_share_the_next_one() {
        let Rig { calls, gate, b } = rig(64);
        // The first key starts a statement, which the gate holds open.
        let first = lead(&b, &calls, 2).await;
        // These arrive while it runs: none may be answered by it.
        let mut later = Vec::new();
        for k in [4u32, 5, 4, 6] {
            let b = b.clone();
            later.push(tokio::spawn(async move { b.get(k).await }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.add_permits(1);
        assert_eq!(first.await.unwrap().unwrap(), Some(20));
        let answers: Vec<Option<u32>> = futures_join(later).await;
        assert_eq!(answers, vec![Some(40), None, Some(40), Some(60)]);
        let calls = calls.lock().unwrap().clone();
        // One statement for the first key, one for the four that waited, their duplicate
        // asked once.
        assert_eq!(calls, vec![vec![2], vec![4, 5, 6]]);
    }

    async fn futures_join(
        handles: Vec<tokio::task::JoinHandle<Result<Option<u32>, ApiError>>>,
    ) -> Vec<Option<u32>> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap().unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_statement_takes_at_most_max_batch_keys() {
        let Rig { calls, gate, b } = rig(3);
        let first = lead(&b, &calls, 0).await;
        let mut later = Vec::new();
        for k in 1u32..=7 {
            let b = b.clone();
            later.push(tokio::spawn(async move { b.get(k).await }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.add_permits(1);
        assert_eq!(first.await.unwrap().unwrap(), Some(0));
        let answers = futures_join(later).await;
        assert_eq!(
            answers,
            vec![None, Some(20), None, Some(40), None, Some(60), None]
        );
        let sizes: Vec<usize> = calls.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1, 3, 3, 1]);
    }

    #[tokio::test]
    async fn a_failed_statement_answers_each_of_its_keys_with_its_error() {
        let read: Arc<ReadFn<u32, u32>> =
            Arc::new(|_keys: Vec<u32>| Box::pin(async { Err(ApiError::upstream_unavailable()) }));
        let b = Batcher::new("t", 2, 64, read, &BatchMetrics::default());
        let e = b.get(1).await.unwrap_err();
        assert_eq!(e.code, "upstream_unavailable");
        assert_eq!(e.status.as_u16(), 503);
    }

    #[tokio::test]
    async fn a_panicking_statement_is_a_500_and_the_lane_carries_on() {
        let n = Arc::new(AtomicUsize::new(0));
        let read: Arc<ReadFn<u32, u32>> = {
            let n = n.clone();
            Arc::new(move |keys: Vec<u32>| {
                let first = n.fetch_add(1, Ordering::SeqCst) == 0;
                Box::pin(async move {
                    assert!(!first, "the first statement panics");
                    Ok(keys.into_iter().enumerate().collect())
                })
            })
        };
        let b = Batcher::new("t", 1, 64, read, &BatchMetrics::default());
        let e = b.get(7).await.unwrap_err();
        assert_eq!(e.status.as_u16(), 500);
        assert_eq!(b.get(7).await.unwrap(), Some(7));
    }

    #[tokio::test]
    async fn keys_carried_by_a_request_that_goes_away_are_answered_by_the_next_statement() {
        let Rig { calls, gate: _, b } = rig(64);
        // The first request runs a statement for its key, held open by the gate.
        let leader = lead(&b, &calls, 2).await;
        // Two more wait for the lane.
        let waiting: Vec<_> = [4u32, 6]
            .into_iter()
            .map(|k| {
                let b = b.clone();
                tokio::spawn(async move { b.get(k).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The first request's client goes away: its statement is dropped mid-flight.
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        // The two waiting are answered anyway, by a statement of their own (not gated).
        assert_eq!(futures_join(waiting).await, vec![Some(40), Some(60)]);
        assert_eq!(*calls.lock().unwrap(), vec![vec![2], vec![4, 6]]);
    }

    #[tokio::test]
    async fn a_key_carried_by_a_cancelled_statement_is_put_back() {
        // The same, with the waiting key already taken into the statement that is dropped.
        let Rig { calls, gate: _, b } = rig(64);
        let (tx, answer) = oneshot::channel();
        // A key queued before anyone leads: the leader below takes it along.
        b.shared.push(Job { key: 8, reply: tx });
        let leader = lead(&b, &calls, 2).await;
        assert_eq!(calls.lock().unwrap()[0], vec![8, 2]);
        leader.abort();
        let _ = leader.await;
        assert_eq!(answer.await.unwrap().unwrap(), Some(80));
        assert_eq!(*calls.lock().unwrap(), vec![vec![8, 2], vec![8]]);
    }

    #[tokio::test]
    async fn a_request_alone_runs_its_statement_in_its_own_task() {
        let task = Arc::new(std::sync::Mutex::new(None));
        let read: Arc<ReadFn<u32, u32>> = {
            let task = task.clone();
            Arc::new(move |keys: Vec<u32>| {
                *task.lock().unwrap() = tokio::task::try_id();
                Box::pin(async move { Ok(keys.into_iter().enumerate().collect()) })
            })
        };
        let b = Arc::new(Batcher::new("t", 1, 64, read, &BatchMetrics::default()));
        let h = tokio::spawn({
            let b = b.clone();
            async move { (tokio::task::id(), b.get(3).await.unwrap()) }
        });
        let (id, got) = h.await.unwrap();
        assert_eq!(got, Some(3));
        assert_eq!(*task.lock().unwrap(), Some(id));
    }
}
