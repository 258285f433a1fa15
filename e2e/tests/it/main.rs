//! The crate's integration tests, one binary (one link of the crate and its dependencies,
//! not one per file): each file below is a module, named as its test binary was before, so
//! `cargo test -p ovu-e2e --test it MODULE::` runs what `--test MODULE` ran.

//!
//! `make_up` runs offline; the others need a cluster and build only with the `cluster`
//! feature (e2e/run runs install, system and plugin, then lifecycle on one thread;
//! e2e/run-real runs real).

mod make_up;

#[cfg(feature = "cluster")]
mod install;
#[cfg(feature = "cluster")]
mod lifecycle;
#[cfg(feature = "cluster")]
mod plugin;
#[cfg(feature = "cluster")]
mod real;
#[cfg(feature = "cluster")]
mod system;
