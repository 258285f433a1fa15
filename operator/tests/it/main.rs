//! The crate's integration tests, one binary (one link of the crate and its dependencies,
//! not one per file): each file below is a module, named as its test binary was before, so
//! `cargo test -p ovu-operator --test it MODULE::` runs what `--test MODULE` ran.

mod common;
mod fake;

mod cli;
mod fuzz;
mod leader;
mod manifests;
mod monitoring;
mod nginx;
mod props;
mod reconcile;
mod render;
mod scripts;
mod server;
