//! The host-crypto seam: the core decides everything (token structure,
//! algorithm, key, signature length and format) and may then ask the host's
//! native crypto for the final signature check, which is several times
//! faster than pure Rust in wasm for RSA and ECDSA.
//!
//! The pure-Rust verifier ([`crate::alg::verify_signature`]) stays the
//! reference: a host is only used after it passed [`self_test`], and any
//! answer other than a clear yes or no falls back to pure Rust.
//!
//! Front ends implement [`SignatureVerifier`]: the Envoy filter with Envoy's
//! `verify_signature` foreign function (BoringSSL), the npm package with
//! `node:crypto`. Keys are prepared once, when the verifier is configured
//! ([`SignatureVerifier::prepare`]), never per request.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::alg::{Alg, VerifyingKey};
use crate::base64url;

/// A signature check done by the host.
pub trait SignatureVerifier {
    /// Prepares `key` for later checks (at configuration time) and returns a
    /// handle for it, or `None` when the host will not handle this key (then
    /// pure Rust verifies its signatures).
    fn prepare(&mut self, key: &VerifyingKey) -> Option<u32>;

    /// Checks `signature` over `signing_input` with a prepared key. The core
    /// has already checked that the key fits `alg` and that the signature has
    /// the right length and format (raw `r || s` for ECDSA). `Some(valid)` is
    /// the answer; `None` means the host could not answer, and pure Rust
    /// decides instead.
    fn verify(&self, alg: Alg, handle: u32, signing_input: &[u8], signature: &[u8])
        -> Option<bool>;

    /// A short name for logs and explain output, e.g. `"envoy"` or `"node:crypto"`.
    fn name(&self) -> &'static str;
}

/// Which signature verifier a policy asks for (`"signature_verifier"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifierChoice {
    /// The host's crypto when it passes the self-test, else pure Rust.
    #[default]
    Auto,
    /// The host's crypto; configuration fails if it does not pass the self-test.
    Host,
    /// Always pure Rust (the reference).
    Rust,
}

/// A known-good RS256 and ES256 signature (made with Python `cryptography`)
/// over [`PROBE_MESSAGE`], for checking a host before trusting it.
pub const PROBE_MESSAGE: &[u8] = b"jwtgate host crypto probe";
const PROBE_RSA_N: &str = "tXcT3vaW_hz_SgXJuo9sqSfpULgDw63ETk-ot2k-FK10e9ThJdQLnOkst8sKQcpqqwXPal8p-_xTCU7p3hWPWWB-W5_4wJmAg6CRy2-8S7nQ-pBYal6fU0vRIrbM72hI-DHx42_zJkwT1m0d9y7rbAVZty-sViSTN3J2tfV_PJr9d8C2K0rsmkf_tze_rVo3rAoPjyKdXMN79q4S-1i_l3coZYv1bN7N8PCvfKSugv_SLlMsvtDP56-JYfQ5zmA-WV8sQbG0zO9fDKW19zPDUityyRYZM35k7Hb_Zxh1wfSsfG03zk_tM2chaRqD-vEnyS9sGpT8c5GtX1jgYF09Gw";
const PROBE_RSA_SIG: &str = "LAVvlth5P5_d5uUBX6GFPyvrH-zsGBBovbmytxPWKPspcjAR6dYviemgJRnONaxblIoUQIk35h5i15dMvrJjjL3ZPkKKAQ8IR1Yc0DdMU-w-x62W2UmBkqAo3FSKVC4LGKB5_1tWzfQ-Au_dApZUPli8vhmEHUU0C8RVOx-p3504e0cCwgmXHeGyzs3c2MowZGu0LFyZ-XAUdpedj7F6wBP1Y70HeGGQkW757yg3z58YrxkCBm6E1hm1Wg-dtn8K2s64e_Bq9F6N42dWN-2hAOXKdS-SPdF-FniY4T3wQeSCBO119QJEjOOLd5YXr5NMO387TXJfga1AvOEKkYEzng";
const PROBE_EC_X: &str = "PB2EJiOI6QU_UiHHZuvzZahJMGrU0txcBoykQHDqYsU";
const PROBE_EC_Y: &str = "9qk7_YD1L_eZPamRUTw6m28Xjg2oqdSpRP7ooMf5NKY";
const PROBE_EC_SIG: &str =
    "3igMykP6XrWMY8gjbEVhLNsAmjz13lRhahBl95uGYCpInYsGnn-GB3K_UtEja0wG66gH63hXQGyHabFzn-JBHQ";

/// A known-good signature and the same signature with one bit flipped, for
/// checking a host before it is trusted ([`self_test`]). Asynchronous hosts
/// answer these ahead of time (see [`Verifier::signature_requests`]).
///
/// [`Verifier::signature_requests`]: crate::Verifier::signature_requests
#[derive(Debug, Clone)]
pub struct Probe {
    /// The algorithm.
    pub alg: Alg,
    /// The public key.
    pub key: VerifyingKey,
    /// The signed message ([`PROBE_MESSAGE`]).
    pub message: &'static [u8],
    /// A valid signature.
    pub good: Vec<u8>,
    /// An invalid one (the good one with its last bit flipped).
    pub bad: Vec<u8>,
}

/// The RS256 and ES256 probes (keys and signatures made with Python `cryptography`).
pub fn probes() -> Vec<Probe> {
    let decode = |s: &str| base64url::decode(s).unwrap_or_default();
    let keys = [
        (
            Alg::RS256,
            VerifyingKey::rsa(&decode(PROBE_RSA_N), &[1, 0, 1]),
            PROBE_RSA_SIG,
        ),
        (
            Alg::ES256,
            VerifyingKey::ec("P-256", &decode(PROBE_EC_X), &decode(PROBE_EC_Y)),
            PROBE_EC_SIG,
        ),
    ];
    keys.into_iter()
        .filter_map(|(alg, key, sig)| {
            let good = decode(sig);
            let mut bad = good.clone();
            *bad.last_mut()? ^= 1;
            Some(Probe {
                alg,
                key: key.ok()?,
                message: PROBE_MESSAGE,
                good,
                bad,
            })
        })
        .collect()
}

/// Checks a host before it is trusted: for RS256 and ES256 it must accept a
/// known-good signature and refuse the same signature with one bit flipped.
/// A host that declines a key (`prepare` returns `None`) passes for that key:
/// pure Rust handles it. That the pure-Rust reference agrees with the probes
/// is a fact of the build, pinned by the tests (natively here, in wasm by
/// `js/test/worker-guard.test.mjs`), not checked again at run time: a
/// first pure-Rust RSA or ECDSA check in a fresh wasm instance runs
/// unoptimized code and cost most of an edge worker's startup.
///
/// ```
/// use jwtgate::host::{self_test, SignatureVerifier};
/// use jwtgate::alg::{Alg, VerifyingKey};
/// /// A broken host that says yes to everything.
/// struct Yes;
/// impl SignatureVerifier for Yes {
///     fn prepare(&mut self, _: &VerifyingKey) -> Option<u32> { Some(0) }
///     fn verify(&self, _: Alg, _: u32, _: &[u8], _: &[u8]) -> Option<bool> { Some(true) }
///     fn name(&self) -> &'static str { "yes" }
/// }
/// assert!(self_test(&mut Yes).unwrap_err().contains("accepted a bad RS256 signature"));
/// ```
pub fn self_test(host: &mut dyn SignatureVerifier) -> Result<(), String> {
    let probes = probes();
    if probes.len() != 2 {
        return Err(String::from("the probe vectors do not load"));
    }
    for Probe {
        alg,
        key,
        message,
        good,
        bad,
    } in probes
    {
        let Some(handle) = host.prepare(&key) else {
            continue;
        };
        match host.verify(alg, handle, message, &good) {
            Some(true) => {}
            other => {
                return Err(format!(
                    "{} refused a good {alg} signature ({other:?})",
                    host.name()
                ))
            }
        }
        match host.verify(alg, handle, message, &bad) {
            Some(false) => {}
            other => {
                return Err(format!(
                    "{} accepted a bad {alg} signature ({other:?})",
                    host.name()
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host backed by the pure-Rust reference, counting its calls.
    struct Reference {
        keys: alloc::vec::Vec<VerifyingKey>,
        calls: core::cell::Cell<u32>,
    }

    impl SignatureVerifier for Reference {
        fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
            key.spki_der()?;
            self.keys.push(key.clone());
            Some(self.keys.len() as u32 - 1)
        }
        fn verify(&self, alg: Alg, handle: u32, input: &[u8], sig: &[u8]) -> Option<bool> {
            self.calls.set(self.calls.get() + 1);
            let key = self.keys.get(handle as usize)?;
            Some(crate::alg::verify_signature(alg, key, input, sig).is_ok())
        }
        fn name(&self) -> &'static str {
            "reference"
        }
    }

    #[test]
    fn a_correct_host_passes_and_is_called() {
        let mut host = Reference {
            keys: alloc::vec::Vec::new(),
            calls: core::cell::Cell::new(0),
        };
        self_test(&mut host).unwrap();
        assert_eq!(host.calls.get(), 4);
    }

    #[test]
    fn the_pure_rust_reference_agrees_with_every_probe() {
        for p in probes() {
            let verdict = |sig: &[u8]| crate::alg::verify_signature(p.alg, &p.key, p.message, sig);
            assert!(verdict(&p.good).is_ok(), "{} good", p.alg);
            assert!(verdict(&p.bad).is_err(), "{} bad", p.alg);
        }
    }

    #[test]
    fn a_host_that_refuses_everything_fails() {
        struct No;
        impl SignatureVerifier for No {
            fn prepare(&mut self, _: &VerifyingKey) -> Option<u32> {
                Some(7)
            }
            fn verify(&self, _: Alg, _: u32, _: &[u8], _: &[u8]) -> Option<bool> {
                Some(false)
            }
            fn name(&self) -> &'static str {
                "no"
            }
        }
        assert_eq!(
            self_test(&mut No).unwrap_err(),
            "no refused a good RS256 signature (Some(false))"
        );
    }
}
