//! The host-crypto seam: the core decides everything (token structure,
//! algorithm, key, signature length and format) and may then ask the host's
//! native crypto for the final signature check, which is several times
//! faster than pure Rust in wasm for RSA and ECDSA (and, in Node, for
//! Ed25519). A host receives keys as [`crate::alg::HostKey`]: public keys as
//! DER, HMAC secrets only from `oct` keys.
//!
//! The pure-Rust verifier ([`crate::alg::verify_signature`]) stays the
//! reference: a host is only used after it passed [`self_test`], and any
//! answer other than a clear yes or no falls back to pure Rust. In a build
//! without the pure-Rust RSA/ECDSA verifiers (feature `rust-rsa-ecdsa` off:
//! the small Envoy filter, the default npm module) there is nothing to fall
//! back to for `RS*`/`PS*`/`ES*`: such a check is refused (`unsupported_alg`
//! when no host takes the algorithm, `verifier_unavailable` when the host takes
//! it and gives no answer), a host failing its self-test refuses the
//! configuration, and an algorithm
//! the host does not handle ([`SignatureVerifier::handles`]) is refused at
//! load ([`crate::Verifier::offer_host_crypto`]).
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
    /// pure Rust verifies its signatures). The core offers only keys that fit
    /// an algorithm the host [`handles`](SignatureVerifier::handles).
    fn prepare(&mut self, key: &VerifyingKey) -> Option<u32>;

    /// Checks `signature` over `signing_input` with a prepared key. The core
    /// has already checked that the key fits `alg` and that the signature has
    /// the right length and format (raw `r || s` for ECDSA). `Some(valid)` is
    /// the answer; `None` means the host could not answer: pure Rust decides
    /// instead, and in a build without a pure-Rust verifier for `alg` the
    /// token is refused with `verifier_unavailable` (HTTP 500).
    fn verify(&self, alg: Alg, handle: u32, signing_input: &[u8], signature: &[u8])
        -> Option<bool>;

    /// Whether this host checks `alg` signatures at all (Envoy's
    /// `verify_signature` has no RSASSA-PSS, so the Envoy host says no to
    /// `PS*`). The core never asks a host about an algorithm it does not
    /// handle, and refuses at load an algorithm that neither the host nor
    /// this build's pure Rust verifies ([`crate::alg::pure_rust_verifies`]);
    /// a token with such an alg that gets past that (a key fetched later) is
    /// refused with `unsupported_alg`.
    fn handles(&self, alg: Alg) -> bool;

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

// RFC 8032 §7.1, TEST 3 (Ed25519): public key, message, signature.
const PROBE_ED25519_KEY: &str = "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025";
const PROBE_ED25519_MESSAGE: &[u8] = &[0xaf, 0x82];
const PROBE_ED25519_SIG: &str = "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac\
    18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a";

// RFC 4231 §4.7, Test Case 6: a 131-byte key of 0xaa (long enough for every
// HS* algorithm, RFC 7518 §3.2), this message, and the three HMACs.
const PROBE_HMAC_KEY: [u8; 131] = [0xaa; 131];
const PROBE_HMAC_MESSAGE: &[u8] = b"Test Using Larger Than Block-Size Key - Hash Key First";
const PROBE_HS256: &str = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
const PROBE_HS384: &str = "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f\
    3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952";
const PROBE_HS512: &str = "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
    6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598";

/// How many probes [`probes`] returns (one per algorithm family and hash).
const PROBE_COUNT: usize = 6;

/// Hex (the RFCs' notation) to bytes; `None` on anything else.
fn hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// A known-good signature and the same signature with its last bit flipped, for
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
    /// The signed message ([`PROBE_MESSAGE`], or the RFC vector's).
    pub message: &'static [u8],
    /// A valid signature.
    pub good: Vec<u8>,
    /// An invalid one (the good one with its last bit flipped).
    pub bad: Vec<u8>,
}

/// The probes: RS256 and ES256 (keys and signatures made with Python
/// `cryptography`), EdDSA (RFC 8032 §7.1, TEST 3) and HS256, HS384, HS512
/// (RFC 4231, Test Case 6).
pub fn probes() -> Vec<Probe> {
    let decode = |s: &str| base64url::decode(s).unwrap_or_default();
    let hmac = || VerifyingKey::hmac(&PROBE_HMAC_KEY);
    let keys = [
        (
            Alg::RS256,
            VerifyingKey::rsa(&decode(PROBE_RSA_N), &[1, 0, 1]),
            PROBE_MESSAGE,
            decode(PROBE_RSA_SIG),
        ),
        (
            Alg::ES256,
            VerifyingKey::ec("P-256", &decode(PROBE_EC_X), &decode(PROBE_EC_Y)),
            PROBE_MESSAGE,
            decode(PROBE_EC_SIG),
        ),
        (
            Alg::EdDSA,
            VerifyingKey::ed25519(&hex(PROBE_ED25519_KEY).unwrap_or_default()),
            PROBE_ED25519_MESSAGE,
            hex(PROBE_ED25519_SIG).unwrap_or_default(),
        ),
        (
            Alg::HS256,
            hmac(),
            PROBE_HMAC_MESSAGE,
            hex(PROBE_HS256).unwrap_or_default(),
        ),
        (
            Alg::HS384,
            hmac(),
            PROBE_HMAC_MESSAGE,
            hex(PROBE_HS384).unwrap_or_default(),
        ),
        (
            Alg::HS512,
            hmac(),
            PROBE_HMAC_MESSAGE,
            hex(PROBE_HS512).unwrap_or_default(),
        ),
    ];
    keys.into_iter()
        .filter_map(|(alg, key, message, good)| {
            let mut bad = good.clone();
            *bad.last_mut()? ^= 1;
            Some(Probe {
                alg,
                key: key.ok()?,
                message,
                good,
                bad,
            })
        })
        .collect()
}

/// Checks a host before it is trusted: for every probe (RS256, ES256, EdDSA,
/// HS256, HS384, HS512) it must accept a known-good signature and refuse the
/// same signature with one bit flipped. A host that declines a key
/// (`prepare` returns `None`) or an algorithm ([`SignatureVerifier::handles`])
/// passes for it: pure Rust handles it, or the core refuses it. That
/// the pure-Rust reference agrees with the probes is a fact of the build,
/// pinned by the tests (natively here, in wasm by
/// `js/test/worker-guard.test.mjs`), not checked again at run time: a first
/// pure-Rust RSA or ECDSA check in a fresh wasm instance runs unoptimized
/// code and cost most of an edge worker's startup.
///
/// ```
/// use jwtgate::host::{self_test, SignatureVerifier};
/// use jwtgate::alg::{Alg, VerifyingKey};
/// /// A broken host that says yes to everything.
/// struct Yes;
/// impl SignatureVerifier for Yes {
///     fn prepare(&mut self, _: &VerifyingKey) -> Option<u32> { Some(0) }
///     fn verify(&self, _: Alg, _: u32, _: &[u8], _: &[u8]) -> Option<bool> { Some(true) }
///     fn handles(&self, _: Alg) -> bool { true }
///     fn name(&self) -> &'static str { "yes" }
/// }
/// assert!(self_test(&mut Yes).unwrap_err().contains("accepted a bad RS256 signature"));
/// ```
pub fn self_test(host: &mut dyn SignatureVerifier) -> Result<(), String> {
    let probes = probes();
    if probes.len() != PROBE_COUNT {
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
        if !host.handles(alg) {
            continue;
        }
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
            key.host_key()?;
            self.keys.push(key.clone());
            Some(self.keys.len() as u32 - 1)
        }
        fn verify(&self, alg: Alg, handle: u32, input: &[u8], sig: &[u8]) -> Option<bool> {
            self.calls.set(self.calls.get() + 1);
            let key = self.keys.get(handle as usize)?;
            Some(crate::alg::verify_signature(alg, key, input, sig).is_ok())
        }
        fn handles(&self, _: Alg) -> bool {
            true
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
        // A good and a bad signature for each of the 6 probes.
        assert_eq!(host.calls.get(), 12);
    }

    /// A host that is right about everything except one algorithm, where it
    /// says `answer`.
    struct WrongAbout {
        alg: Alg,
        answer: Option<bool>,
        reference: Reference,
    }

    impl SignatureVerifier for WrongAbout {
        fn prepare(&mut self, key: &VerifyingKey) -> Option<u32> {
            self.reference.prepare(key)
        }
        fn verify(&self, alg: Alg, handle: u32, input: &[u8], sig: &[u8]) -> Option<bool> {
            if alg == self.alg {
                return self.answer;
            }
            self.reference.verify(alg, handle, input, sig)
        }
        fn handles(&self, _: Alg) -> bool {
            true
        }
        fn name(&self) -> &'static str {
            "wrong"
        }
    }

    #[test]
    fn a_host_wrong_about_one_algorithm_fails() {
        for (alg, answer, expected) in [
            (
                Alg::EdDSA,
                Some(true),
                "wrong accepted a bad EdDSA signature (Some(true))",
            ),
            (
                Alg::EdDSA,
                None,
                "wrong refused a good EdDSA signature (None)",
            ),
            (
                Alg::HS256,
                Some(true),
                "wrong accepted a bad HS256 signature (Some(true))",
            ),
            (
                Alg::HS384,
                Some(false),
                "wrong refused a good HS384 signature (Some(false))",
            ),
            (
                Alg::HS512,
                Some(true),
                "wrong accepted a bad HS512 signature (Some(true))",
            ),
        ] {
            let mut host = WrongAbout {
                alg,
                answer,
                reference: Reference {
                    keys: alloc::vec::Vec::new(),
                    calls: core::cell::Cell::new(0),
                },
            };
            assert_eq!(self_test(&mut host).unwrap_err(), expected);
        }
    }

    #[test]
    fn the_probes_are_the_rfc_vectors() {
        let probes = probes();
        let algs: Vec<Alg> = probes.iter().map(|p| p.alg).collect();
        assert_eq!(
            algs,
            [
                Alg::RS256,
                Alg::ES256,
                Alg::EdDSA,
                Alg::HS256,
                Alg::HS384,
                Alg::HS512
            ]
        );
        // RFC 8032 §7.1 TEST 3: the message is the two bytes af 82.
        assert_eq!(probes[2].message, &[0xaf, 0x82]);
        assert_eq!(probes[2].good.len(), 64);
        // RFC 4231 Test Case 6: the HMAC lengths are the hash sizes.
        let lengths: Vec<usize> = probes[3..].iter().map(|p| p.good.len()).collect();
        assert_eq!(lengths, [32, 48, 64]);
        for p in &probes {
            assert_eq!(p.bad.len(), p.good.len());
            assert_ne!(p.bad, p.good);
        }
        assert_eq!(hex("0aFf"), Some(alloc::vec![0x0a, 0xff]));
        assert_eq!(hex("abc"), None);
        assert_eq!(hex("zz"), None);
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
            fn handles(&self, _: Alg) -> bool {
                true
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

    #[test]
    fn a_host_is_never_asked_about_an_alg_it_does_not_handle() {
        /// Takes only HS256, and would say yes to anything else.
        struct OnlyHs256;
        impl SignatureVerifier for OnlyHs256 {
            fn handles(&self, alg: Alg) -> bool {
                alg == Alg::HS256
            }
            fn prepare(&mut self, _: &VerifyingKey) -> Option<u32> {
                Some(0)
            }
            fn verify(&self, alg: Alg, _: u32, input: &[u8], sig: &[u8]) -> Option<bool> {
                assert_eq!(alg, Alg::HS256, "asked about {alg}");
                let probe = probes().into_iter().find(|p| p.alg == alg)?;
                Some(input == probe.message && sig == probe.good.as_slice())
            }
            fn name(&self) -> &'static str {
                "only-hs256"
            }
        }
        assert_eq!(self_test(&mut OnlyHs256), Ok(()));
    }
}
