//! The crate's integration tests, one binary (one link of the crate and its dependencies,
//! not one per file): each file below is a module, named as its test binary was before, so
//! `cargo test -p ovu-ulm --test it MODULE::` runs what `--test MODULE` ran.

mod common;

mod account;
mod admin;
mod auth;
mod client_ip;
mod errors;
mod fuzz;
mod mail;
mod reads;
mod startup;
