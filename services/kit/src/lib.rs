//! Shared service kit (placeholder).
