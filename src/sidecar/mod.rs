//! The native sidecar (feature `sidecar`): `jwtgate serve`, an auth
//! sub-request service for nginx `auth_request`, Traefik ForwardAuth and
//! Envoy `ext_authz`, and the `inspect` / `verify` commands. This is the
//! only part of the crate that links `std`.
//!
//! Glue only; every verdict is the core's ([`crate::Verifier::authorize`]):
//!
//! - [`check`]: one sub-request: where the original method and target come
//!   from (the trust contract), the decision, the answer.
//! - [`state`]: the policy served, reloads, one verifier and cache per
//!   worker thread.
//! - [`server`]: tokio + hyper, the admin listener, signals, file watch.
//! - [`keys`]: remote key sets: the process's one fetcher, driving the
//!   core's key sources with a native HTTPS client.
//! - [`crypto`]: AWS-LC (aws-lc-rs) behind the core's host-verifier seam.
//! - [`metrics`], [`logger`]: Prometheus counters, JSON-lines logs.
//! - [`cli`]: the command line.

pub mod check;
pub mod cli;
pub mod crypto;
pub mod keys;
pub mod logger;
pub mod metrics;
pub mod server;
pub mod state;
