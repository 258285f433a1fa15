//! The OVU operator (placeholder until the operator issue lands).
