//! ULM's API shapes, in one place for both sides of the wire.
//!
//! ULM serves these types and AAM's relay decodes and re-encodes them, so a field added in
//! ULM either reaches the admin panel or stops AAM from compiling; it cannot silently fall
//! out on the way. The JSON is the contract the web apps are generated from
//! (web/openapi/*.json): changing a type here changes both services' OpenAPI documents.
//!
//! - [`perm`]: the permissions (`resource:action`) as an enum;
//! - [`input`]: request fields with rules (e-mail, username, phone, …) that are checked
//!   while the body is decoded, so handlers get only values that passed;
//! - [`users`], [`roles`]: the admin API's bodies.

pub mod input;
pub mod perm;
pub mod roles;
pub mod users;

pub use perm::Perm;
