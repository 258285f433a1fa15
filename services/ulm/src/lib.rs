//! ULM (placeholder).
