//! The OVU operator: one `OvuSystem` in, a running three-tier system out.
//!
//! What flows through it, per reconcile (Stackable's pipeline):
//! read the OvuSystem → validate its spec → build the desired children (pure, [`render`]) →
//! server-side apply what differs ([`apply`]) → prune what was not rendered → judge the
//! status (pure, `controller::verdict`) → write it when it changed ([`status`]).
//! Generated Secrets ([`secrets`]) and TLS material ([`tls`]) are made once and never
//! rewritten by a pure function. An image the spec leaves out is the operator's configured
//! default ([`images`]), so an operator upgrade rolls the systems that pinned none. [`controller`] wires it to kube-runtime; [`leader`] makes two
//! replicas safe; [`metrics`], [`health`] and [`telemetry`] make it observable; [`app`] is
//! the process `main.rs` starts.

pub mod app;
pub mod apply;
pub mod client;
pub mod controller;
pub mod fuzz;
pub mod health;
pub mod images;
pub mod leader;
pub mod metrics;
pub mod render;
pub mod secrets;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod tls;
