//! Names, labels and selectors of every child: they live in `ovu_crds::names` (one home for
//! the operator, AAM, `kubectl ovu` and the e2e tests); re-exported here for the renderers.

pub use ovu_crds::names::*;
