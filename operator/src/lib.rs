//! The OVU operator (renderers first; controller follows).
pub mod render;
pub mod tls;
