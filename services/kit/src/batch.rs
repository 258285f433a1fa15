//! Point reads coalesced into one statement: many requests that each want one row by key
//! (a session, a user) hand their key to a [`Batcher`]; a few lanes each take every key
//! that is waiting, run **one** statement for all of them (`= ANY($1)` / `unnest`), and
//! hand each request its row.
//!
//! Why: under load the database's cost per statement, and the client's round trip, pool
//! checkout and return ping per statement, dominate a one-row read. Sixty-four requests in
//! flight become a handful of statements, each fetching a few dozen rows by index.
//!
//! Freshness is the same as a statement per request: a key is only ever answered by a
//! statement that *started after the key was queued* (a lane takes keys, then runs; keys
//! that arrive while it runs wait for the next statement). So a write committed before a
//! request arrived is always seen by that request — revocations take effect at once, as
//! before. Identical keys waiting together share one row (the same answer two statements
//! started at the same moment would give). When no other read is waiting, a key is taken
//! at once: no timer, no added wait at low load.
//!
//! Failure: a statement that fails answers every key it carried with the same error (a
//! 503 `upstream_unavailable` when the database is away, as a single read would); a
//! statement that panics answers them with a 500 and the lane carries on. A request whose
//! client went away before its key was taken is dropped from the statement.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::{Mutex, mpsc, oneshot};

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
    queue: mpsc::UnboundedSender<Job<K, V>>,
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
    /// Starts `lanes` lanes (at least one) on the current Tokio runtime, each running at most
    /// `max_batch` distinct keys per statement, counted in `metrics` under `name`. The lanes
    /// end when the batcher is dropped.
    pub fn spawn(
        name: &str,
        lanes: usize,
        max_batch: usize,
        read: Arc<ReadFn<K, V>>,
        metrics: &BatchMetrics,
    ) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        let counters = metrics.counters(name);
        for _ in 0..lanes.max(1) {
            tokio::spawn(lane(
                rx.clone(),
                read.clone(),
                max_batch.max(1),
                counters.clone(),
            ));
        }
        Self { queue }
    }

    /// The row for `key`, read by a statement that started after this call; `None` when
    /// there is no such row.
    pub async fn get(&self, key: K) -> Result<Option<V>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { key, reply })
            .map_err(|_| ApiError::upstream_unavailable())?;
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("a batched read ended without an answer")))
    }
}

/// One lane: take every waiting key (up to `max`), run one statement, answer, repeat.
async fn lane<K, V>(
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Job<K, V>>>>,
    read: Arc<ReadFn<K, V>>,
    max: usize,
    counters: Counters,
) where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    let mut jobs: Vec<Job<K, V>> = Vec::new();
    loop {
        {
            // One lane at a time waits on the queue; the others are running statements or
            // waiting their turn here, so keys pile up for whichever lane is free next.
            let mut rx = queue.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            jobs.push(first);
            while jobs.len() < max {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        counters.statements.inc();
        counters.reads.inc_by(jobs.len() as u64);
        let mut keys: Vec<K> = Vec::with_capacity(jobs.len());
        let mut index: HashMap<K, usize> = HashMap::with_capacity(jobs.len());
        let slots: Vec<usize> = jobs
            .iter()
            .map(|j| {
                *index.entry(j.key.clone()).or_insert_with(|| {
                    keys.push(j.key.clone());
                    keys.len() - 1
                })
            })
            .collect();
        let distinct = keys.len();
        // A panic in the read becomes an error for these requests instead of the end of the
        // lane. (Caught in place rather than on a task of its own: a spawn and a wake-up per
        // statement is measurable at one request at a time.)
        let outcome = match AssertUnwindSafe(read(keys)).catch_unwind().await {
            Ok(rows) => rows,
            Err(_) => Err(ApiError::internal("a batched read panicked")),
        };
        match outcome {
            Ok(rows) => {
                let mut found: Vec<Option<V>> = vec![None; distinct];
                for (i, row) in rows {
                    if let Some(slot) = found.get_mut(i) {
                        *slot = Some(row);
                    }
                }
                for (job, slot) in jobs.drain(..).zip(slots) {
                    let _ = job.reply.send(Ok(found[slot].clone()));
                }
            }
            Err(e) => {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
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

    #[tokio::test]
    async fn keys_waiting_while_a_statement_runs_share_the_next_one() {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let b = Arc::new(Batcher::spawn(
            "t",
            1,
            64,
            recording(calls.clone(), gate.clone()),
            &BatchMetrics::default(),
        ));
        // The first key starts a statement, which the gate holds open.
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.get(2).await }
        });
        while calls.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
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
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let b = Arc::new(Batcher::spawn(
            "t",
            1,
            3,
            recording(calls.clone(), gate.clone()),
            &BatchMetrics::default(),
        ));
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.get(0).await }
        });
        while calls.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
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
        let b = Batcher::spawn("t", 2, 64, read, &BatchMetrics::default());
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
        let b = Batcher::spawn("t", 1, 64, read, &BatchMetrics::default());
        let e = b.get(7).await.unwrap_err();
        assert_eq!(e.status.as_u16(), 500);
        assert_eq!(b.get(7).await.unwrap(), Some(7));
    }
}
