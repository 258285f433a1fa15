//! ovu-kit: the plumbing every OVU HTTP service shares (ULM today, AAM next).
//!
//! What flows through it: environment variables become typed config ([`config`]);
//! a request enters through [`http::layers`] (request id, tracing span, metrics,
//! security headers, CORS, body limit), is decoded by the [`extract`] extractors
//! whose rejections — like every handler failure — leave as one [`error::ApiError`]
//! JSON shape; bearer tokens are checked by [`jwt::JwtVerifier`] against Ed25519 keys
//! published as a JWKS; [`health`] answers liveness/readiness from the PostgreSQL
//! pool and Redis connection built in [`db`]; [`http::serve`] stops gracefully on
//! SIGTERM/SIGINT; [`startup`] applies the migrations and reports a failed start to the
//! cluster (termination message, exit code). Hot point reads by key (a session, a user)
//! can be coalesced into one statement per batch of waiting requests ([`batch`]), run on a
//! few connections held between statements ([`held`]).

pub mod batch;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod fuzz;
pub mod health;
pub mod held;
pub mod http;
pub mod input;
pub mod jwt;
pub mod metrics;
pub mod net;
pub mod secret;
pub mod startup;
pub mod telemetry;

pub use error::{ApiError, ErrorBody};
