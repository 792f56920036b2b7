//! The Envoy / Istio front end: a proxy-wasm (ABI 0.2.1) HTTP filter.
//!
//! Glue only; every decision is the core's ([`crate::Verifier::authorize`]):
//!
//! - [`root`]: parses the plugin configuration (the policy JSON) once per VM
//!   in `on_configure`, refuses to start on any error, and hands the verifier,
//!   the verified-token cache and the metric ids to each HTTP context (`Rc`).
//! - [`http`]: one request: headers in, [`crate::http::Decision`] out, then
//!   applies it (header edits and `Continue`, or a local reply and `Pause`).
//! - [`held`]: requests that wait (paused) for a provider's first key fetch,
//!   decided again by the root context when keys land or the wait ends.
//! - [`crypto`]: RS*/ES* signature checks by Envoy's `verify_signature`
//!   foreign function (BoringSSL), offered to the core at configure time.
//! - [`metrics`]: the counters Envoy shows as `wasmcustom.jwtgate.*`.
//! - [`keys`]: remote keys: the core's key sources driven by `on_tick` and
//!   HTTP calls on the provider's cluster, one fetch per Envoy (shared data).
//!
//! The core is `no_std`; proxy-wasm links `std`, which the glue names only
//! for the host clock (`SystemTime`).
//!
//! Nothing here may panic: a panic aborts the VM and takes every request on
//! that worker with it. Errors are logged and either refuse the configuration
//! or deny the request.

mod crypto;
mod held;
mod http;
mod keys;
mod metrics;
mod root;

use alloc::boxed::Box;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    // The host filters by its own level too; `root` narrows ours to the
    // host's at configure time so disabled messages are never formatted.
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(root::Root::new(context_id))
    });
}}
