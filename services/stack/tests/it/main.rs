//! The launcher as its callers use it: the binary, started on the real PostgreSQL, Redis and
//! Mailpit of `scripts/services.sh` (`source .run/env`), stopped by a signal.

mod launcher;
