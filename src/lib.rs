//! # jwtgate
//!
//! One JWT verification core for every place a request is checked: the Envoy
//! and Istio proxy-wasm filter, the npm package for Node and browsers, edge
//! workers. Every front end calls this crate, so the same token gets the same
//! verdict, with the same error code, everywhere.
//!
//! ## Design
//! - **Untrusted until verified.** [`jws::UntrustedJws`] is parsed but not
//!   trusted. Verification has one fixed order: header rules (`none` and
//!   unknown `crit` refused), the algorithm allow-list, key selection, the
//!   signature, and only then the claims are parsed and checked.
//! - **The key decides the algorithm.** A token's `alg` must fit the key that
//!   verifies it ([`jwk::KeySet::select`]); there is no code path from a public
//!   key to an HMAC secret (RFC 8725 §3.1, §3.2).
//! - **Strict input.** Strict base64url, JSON without duplicate members, bounded
//!   sizes and depths ([`policy::Limits`]); every failure is an [`Error`] with a
//!   stable [`ErrorCode`] and a sentence, never a panic.
//! - **No clock, no I/O.** Time is a parameter (`now`, Unix seconds), so the
//!   core is `no_std` + `alloc` and tests pin time.
//! - **One policy file.** [`policy::Policy`] (modelled on Envoy `jwt_authn`) is
//!   the configuration of every front end; [`Verifier`] prepares it once.
//! - **One HTTP decision.** [`Verifier::authorize`] picks the rule, finds the
//!   token, verifies it and says which headers to remove and set, or which
//!   401/403 to send ([`http`]). Front ends only apply it.
//!
//! ## Features
//! | feature | what it adds |
//! |---|---|
//! | *(none)* | the `no_std` core; builds for `wasm32-unknown-unknown` |
//! | `rust-rsa-ecdsa` (default) | the pure-Rust RSA and ECDSA verifiers: the reference, PS*, `signature_verifier: "rust"` and the fallback when a host fails its self-test; the small Envoy filter and the default npm module are built without it (`jwtgate/full` has it) |
//! | `envoy` | the proxy-wasm HTTP filter (link as a cdylib) |
//! | `js` | the wasm-bindgen bindings behind the npm package |
//! | `sidecar` | the native `jwtgate` binary (`src/sidecar/`: `serve`, `inspect`, `verify`); links `std`, tokio, hyper, aws-lc-rs |
//!
//! ## Modules
//! [`error`] codes; [`base64url`] and [`json`] strict decoding; [`jws`] compact
//! JWS; [`jwk`] key sets; [`alg`] signature algorithms (the only module that
//! touches cryptography, through `jwt-compact` and RustCrypto); [`claims`];
//! [`policy`]; [`path`], the request path's canonical form and rule matching;
//! [`verify`] and [`explain`]; [`http`]; [`cache`]; [`decode`]; [`report`], what the
//! command lines print;
//! [`host`], the seam for the host's native signature checks; [`keys`], the
//! refresh state machine for keys fetched from the identity provider (remote
//! JWKS, OIDC discovery), [`keyring`], how the verifier uses them, and
//! [`lease`], how instances that share a store fetch once for all;
//! [`pem`], PEM and X.509 keys.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
extern crate alloc;

pub mod alg;
pub mod base64url;
pub mod cache;
pub mod claims;
pub mod curve;
pub mod decode;
pub mod error;
pub mod explain;
pub mod host;
pub mod http;
pub mod json;
pub mod jwk;
pub mod jws;
pub mod keyring;
pub mod keys;
pub mod lease;
pub mod path;
pub mod pem;
pub mod policy;
pub mod report;
pub mod verify;

#[cfg(feature = "js")]
mod js;

#[cfg(feature = "envoy")]
mod envoy;

#[cfg(feature = "sidecar")]
pub mod sidecar;

pub use alg::Alg;
pub use cache::VerifiedCache;
pub use error::{Error, ErrorCode};
pub use jwk::{Jwk, KeySet, KeySetOptions};
pub use verify::{Verified, Verifier};

// jwt-compact's RSA support links getrandom 0.2, which needs a backend on
// wasm32-unknown-unknown. Verification never needs randomness: this backend
// always fails, so nothing can silently depend on it.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn no_randomness(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
getrandom::register_custom_getrandom!(no_randomness);
