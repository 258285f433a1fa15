//! The OvuSystem API types (placeholder until the operator issue lands).
