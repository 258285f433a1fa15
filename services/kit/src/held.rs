//! A few PostgreSQL connections lent to one statement at a time and taken straight back, for
//! the coalesced key reads ([`crate::batch`]).
//!
//! Why not a second sqlx pool: sqlx pings every connection it takes back (`return_to_pool`,
//! from a task it spawns), a second round trip per statement that the server answers too.
//! Measured on ULM's `GET /users/{id}` under load it was 8.5 % of the service's CPU. It is there
//! because a statement that failed or was cancelled half way can leave a connection in an
//! unknown state. Here that cannot happen: a connection goes back only after its statement
//! ended cleanly (every row read up to the server's ready-for-query), and one whose statement
//! failed or whose caller went away mid-statement is simply closed.
//!
//! A connection that sat idle may have been ended by the server meanwhile (a restart, an
//! idle-session timeout). Nothing pings it first either: its statement fails with an I/O or
//! shutdown error, and because these are reads, the same statement runs once more on a fresh
//! connection before anyone sees an error. So a restarted PostgreSQL costs a read nothing
//! once it accepts connections again.
//!
//! Every session uses the generic plan of a prepared statement
//! (`plan_cache_mode=force_generic_plan`): the reads' parameters are arrays of keys, which the
//! planner cannot size for a generic plan, so left to itself PostgreSQL may plan every
//! execution anew (measured: 0.29 ms a read against 0.13 ms with the generic plan, the
//! difference all planning) — the same index lookups each time. The main pool keeps the
//! default, where a custom plan can still matter (searches, optional filters).

use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Semaphore;

/// Up to `max` connections to the same server, opened when first needed and kept between
/// statements; see the module documentation.
pub struct HeldConnections {
    opts: PgConnectOptions,
    idle: std::sync::Mutex<Vec<PgConnection>>,
    /// One permit per connection that may be open and in use at once.
    slots: Semaphore,
    /// How long a statement may wait for a connection, or for a new one to open.
    wait: Duration,
}

impl std::fmt::Debug for HeldConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldConnections")
            .field("idle", &self.idle().len())
            .field("free", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl HeldConnections {
    /// At most `max` connections (at least one) to `main`'s server as `main`'s user, waiting
    /// for one as long as `main` waits for its own.
    pub fn new(main: &PgPool, max: u32) -> Self {
        let opts = (*main.connect_options())
            .clone()
            .options([("plan_cache_mode", "force_generic_plan")]);
        Self {
            opts,
            idle: std::sync::Mutex::new(Vec::new()),
            slots: Semaphore::new(usize::try_from(max.max(1)).unwrap_or(1)),
            wait: main.options().get_acquire_timeout(),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PgConnection>> {
        // Only pushed and popped under the lock: a panic elsewhere cannot leave it half-changed.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn connect(&self) -> Result<PgConnection, sqlx::Error> {
        tokio::time::timeout(self.wait, PgConnection::connect_with(&self.opts))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    /// Runs the read `read(connection, args)` on a held connection and gives the connection
    /// back once the read has ended cleanly. A read that fails because its (reused)
    /// connection was gone runs once more on a new one; any other failure closes the
    /// connection and is returned. A caller that goes away mid-read closes it too.
    ///
    /// `read` must only read: it may run twice.
    pub async fn read<A, T, F>(&self, args: &A, read: F) -> Result<T, sqlx::Error>
    where
        A: ?Sized + Sync,
        F: for<'c> Fn(&'c mut PgConnection, &'c A) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        let _slot = tokio::time::timeout(self.wait, self.slots.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let reused = self.idle().pop();
        let (mut conn, reused) = match reused {
            Some(c) => (c, true),
            None => (self.connect().await?, false),
        };
        let rows = match read(&mut conn, args).await {
            Err(e) if reused && gone(&e) => {
                tracing::debug!(error = %e, "a held connection was gone; reading on a new one");
                drop(conn);
                conn = self.connect().await?;
                read(&mut conn, args).await?
            }
            rows => rows?,
        };
        self.idle().push(conn);
        Ok(rows)
    }
}

/// The error a statement gets on a connection the server no longer serves: the socket is
/// closed, or the server ended the session (shutdown, restart, terminate: class 57P, 08).
fn gone(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| crate::error::unavailable_sqlstate(&c)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use sqlx::postgres::PgPoolOptions;

    /// The main pool the held connections copy their server, user and wait from.
    async fn main_pool(wait: Duration) -> PgPool {
        let url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL: start PostgreSQL with scripts/services.sh and source .run/env");
        PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(wait)
            .connect(&url)
            .await
            .unwrap()
    }

    fn pid<'c>(c: &'c mut PgConnection, _: &'c ()) -> BoxFuture<'c, Result<i32, sqlx::Error>> {
        Box::pin(sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(c))
    }

    fn sleep_then_pid<'c>(
        c: &'c mut PgConnection,
        secs: &'c f64,
    ) -> BoxFuture<'c, Result<i32, sqlx::Error>> {
        Box::pin(
            sqlx::query_scalar("SELECT pg_backend_pid() FROM pg_sleep($1)")
                .bind(*secs)
                .fetch_one(c),
        )
    }

    #[tokio::test]
    async fn sessions_use_generic_plans_and_the_main_pool_keeps_the_default() {
        let main = main_pool(Duration::from_secs(5)).await;
        let held = HeldConnections::new(&main, 2);
        let mode = held
            .read(&(), |c, _| {
                Box::pin(sqlx::query_scalar::<_, String>("SHOW plan_cache_mode").fetch_one(c))
            })
            .await
            .unwrap();
        assert_eq!(mode, "force_generic_plan");
        let main_mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
            .fetch_one(&main)
            .await
            .unwrap();
        assert_eq!(main_mode, "auto");
    }

    /// Statements one after another use one connection; at once, never more than `max`.
    #[tokio::test]
    async fn a_connection_is_kept_between_statements_and_no_more_than_max_open() {
        let main = main_pool(Duration::from_secs(5)).await;
        let held = HeldConnections::new(&main, 2);
        let first = held.read(&(), pid).await.unwrap();
        for _ in 0..5 {
            assert_eq!(held.read(&(), pid).await.unwrap(), first);
        }
        let at_once: Vec<i32> =
            futures::future::join_all((0..6).map(|_| held.read(&0.05, sleep_then_pid)))
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
        let mut distinct = at_once.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 2, "{at_once:?}");
        assert!(distinct.contains(&first), "{at_once:?}");
    }

    /// A held connection the server ended while it sat idle (as a restart does) costs the
    /// next read nothing: it runs again on a new connection. The main pool's price for the
    /// same is one 503 (db::pool_tests).
    #[tokio::test]
    async fn a_connection_the_server_ended_costs_the_read_nothing() {
        let main = main_pool(Duration::from_secs(5)).await;
        let held = HeldConnections::new(&main, 1);
        let first = held.read(&(), pid).await.unwrap();
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
            .bind(first)
            .fetch_one(&main)
            .await
            .unwrap();
        assert!(ended);
        let second = held
            .read(&(), pid)
            .await
            .expect("read again on a new connection");
        assert_ne!(first, second);
    }

    /// A statement that failed, or whose caller went away mid-statement, does not hand its
    /// connection to the next read: it is closed and the next read opens another.
    #[tokio::test]
    async fn a_failed_or_abandoned_read_closes_its_connection() {
        let main = main_pool(Duration::from_secs(5)).await;
        let held = HeldConnections::new(&main, 1);
        let first = held.read(&(), pid).await.unwrap();
        let e = held
            .read(&(), |c, _| {
                Box::pin(sqlx::query_scalar::<_, i32>("SELECT 1 / 0").fetch_one(c))
            })
            .await
            .expect_err("division by zero");
        assert!(matches!(e, sqlx::Error::Database(_)), "{e}");
        let second = held.read(&(), pid).await.unwrap();
        assert_ne!(first, second, "a failed statement's connection was reused");

        let abandoned =
            tokio::time::timeout(Duration::from_millis(100), held.read(&1.0, sleep_then_pid)).await;
        assert!(
            abandoned.is_err(),
            "the read should still have been running"
        );
        let third = held.read(&(), pid).await.unwrap();
        assert_ne!(
            second, third,
            "an abandoned statement's connection was reused"
        );
    }

    /// With every connection busy a read waits as long as the main pool would, then fails as
    /// unavailable (503, may be retried), never hangs.
    #[tokio::test]
    async fn a_read_with_every_connection_busy_times_out_as_unavailable() {
        let main = main_pool(Duration::from_millis(300)).await;
        let held = HeldConnections::new(&main, 1);
        let (busy, waiting) = tokio::join!(held.read(&2.0, sleep_then_pid), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            held.read(&(), pid).await
        });
        busy.unwrap();
        let e = waiting.expect_err("no connection was free for 300 ms");
        assert!(matches!(e, sqlx::Error::PoolTimedOut), "{e}");
        assert_eq!(
            ApiError::from(e).status,
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
