//! The crate's integration tests, one binary (one link of the crate and its dependencies,
//! not one per file): each file below is a module, named as its test binary was before, so
//! `cargo test -p ovu-aam --test it MODULE::` runs what `--test MODULE` ran.

mod common;

mod api;
mod client_ip;
mod fuzz;
mod startup;
mod trust;
