//! Algorithms and verifying keys: the only module that imports crypto crates.
//!
//! The public-key algorithms go through one shape: jwt-compact's
//! [`jwt_compact::Algorithm`] trait. `RS*`, `PS*`, `ES256` and `EdDSA` are
//! jwt-compact's own implementations over RustCrypto backends; `ES384` and
//! `ES512` (which jwt-compact lacks) are implemented here over the `p384` and
//! `p521` crates, verify-only. `HS*` uses RustCrypto's `hmac` directly: the
//! secret's keyed state (its inner and outer pads hashed) is computed once,
//! when the key is built, so a check hashes only the signing input.
//!
//! [`verify_signature`] checks in one fixed order: the key fits the algorithm, the
//! signature has the algorithm's exact length and format, then the cryptography.
//! Keys are checked once, when they are built ([`VerifyingKey`]): RSA moduli of at
//! least 2048 bits, EC points on their curve, no small-order Ed25519 keys.
//!
//! The pure-Rust RSA and ECDSA verifiers are the cargo feature `rust-rsa-ecdsa`
//! (default on; the small Envoy filter is built without it). Without it the
//! keys are checked the same way (RSA on the bytes, EC points with
//! [`crate::curve`] in every build), `RS*`/`ES*` signatures need the host's crypto
//! ([`crate::host`]), and [`verify_signature`] refuses them as
//! `unsupported_alg`; a host that takes them and then fails to answer is
//! `verifier_unavailable` (HTTP 500: the deployment, not the token, is at fault).
//!
//! ECDSA signatures are raw `r || s` (IEEE P1363), as JWS requires; DER is refused
//! by its length. Both low and high `s` are accepted (JWS does not require low-S);
//! `r` or `s` equal to zero or not below the group order are refused
//! (CVE-2022-21449).

#[cfg(feature = "rust-rsa-ecdsa")]
use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
#[cfg(feature = "rust-rsa-ecdsa")]
use core::num::NonZeroUsize;

use hmac::{Hmac, Mac};
use jwt_compact::alg::Ed25519;
#[cfg(feature = "rust-rsa-ecdsa")]
use jwt_compact::alg::{Es256, Rsa};
use jwt_compact::{Algorithm, AlgorithmSignature};
use sha2::{Sha256, Sha384, Sha512};

use crate::curve::{on_curve, Curve};
use crate::error::{err, Error};

/// A JWS algorithm we implement (RFC 7518 names).
///
/// `none` is not one of them: [`Alg::from_name`] returns `None` for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, 32-byte salt.
    PS256,
    /// RSASSA-PSS with SHA-384, MGF1 with SHA-384, 48-byte salt.
    PS384,
    /// RSASSA-PSS with SHA-512, MGF1 with SHA-512, 64-byte salt.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// EdDSA on Ed25519 (RFC 8037).
    EdDSA,
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
}

impl Alg {
    /// Every algorithm, in declaration order.
    pub const ALL: &'static [Alg] = &[
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::ES512,
        Alg::EdDSA,
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
    ];

    /// The RFC 7518 name, as in a JWS header's `alg`, e.g. `"RS256"`.
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
            Alg::EdDSA => "EdDSA",
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
        }
    }

    /// The algorithm with this exact (case-sensitive) name; `None` for `none`
    /// and for every name we do not implement.
    ///
    /// ```
    /// use jwtgate::alg::Alg;
    /// assert_eq!(Alg::from_name("ES384"), Some(Alg::ES384));
    /// assert_eq!(Alg::from_name("none"), None);
    /// assert_eq!(Alg::from_name("rs256"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.iter().copied().find(|alg| alg.name() == name)
    }

    /// `true` for the HMAC algorithms (`HS*`), whose key is a shared secret.
    pub fn is_symmetric(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }
}

/// Serializes as the RFC 7518 name, e.g. `"RS256"`.
impl serde::Serialize for Alg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The smallest RSA modulus we accept (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus we accept: bounds the cost of one verification.
const MAX_RSA_BITS: usize = 8192;

/// A verification key prepared once at configuration time (a public key, or an
/// HMAC secret).
///
/// Built only through the checked constructors ([`VerifyingKey::rsa`],
/// [`VerifyingKey::ec`], [`VerifyingKey::ed25519`], [`VerifyingKey::hmac`]).
/// Its `Debug` output never shows an HMAC secret.
#[derive(Clone)]
pub struct VerifyingKey(Inner);

#[derive(Clone)]
enum Inner {
    Rsa(RsaKey),
    // The uncompressed SEC1 point `04 || x || y`, checked on its curve.
    P256(Vec<u8>),
    P384(Vec<u8>),
    P521(Vec<u8>),
    Ed25519(ed25519_dalek::VerifyingKey),
    Hmac(Box<HmacKey>),
}

/// An HMAC secret and its keyed state for each `HS*` hash (the pads already
/// hashed, RFC 2104), computed once when the key is built: a check clones
/// the state and hashes only the signing input.
#[derive(Clone)]
struct HmacKey {
    secret: Vec<u8>,
    hs256: Hmac<Sha256>,
    hs384: Hmac<Sha384>,
    hs512: Hmac<Sha512>,
}

/// A checked RSA public key: its big-endian modulus and exponent without
/// leading zeros (what the checks, the SPKI for host crypto and key
/// comparison need), and the pure-Rust key when that verifier is built.
#[derive(Clone)]
struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
    #[cfg(feature = "rust-rsa-ecdsa")]
    key: rsa::RsaPublicKey,
}

/// The largest RSA public exponent we accept, 2^33 - 1 (the `rsa` crate's bound).
const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;

/// `bytes` without its leading zero bytes.
fn unsigned(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The bit length of a big-endian unsigned integer without leading zeros.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

impl VerifyingKey {
    /// An RSA public key from its big-endian modulus `n` and exponent `e`.
    ///
    /// Refuses moduli under 2048 bits (RFC 7518 §3.3) or over 8192 bits, even
    /// moduli, and public exponents that are even, below 3, or above 2^33 - 1.
    pub fn rsa(n: &[u8], e: &[u8]) -> Result<Self, Error> {
        // On the bytes, so that every build checks the same way, with or
        // without the pure-Rust verifier.
        let (n, e) = (unsigned(n), unsigned(e));
        let bits = bit_length(n);
        if bits < MIN_RSA_BITS {
            return Err(err!(
                InvalidKey,
                "the RSA modulus is {bits} bits; at least {MIN_RSA_BITS} bits are required (RFC 7518 §3.3)"
            ));
        }
        if bits > MAX_RSA_BITS {
            return Err(err!(
                InvalidKey,
                "the RSA modulus is {bits} bits; at most {MAX_RSA_BITS} bits are supported"
            ));
        }
        if !matches!(n.last(), Some(byte) if byte & 1 == 1) {
            return Err(err!(
                InvalidKey,
                "the RSA modulus is even, so it is not an RSA modulus"
            ));
        }
        // More than 8 bytes is over the bound below, whatever the value.
        let exponent = if e.len() <= 8 {
            e.iter().fold(0_u64, |acc, &b| acc << 8 | u64::from(b))
        } else {
            u64::MAX
        };
        if !matches!(e.last(), Some(byte) if byte & 1 == 1) || exponent < 3 {
            return Err(err!(
                InvalidKey,
                "the RSA public exponent must be odd and at least 3 (65537 is usual)"
            ));
        }
        if exponent > MAX_RSA_EXPONENT {
            return Err(err!(
                InvalidKey,
                "the RSA public key is invalid: the public exponent is over 2^33 - 1"
            ));
        }
        Ok(VerifyingKey(Inner::Rsa(RsaKey {
            #[cfg(feature = "rust-rsa-ecdsa")]
            key: rsa::RsaPublicKey::new_with_max_size(
                rsa::BigUint::from_bytes_be(n),
                rsa::BigUint::from_bytes_be(e),
                MAX_RSA_BITS,
            )
            .map_err(|e| err!(InvalidKey, "the RSA public key is invalid: {e}"))?,
            n: n.to_vec(),
            e: e.to_vec(),
        })))
    }

    /// An elliptic-curve public key: `crv` is `"P-256"`, `"P-384"` or `"P-521"`;
    /// `x` and `y` are the big-endian affine coordinates of exactly the curve's
    /// size (32, 48 or 66 bytes). The point must be on the curve.
    pub fn ec(crv: &str, x: &[u8], y: &[u8]) -> Result<Self, Error> {
        let Some(curve) = Curve::from_name(crv) else {
            return Err(err!(
                InvalidKey,
                "the EC curve {crv:?} is not supported (P-256, P-384 or P-521)"
            ));
        };
        let point = sec1_point(crv, curve.size(), x, y)?;
        if !on_curve(curve, x, y) {
            return Err(err!(
                InvalidKey,
                "the point (x, y) is not on the {crv} curve"
            ));
        }
        Ok(VerifyingKey(match curve {
            Curve::P256 => Inner::P256(point),
            Curve::P384 => Inner::P384(point),
            Curve::P521 => Inner::P521(point),
        }))
    }

    /// An Ed25519 public key: the 32-byte compressed point (RFC 8037 `x`).
    ///
    /// Refuses encodings that are not a point and small-order (weak) points.
    pub fn ed25519(x: &[u8]) -> Result<Self, Error> {
        let bytes = <&[u8; 32]>::try_from(x).map_err(|_| {
            err!(
                InvalidKey,
                "the Ed25519 public key is {} bytes; it must be exactly 32",
                x.len()
            )
        })?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| err!(InvalidKey, "the Ed25519 public key is not a valid point"))?;
        if key.is_weak() {
            return Err(err!(
                InvalidKey,
                "the Ed25519 public key is a small-order point, which cannot be trusted"
            ));
        }
        Ok(VerifyingKey(Inner::Ed25519(key)))
    }

    /// An HMAC secret. It must not be empty; the minimum length for each `HS*`
    /// algorithm (the hash size, RFC 7518 §3.2) is checked by [`verify_signature`].
    pub fn hmac(secret: &[u8]) -> Result<Self, Error> {
        if secret.is_empty() {
            return Err(err!(InvalidKey, "the HMAC secret is empty"));
        }
        // HMAC takes a key of any length; `new_from_slice` never refuses one.
        let keyed = |_| err!(InvalidKey, "the HMAC secret cannot be keyed");
        Ok(VerifyingKey(Inner::Hmac(Box::new(HmacKey {
            secret: secret.to_vec(),
            hs256: Hmac::new_from_slice(secret).map_err(keyed)?,
            hs384: Hmac::new_from_slice(secret).map_err(keyed)?,
            hs512: Hmac::new_from_slice(secret).map_err(keyed)?,
        }))))
    }

    /// What this key is: `"RSA"`, `"EC P-256"`, `"EC P-384"`, `"EC P-521"`,
    /// `"OKP Ed25519"` or `"oct"`.
    pub fn kind(&self) -> &'static str {
        match &self.0 {
            Inner::Rsa(_) => "RSA",
            Inner::P256(_) => "EC P-256",
            Inner::P384(_) => "EC P-384",
            Inner::P521(_) => "EC P-521",
            Inner::Ed25519(_) => "OKP Ed25519",
            Inner::Hmac(_) => "oct",
        }
    }

    /// Whether this key can be used with `alg`: RSA with `RS*`/`PS*`, P-256 with
    /// `ES256`, P-384 with `ES384`, P-521 with `ES512`, Ed25519 with `EdDSA`,
    /// an HMAC secret with `HS*`.
    pub fn fits(&self, alg: Alg) -> bool {
        match &self.0 {
            Inner::Rsa(_) => matches!(
                alg,
                Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512
            ),
            Inner::P256(_) => alg == Alg::ES256,
            Inner::P384(_) => alg == Alg::ES384,
            Inner::P521(_) => alg == Alg::ES512,
            Inner::Ed25519(_) => alg == Alg::EdDSA,
            Inner::Hmac(_) => alg.is_symmetric(),
        }
    }

    /// Whether `other` is the same public key (never true for HMAC secrets):
    /// a certificate's key against a JWK's (`x5c`).
    pub fn same_key(&self, other: &VerifyingKey) -> bool {
        match (&self.0, &other.0) {
            (Inner::Rsa(a), Inner::Rsa(b)) => a.n == b.n && a.e == b.e,
            (Inner::P256(a), Inner::P256(b)) => a == b,
            (Inner::P384(a), Inner::P384(b)) => a == b,
            (Inner::P521(a), Inner::P521(b)) => a == b,
            (Inner::Ed25519(a), Inner::Ed25519(b)) => a == b,
            _ => false,
        }
    }

    /// The DER `SubjectPublicKeyInfo` of an RSA or EC key (for host crypto
    /// APIs); `None` for Ed25519 keys and HMAC secrets.
    pub fn spki_der(&self) -> Option<Vec<u8>> {
        match &self.0 {
            Inner::Rsa(key) => Some(rsa_spki(&key.n, &key.e)),
            Inner::P256(point) => Some(ec_spki(SPKI_P256, point)),
            Inner::P384(point) => Some(ec_spki(SPKI_P384, point)),
            Inner::P521(point) => Some(ec_spki(SPKI_P521, point)),
            Inner::Ed25519(_) | Inner::Hmac(_) => None,
        }
    }
}

/// A verification key in the form host crypto APIs take it
/// ([`VerifyingKey::host_key`]). An HMAC secret only ever comes from an
/// `oct` key: no public key is ever handed to a host as a secret.
pub enum HostKey<'a> {
    /// A public key as DER `SubjectPublicKeyInfo` (RSA, EC, and Ed25519 as
    /// RFC 8410 encodes it).
    Public(Vec<u8>),
    /// An HMAC secret.
    Secret(&'a [u8]),
}

/// Only the kind and size of a secret, never its bytes.
impl fmt::Debug for HostKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostKey::Public(der) => write!(f, "Public({} bytes of DER)", der.len()),
            HostKey::Secret(secret) => write!(f, "Secret({} bytes)", secret.len()),
        }
    }
}

impl VerifyingKey {
    /// The key for a host's crypto ([`crate::host`]): the DER
    /// `SubjectPublicKeyInfo` of an RSA, EC or Ed25519 public key, or an
    /// HMAC secret. `None` only if an RSA key cannot be encoded.
    ///
    /// ```
    /// use jwtgate::alg::{HostKey, VerifyingKey};
    /// // RFC 8032 §7.1, TEST 3.
    /// let x = [0xfc, 0x51, 0xcd, 0x8e, 0x62, 0x18, 0xa1, 0xa3, 0x8d, 0xa4, 0x7e, 0xd0, 0x02,
    ///     0x30, 0xf0, 0x58, 0x08, 0x16, 0xed, 0x13, 0xba, 0x33, 0x03, 0xac, 0x5d, 0xeb, 0x91,
    ///     0x15, 0x48, 0x90, 0x80, 0x25];
    /// let Some(HostKey::Public(der)) = VerifyingKey::ed25519(&x).unwrap().host_key() else {
    ///     panic!("an Ed25519 key is a public key")
    /// };
    /// assert_eq!(der.len(), 44);
    /// assert_eq!(&der[12..], &x);
    /// let secret = VerifyingKey::hmac(b"s3cret").unwrap();
    /// assert!(matches!(secret.host_key(), Some(HostKey::Secret(b"s3cret"))));
    /// ```
    pub fn host_key(&self) -> Option<HostKey<'_>> {
        match &self.0 {
            Inner::Ed25519(key) => Some(HostKey::Public(ec_spki(SPKI_ED25519, key.as_bytes()))),
            Inner::Hmac(key) => Some(HostKey::Secret(&key.secret)),
            _ => self.spki_der().map(HostKey::Public),
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("VerifyingKey");
        out.field("kind", &self.kind());
        match &self.0 {
            Inner::Rsa(key) => out.field("bits", &bit_length(&key.n)),
            Inner::Hmac(key) => out.field("secret_bytes", &key.secret.len()),
            Inner::P256(_) | Inner::P384(_) | Inner::P521(_) | Inner::Ed25519(_) => &mut out,
        };
        out.finish()
    }
}

/// The uncompressed SEC1 encoding `04 || x || y`, after checking the lengths.
fn sec1_point(crv: &str, size: usize, x: &[u8], y: &[u8]) -> Result<Vec<u8>, Error> {
    for (name, coordinate) in [("x", x), ("y", y)] {
        if coordinate.len() != size {
            return Err(err!(
                InvalidKey,
                "the {name} coordinate of a {crv} key is {} bytes; it must be exactly {size}",
                coordinate.len()
            ));
        }
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Ok(point)
}

// DER prefixes of an EC SubjectPublicKeyInfo up to the uncompressed point
// (RFC 5480: id-ecPublicKey with the named curve, then the BIT STRING header).
const SPKI_P256: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const SPKI_P384: &[u8] = &[
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];
const SPKI_P521: &[u8] = &[
    0x30, 0x81, 0x9b, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05,
    0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00,
];

// The DER prefix of an Ed25519 SubjectPublicKeyInfo up to the 32-byte key
// (RFC 8410 §4: id-Ed25519, no parameters, then the BIT STRING header).
const SPKI_ED25519: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The DER of `rsaEncryption` with NULL parameters (RFC 8017 A.1), the
/// `AlgorithmIdentifier` of an RSA SubjectPublicKeyInfo.
const RSA_ALGORITHM_ID: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// A DER tag, length and contents.
fn der_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let significant = unsigned(&bytes);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(contents);
}

/// A DER INTEGER of a positive big-endian number without leading zeros.
fn der_uint(out: &mut Vec<u8>, value: &[u8]) {
    let mut contents = Vec::with_capacity(value.len() + 1);
    if value.first().is_none_or(|&b| b & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(value);
    der_tlv(out, 0x02, &contents);
}

/// The DER SubjectPublicKeyInfo of an RSA key (RFC 8017 A.1.1 inside
/// RFC 5280 §4.1): what host crypto APIs take.
fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut integers = Vec::with_capacity(n.len() + e.len() + 8);
    der_uint(&mut integers, n);
    der_uint(&mut integers, e);
    let mut rsa_public_key = Vec::with_capacity(integers.len() + 5);
    der_tlv(&mut rsa_public_key, 0x30, &integers);
    // BIT STRING: no unused bits, then the RSAPublicKey.
    let mut bits = Vec::with_capacity(rsa_public_key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(&rsa_public_key);
    let mut body = Vec::with_capacity(RSA_ALGORITHM_ID.len() + bits.len() + 5);
    body.extend_from_slice(RSA_ALGORITHM_ID);
    der_tlv(&mut body, 0x03, &bits);
    let mut spki = Vec::with_capacity(body.len() + 5);
    der_tlv(&mut spki, 0x30, &body);
    spki
}

fn ec_spki(prefix: &[u8], point: &[u8]) -> Vec<u8> {
    let mut der = Vec::with_capacity(prefix.len() + point.len());
    der.extend_from_slice(prefix);
    der.extend_from_slice(point);
    der
}

/// Verifies `signature` over `signing_input` (the ASCII `header.payload`).
///
/// Checks, in this order: the key fits `alg` (else [`ErrorCode::KeyMismatch`]);
/// for HMAC, the secret is at least the hash size (else [`ErrorCode::InvalidKey`]);
/// the signature has `alg`'s exact length (ES256 64 bytes of raw `r || s`, ES384
/// 96, ES512 132, EdDSA 64, HS256 32, HS384 48, HS512 64, RSA the modulus size)
/// and format; then the cryptographic check. Each signature failure is
/// [`ErrorCode::BadSignature`]. `Ok(())` only if the signature is valid.
///
/// ```
/// use jwtgate::alg::{verify_signature, Alg, VerifyingKey};
/// // RFC 7515 Appendix A.1 (HS256).
/// let key = jwtgate::base64url::decode(
///     "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
/// ).unwrap();
/// let key = VerifyingKey::hmac(&key).unwrap();
/// let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
///     eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
/// let sig = jwtgate::base64url::decode("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
/// assert!(verify_signature(Alg::HS256, &key, input.as_bytes(), &sig).is_ok());
/// let e = verify_signature(Alg::RS256, &key, input.as_bytes(), &sig).unwrap_err();
/// assert_eq!(e.code().as_str(), "key_mismatch");
/// ```
///
/// [`ErrorCode::KeyMismatch`]: crate::ErrorCode::KeyMismatch
/// [`ErrorCode::InvalidKey`]: crate::ErrorCode::InvalidKey
/// [`ErrorCode::BadSignature`]: crate::ErrorCode::BadSignature
pub fn verify_signature(
    alg: Alg,
    key: &VerifyingKey,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    check_format(alg, key, signature)?;
    verify_checked(alg, key, signing_input, signature)
}

/// The checks before any cryptography, shared by the pure-Rust and the host
/// verifiers ([`crate::host`]): the key fits `alg`, an HMAC secret is long
/// enough, the signature has exactly the length `alg` and the key need, and
/// an ECDSA signature's `r` and `s` are in range.
pub fn check_format(alg: Alg, key: &VerifyingKey, signature: &[u8]) -> Result<(), Error> {
    if !key.fits(alg) {
        return Err(mismatch(alg, key));
    }
    let expected = match &key.0 {
        Inner::Rsa(rsa) => rsa.n.len(),
        Inner::Hmac(key) => {
            let secret = &key.secret;
            let hash_len = hmac_len(alg);
            if secret.len() < hash_len {
                return Err(err!(
                    InvalidKey,
                    "the HMAC secret is {} bytes; {alg} needs at least {hash_len} (RFC 7518 §3.2)",
                    secret.len()
                ));
            }
            hash_len
        }
        Inner::P256(_) => 64,
        Inner::P384(_) => 96,
        Inner::P521(_) => 132,
        Inner::Ed25519(_) => 64,
    };
    if signature.len() != expected {
        let hint = if matches!(alg, Alg::ES256 | Alg::ES384 | Alg::ES512) {
            " (raw r||s, not DER)"
        } else {
            ""
        };
        return Err(err!(
            BadSignature,
            "the signature is {} bytes; {alg} needs {expected}{hint}",
            signature.len()
        ));
    }
    // ECDSA: r and s must both be in [1, n - 1] (r = s = 0 is CVE-2022-21449),
    // decided here so that no host is ever asked about such a signature.
    if matches!(alg, Alg::ES256 | Alg::ES384 | Alg::ES512)
        && ecdsa_signature_der(alg, signature).is_none()
    {
        return Err(err!(
            BadSignature,
            "the {alg} signature is malformed: r and s must both be between 1 and the group order"
        ));
    }
    Ok(())
}

/// The cryptographic check, after [`check_format`] passed.
fn verify_checked(
    alg: Alg,
    key: &VerifyingKey,
    input: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    match (&key.0, alg) {
        #[cfg(feature = "rust-rsa-ecdsa")]
        (Inner::Rsa(k), Alg::RS256) => check(alg, &Rsa::rs256(), &k.key, input, signature),
        #[cfg(feature = "rust-rsa-ecdsa")]
        (Inner::Rsa(k), Alg::RS384) => check(alg, &Rsa::rs384(), &k.key, input, signature),
        #[cfg(feature = "rust-rsa-ecdsa")]
        (Inner::Rsa(k), Alg::RS512) => check(alg, &Rsa::rs512(), &k.key, input, signature),
        #[cfg(feature = "rust-rsa-ecdsa")]
        (Inner::Rsa(k), Alg::PS256) => check(alg, &Rsa::ps256(), &k.key, input, signature),
        #[cfg(feature = "rust-rsa-ecdsa")]
        (Inner::Rsa(k), Alg::PS384) => check(alg, &Rsa::ps384(), &k.key, input, signature),
        #[cfg(feature = "rust-rsa-ecdsa")]
        (Inner::Rsa(k), Alg::PS512) => check(alg, &Rsa::ps512(), &k.key, input, signature),
        #[cfg(feature = "rust-rsa-ecdsa")]
        (Inner::P256(k), Alg::ES256) => check(alg, &Es256, &ecdsa_key!(p256, k), input, signature),
        #[cfg(feature = "rust-rsa-ecdsa")]
        (Inner::P384(k), Alg::ES384) => check(alg, &Es384, &ecdsa_key!(p384, k), input, signature),
        #[cfg(feature = "rust-rsa-ecdsa")]
        (Inner::P521(k), Alg::ES512) => check(alg, &Es512, &ecdsa_key!(p521, k), input, signature),
        #[cfg(not(feature = "rust-rsa-ecdsa"))]
        (Inner::Rsa(_) | Inner::P256(_) | Inner::P384(_) | Inner::P521(_), _) if key.fits(alg) => {
            Err(err!(
                UnsupportedAlg,
                "no host crypto checks {alg} signatures here, and this build has no pure-Rust {alg} verifier ({FULL_BUILD})"
            ))
        }
        (Inner::Ed25519(k), Alg::EdDSA) => check(alg, &Ed25519, k, input, signature),
        (Inner::Hmac(k), Alg::HS256) => hmac_check(k.hs256.clone(), input, signature),
        (Inner::Hmac(k), Alg::HS384) => hmac_check(k.hs384.clone(), input, signature),
        (Inner::Hmac(k), Alg::HS512) => hmac_check(k.hs512.clone(), input, signature),
        // `fits` was checked above; this arm only completes the match.
        _ => Err(mismatch(alg, key)),
    }
}

/// The pure-Rust ECDSA key of a checked SEC1 point (the point is on the
/// curve already, so this cannot fail; if it did, the signature would not
/// verify).
#[cfg(feature = "rust-rsa-ecdsa")]
macro_rules! ecdsa_key {
    ($curve:ident, $point:expr) => {
        match $curve::ecdsa::VerifyingKey::from_sec1_bytes($point) {
            Ok(key) => key,
            Err(_) => return Err(err!(BadSignature, "the signature does not verify")),
        }
    };
}
#[cfg(feature = "rust-rsa-ecdsa")]
use ecdsa_key;

/// Whether this build has the pure-Rust RSA and ECDSA verifiers (feature
/// `rust-rsa-ecdsa`): without them RS* and ES* need the host's crypto and
/// PS* cannot be verified at all.
pub const PURE_RUST_RSA_ECDSA: bool = cfg!(feature = "rust-rsa-ecdsa");

/// Whether this build's pure Rust verifies `alg`: every algorithm with the
/// feature `rust-rsa-ecdsa`, else EdDSA and HS* only (RS*, PS* and ES* then
/// need a host that handles them, [`crate::host::SignatureVerifier::handles`]).
pub fn pure_rust_verifies(alg: Alg) -> bool {
    PURE_RUST_RSA_ECDSA || matches!(alg, Alg::EdDSA | Alg::HS256 | Alg::HS384 | Alg::HS512)
}

/// The family of `alg` as its RFC names it, for messages: `"RSASSA-PSS"`.
pub fn family(alg: Alg) -> &'static str {
    match alg {
        Alg::RS256 | Alg::RS384 | Alg::RS512 => "RSASSA-PKCS1-v1_5",
        Alg::PS256 | Alg::PS384 | Alg::PS512 => "RSASSA-PSS",
        Alg::ES256 | Alg::ES384 | Alg::ES512 => "ECDSA",
        Alg::EdDSA => "Ed25519",
        Alg::HS256 | Alg::HS384 | Alg::HS512 => "HMAC",
    }
}

/// What the errors of a build without the pure-Rust RSA and ECDSA verifiers
/// tell the user to do: the Envoy filter's full build, or the npm package's
/// `jwtgate/full` entry (in the build with the feature `js`).
#[cfg(not(feature = "js"))]
pub const FULL_BUILD: &str = "use the full build with the pure-Rust RSA/ECDSA verifiers: jwtgate_filter_full.wasm, or the cargo feature rust-rsa-ecdsa";
/// What the errors of a build without the pure-Rust RSA and ECDSA verifiers
/// tell the user to do: the Envoy filter's full build, or the npm package's
/// `jwtgate/full` entry (in the build with the feature `js`).
#[cfg(feature = "js")]
pub const FULL_BUILD: &str = "import \"jwtgate/full\", the npm module with the pure-Rust RSA/ECDSA verifiers (verifyAsync checks RSA and ECDSA signatures with WebCrypto)";

/// SHA-256 of `bytes` (policy fingerprints, so caches notice a new policy).
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Converts a raw `r || s` ECDSA signature (the JWS form, already length
/// checked) to ASN.1 DER, for host APIs that take DER (Envoy's
/// `verify_signature`). `None` for other algorithms or invalid `r`/`s`.
pub fn ecdsa_signature_der(alg: Alg, raw: &[u8]) -> Option<Vec<u8>> {
    match alg {
        Alg::ES256 => p256::ecdsa::Signature::from_slice(raw)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec()),
        Alg::ES384 => p384::ecdsa::Signature::from_slice(raw)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec()),
        Alg::ES512 => p521::ecdsa::Signature::from_slice(raw)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec()),
        _ => None,
    }
}

fn mismatch(alg: Alg, key: &VerifyingKey) -> Error {
    err!(
        KeyMismatch,
        "an {} key cannot verify {alg} signatures",
        key.kind()
    )
}

fn hmac_len(alg: Alg) -> usize {
    match alg {
        Alg::HS384 => 48,
        Alg::HS512 => 64,
        _ => 32,
    }
}

/// The one shape every algorithm goes through: restore the signature from its
/// bytes (the length is already checked), then verify.
fn check<A: Algorithm>(
    alg: Alg,
    algorithm: &A,
    key: &A::VerifyingKey,
    input: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    let signature = A::Signature::try_from_slice(signature).map_err(|_| {
        err!(
            BadSignature,
            "the {alg} signature is malformed (for ECDSA: r and s must both be between 1 and the group order)"
        )
    })?;
    if algorithm.verify_signature(&signature, key, input) {
        Ok(())
    } else {
        Err(err!(BadSignature, "the signature does not verify"))
    }
}

/// An HMAC check from a keyed state: the tag over `input` compared with
/// `signature` in constant time (`verify_slice`; the length is already checked).
fn hmac_check<M: Mac>(mut mac: M, input: &[u8], signature: &[u8]) -> Result<(), Error> {
    mac.update(input);
    mac.verify_slice(signature)
        .map_err(|_| err!(BadSignature, "the signature does not verify"))
}

/// A signing key that cannot exist: ES384 and ES512 are verify-only here, so
/// `sign` has no body to reach (and no panic path).
#[cfg(feature = "rust-rsa-ecdsa")]
enum NoSigningKey {}

/// `ES384` and `ES512` over RustCrypto's `p384` and `p521`, verify-only.
#[cfg(feature = "rust-rsa-ecdsa")]
macro_rules! nist_ecdsa {
    ($alg:ident, $sig:ident, $curve:ident, $name:literal, $len:literal) => {
        #[doc = concat!("`", $name, "` (verify-only).")]
        struct $alg;

        #[doc = concat!("A raw `r || s` `", $name, "` signature.")]
        struct $sig($curve::ecdsa::Signature);

        impl AlgorithmSignature for $sig {
            const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new($len);

            fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
                // Refuses r or s equal to zero or not below the group order.
                $curve::ecdsa::Signature::from_slice(slice)
                    .map($sig)
                    .map_err(|_| anyhow::Error::msg("r or s is out of range"))
            }

            fn as_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(self.0.to_bytes().to_vec())
            }
        }

        impl Algorithm for $alg {
            type SigningKey = NoSigningKey;
            type VerifyingKey = $curve::ecdsa::VerifyingKey;
            type Signature = $sig;

            fn name(&self) -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn sign(&self, signing_key: &NoSigningKey, _message: &[u8]) -> $sig {
                match *signing_key {}
            }

            fn verify_signature(
                &self,
                signature: &$sig,
                verifying_key: &$curve::ecdsa::VerifyingKey,
                message: &[u8],
            ) -> bool {
                use $curve::ecdsa::signature::Verifier;
                verifying_key.verify(message, &signature.0).is_ok()
            }
        }
    };
}

#[cfg(feature = "rust-rsa-ecdsa")]
nist_ecdsa!(Es384, Es384Signature, p384, "ES384", 96);
#[cfg(feature = "rust-rsa-ecdsa")]
nist_ecdsa!(Es512, Es512Signature, p521, "ES512", 132);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64url::decode;
    use crate::ErrorCode;

    fn b64(s: &str) -> Vec<u8> {
        decode(s).expect("test vector is base64url")
    }

    // RFC 7515 Appendix A.1 (HS256), A.3 (ES256) and RFC 8037 Appendix A.4 (EdDSA).
    const A1_KEY: &str =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    const A1_INPUT: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const A1_SIG: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const A3_INPUT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const A3_SIG: &str =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const ED_INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    const ED_SIG: &str =
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    fn p256_key() -> VerifyingKey {
        VerifyingKey::ec("P-256", &b64(A3_X), &b64(A3_Y)).unwrap()
    }

    fn code(result: Result<impl fmt::Debug, Error>) -> ErrorCode {
        result.unwrap_err().code()
    }

    /// An odd modulus of `bits` bits (not a real RSA modulus; enough for size checks).
    fn odd_modulus(bits: usize) -> Vec<u8> {
        let mut n = alloc::vec![0xab_u8; bits / 8];
        n[0] = 0xc3;
        *n.last_mut().unwrap() |= 1;
        n
    }

    #[test]
    fn names_round_trip_and_none_is_refused() {
        for alg in Alg::ALL {
            assert_eq!(Alg::from_name(alg.name()), Some(*alg));
            assert_eq!(alloc::format!("{alg}"), alg.name());
        }
        assert_eq!(Alg::ALL.len(), 13);
        for name in [
            "none", "None", "NONE", "", "rs256", "ES256K", "HS256 ", "Ed25519",
        ] {
            assert_eq!(Alg::from_name(name), None, "{name:?}");
        }
        let symmetric: Vec<_> = Alg::ALL.iter().filter(|a| a.is_symmetric()).collect();
        assert_eq!(symmetric, [&Alg::HS256, &Alg::HS384, &Alg::HS512]);
    }

    #[test]
    fn rfc_vectors_verify_and_a_flipped_bit_fails() {
        let cases = [
            (
                Alg::HS256,
                VerifyingKey::hmac(&b64(A1_KEY)).unwrap(),
                A1_INPUT,
                A1_SIG,
            ),
            (Alg::ES256, p256_key(), A3_INPUT, A3_SIG),
            (
                Alg::EdDSA,
                VerifyingKey::ed25519(&b64(ED_X)).unwrap(),
                ED_INPUT,
                ED_SIG,
            ),
        ];
        for (alg, key, input, sig) in cases {
            let sig = b64(sig);
            assert_eq!(
                verify_signature(alg, &key, input.as_bytes(), &sig),
                Ok(()),
                "{alg}"
            );
            let mut bad = sig.clone();
            bad[5] ^= 0x01;
            let e = verify_signature(alg, &key, input.as_bytes(), &bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::BadSignature, "{alg}");
            let mut input = input.as_bytes().to_vec();
            input[0] ^= 0x01;
            assert_eq!(
                code(verify_signature(alg, &key, &input, &sig)),
                ErrorCode::BadSignature
            );
        }
    }

    #[test]
    fn key_must_fit_the_alg_before_anything_else() {
        let key = p256_key();
        for alg in Alg::ALL.iter().filter(|a| **a != Alg::ES256) {
            let e = verify_signature(*alg, &key, b"x.y", &[]).unwrap_err();
            assert_eq!(e.code(), ErrorCode::KeyMismatch, "{alg}");
            assert_eq!(
                e.message(),
                alloc::format!("an EC P-256 key cannot verify {alg} signatures")
            );
        }
        let hmac = VerifyingKey::hmac(&[7; 64]).unwrap();
        assert!(hmac.fits(Alg::HS256) && hmac.fits(Alg::HS512) && !hmac.fits(Alg::RS256));
        assert_eq!(
            code(verify_signature(Alg::EdDSA, &hmac, b"x", &[0; 64])),
            ErrorCode::KeyMismatch
        );
    }

    #[test]
    fn der_ecdsa_signature_is_refused_by_its_length() {
        // The RFC 7515 A.3 signature re-encoded as DER: SEQUENCE { INTEGER r, INTEGER s }.
        let raw = b64(A3_SIG);
        let mut der = alloc::vec![0x30, 0x00];
        for half in raw.chunks(32) {
            der.push(0x02);
            if half[0] & 0x80 != 0 {
                der.extend_from_slice(&[33, 0]);
            } else {
                der.push(32);
            }
            der.extend_from_slice(half);
        }
        der[1] = u8::try_from(der.len() - 2).unwrap();
        let e = verify_signature(Alg::ES256, &p256_key(), A3_INPUT.as_bytes(), &der).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadSignature);
        assert_eq!(
            e.message(),
            alloc::format!(
                "the signature is {} bytes; ES256 needs 64 (raw r||s, not DER)",
                der.len()
            )
        );
    }

    #[test]
    fn ecdsa_zero_and_out_of_range_scalars_are_refused() {
        // CVE-2022-21449: r = s = 0 must never verify.
        let key = p256_key();
        let e = verify_signature(Alg::ES256, &key, A3_INPUT.as_bytes(), &[0; 64]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadSignature);
        assert!(e.message().contains("malformed"), "{e}");
        let raw = b64(A3_SIG);
        let mut r_zero = raw.clone();
        r_zero[..32].fill(0);
        assert_eq!(
            code(verify_signature(
                Alg::ES256,
                &key,
                A3_INPUT.as_bytes(),
                &r_zero
            )),
            ErrorCode::BadSignature
        );
        let mut s_max = raw;
        s_max[32..].fill(0xff);
        assert_eq!(
            code(verify_signature(
                Alg::ES256,
                &key,
                A3_INPUT.as_bytes(),
                &s_max
            )),
            ErrorCode::BadSignature
        );
        // The same for the curves implemented here (any key on the curve will do).
        for (crv, alg, size) in [("P-384", Alg::ES384, 48), ("P-521", Alg::ES512, 66)] {
            let key = generator_key(crv);
            let e = verify_signature(alg, &key, b"x.y", &alloc::vec![0; 2 * size]).unwrap_err();
            assert_eq!(e.code(), ErrorCode::BadSignature, "{alg}");
            assert!(e.message().contains("malformed"), "{e}");
        }
    }

    /// The curve's generator point as a public key (SEC 2 / FIPS 186-4 constants).
    fn generator_key(crv: &str) -> VerifyingKey {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let (x, y) = match crv {
            "P-384" => (
                "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
                "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
            ),
            _ => (
                "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
                "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650",
            ),
        };
        VerifyingKey::ec(crv, &hex(x), &hex(y)).unwrap()
    }

    #[test]
    fn signature_lengths_are_exact() {
        let ed = VerifyingKey::ed25519(&b64(ED_X)).unwrap();
        let e = verify_signature(Alg::EdDSA, &ed, b"x", &[0; 63]).unwrap_err();
        assert_eq!(e.message(), "the signature is 63 bytes; EdDSA needs 64");
        let hmac = VerifyingKey::hmac(&[1; 64]).unwrap();
        for (alg, len) in [(Alg::HS256, 32), (Alg::HS384, 48), (Alg::HS512, 64)] {
            let e = verify_signature(alg, &hmac, b"x", &alloc::vec![0; len + 1]).unwrap_err();
            assert_eq!(
                e.message(),
                alloc::format!("the signature is {} bytes; {alg} needs {len}", len + 1)
            );
            // A truncated tag (HMAC-SHA-512/256 style) is refused too.
            assert_eq!(
                code(verify_signature(alg, &hmac, b"x", &alloc::vec![0; len / 2])),
                ErrorCode::BadSignature
            );
        }
        for (crv, alg, len) in [("P-384", Alg::ES384, 96), ("P-521", Alg::ES512, 132)] {
            let e = verify_signature(alg, &generator_key(crv), b"x", &[0; 64]).unwrap_err();
            assert_eq!(
                e.message(),
                alloc::format!("the signature is 64 bytes; {alg} needs {len} (raw r||s, not DER)")
            );
        }
    }

    #[test]
    fn hmac_secret_must_be_at_least_the_hash_size_per_alg() {
        assert_eq!(code(VerifyingKey::hmac(&[])), ErrorCode::InvalidKey);
        let key = VerifyingKey::hmac(&[9; 32]).unwrap();
        // 32 bytes is enough for HS256 (the tag is wrong, so BadSignature) ...
        assert_eq!(
            code(verify_signature(Alg::HS256, &key, b"x", &[0; 32])),
            ErrorCode::BadSignature
        );
        // ... but not for HS384 or HS512, whatever the signature.
        let e = verify_signature(Alg::HS384, &key, b"x", &[0; 48]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidKey);
        assert_eq!(
            e.message(),
            "the HMAC secret is 32 bytes; HS384 needs at least 48 (RFC 7518 §3.2)"
        );
        assert_eq!(
            code(verify_signature(Alg::HS512, &key, b"x", &[0; 64])),
            ErrorCode::InvalidKey
        );
        let short = VerifyingKey::hmac(&[9; 31]).unwrap();
        assert_eq!(
            code(verify_signature(Alg::HS256, &short, b"x", &[0; 32])),
            ErrorCode::InvalidKey
        );
    }

    #[test]
    fn debug_never_shows_the_hmac_secret() {
        let key = VerifyingKey::hmac(b"correct horse battery staple 0123456789").unwrap();
        let shown = alloc::format!("{key:?}");
        assert_eq!(shown, "VerifyingKey { kind: \"oct\", secret_bytes: 39 }");
        assert_eq!(key.kind(), "oct");
        assert_eq!(key.spki_der(), None);
    }

    #[test]
    fn rsa_keys_are_checked() {
        let e = VerifyingKey::rsa(&odd_modulus(1024), &[1, 0, 1]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidKey);
        assert_eq!(
            e.message(),
            "the RSA modulus is 1024 bits; at least 2048 bits are required (RFC 7518 §3.3)"
        );
        assert!(VerifyingKey::rsa(&odd_modulus(2040), &[1, 0, 1])
            .unwrap_err()
            .message()
            .contains("2040 bits"));
        assert!(VerifyingKey::rsa(&odd_modulus(8200), &[1, 0, 1])
            .unwrap_err()
            .message()
            .contains("at most 8192"));
        assert_eq!(
            code(VerifyingKey::rsa(&[], &[1, 0, 1])),
            ErrorCode::InvalidKey
        );
        let mut even = odd_modulus(2048);
        *even.last_mut().unwrap() &= 0xfe;
        assert!(VerifyingKey::rsa(&even, &[1, 0, 1])
            .unwrap_err()
            .message()
            .contains("even"));
        for e in [&[][..], &[1], &[2], &[1, 0, 0], &[0, 1]] {
            let err = VerifyingKey::rsa(&odd_modulus(2048), e).unwrap_err();
            assert!(err.message().contains("exponent"), "{e:?}: {err}");
        }
        // Larger than 2^33 - 1 (the rsa crate's bound), also as more than 8 bytes.
        assert_eq!(
            code(VerifyingKey::rsa(&odd_modulus(2048), &[1, 0, 0, 0, 0, 1])),
            ErrorCode::InvalidKey
        );
        assert_eq!(
            code(VerifyingKey::rsa(&odd_modulus(2048), &[1; 9])),
            ErrorCode::InvalidKey
        );
        assert!(VerifyingKey::rsa(&odd_modulus(2048), &[1, 0xff, 0xff, 0xff, 0xff]).is_ok());
        let key = VerifyingKey::rsa(&odd_modulus(2048), &[3]).unwrap();
        assert_eq!(key.kind(), "RSA");
        assert_eq!(
            alloc::format!("{key:?}"),
            "VerifyingKey { kind: \"RSA\", bits: 2048 }"
        );
        // A leading zero byte is tolerated; the size is that of the number.
        let mut padded = alloc::vec![0];
        padded.extend(odd_modulus(2048));
        assert!(VerifyingKey::rsa(&padded, &[1, 0, 1]).is_ok());
        for alg in [Alg::RS256, Alg::PS512] {
            let e = verify_signature(alg, &key, b"x", &[0; 255]).unwrap_err();
            assert_eq!(
                e.message(),
                alloc::format!("the signature is 255 bytes; {alg} needs 256")
            );
        }
        assert_eq!(
            code(verify_signature(Alg::RS256, &key, b"x", &[0; 256])),
            ErrorCode::BadSignature
        );
    }

    #[test]
    fn ec_keys_are_checked() {
        let (x, y) = (b64(A3_X), b64(A3_Y));
        let e = VerifyingKey::ec("P-256", &x[1..], &y).unwrap_err();
        assert_eq!(
            e.message(),
            "the x coordinate of a P-256 key is 31 bytes; it must be exactly 32"
        );
        let mut long_y = alloc::vec![0];
        long_y.extend_from_slice(&y);
        assert!(VerifyingKey::ec("P-256", &x, &long_y)
            .unwrap_err()
            .message()
            .contains("y coordinate"));
        // The right lengths for another curve are the wrong lengths for this one.
        assert!(VerifyingKey::ec("P-384", &x, &y)
            .unwrap_err()
            .message()
            .contains("exactly 48"));
        let mut off = y.clone();
        off[31] ^= 1;
        let e = VerifyingKey::ec("P-256", &x, &off).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidKey);
        assert_eq!(e.message(), "the point (x, y) is not on the P-256 curve");
        assert_eq!(
            code(VerifyingKey::ec("P-256", &[0; 32], &[0; 32])),
            ErrorCode::InvalidKey
        );
        assert!(VerifyingKey::ec("secp256k1", &x, &y)
            .unwrap_err()
            .message()
            .contains("not supported"));
        assert_eq!(generator_key("P-384").kind(), "EC P-384");
        assert_eq!(generator_key("P-521").kind(), "EC P-521");
        assert_eq!(p256_key().kind(), "EC P-256");
        assert!(p256_key().fits(Alg::ES256) && !p256_key().fits(Alg::ES384));
    }

    /// The hand-written RSA SubjectPublicKeyInfo is the `rsa` crate's
    /// (RustCrypto's pkcs8 encoder), byte for byte, for moduli whose top bit
    /// is set or not and DER lengths of two and three bytes.
    #[cfg(feature = "rust-rsa-ecdsa")]
    #[test]
    fn rsa_spki_is_the_rsa_crates() {
        use rsa::pkcs8::EncodePublicKey;
        for (bits, top) in [(2048, 0xc3), (2056, 0x43), (4096, 0x80), (8192, 0xff)] {
            let mut n = odd_modulus(bits);
            n[0] = top;
            for e in [&[3_u8][..], &[1, 0, 1], &[0x80, 0, 1]] {
                let ours = VerifyingKey::rsa(&n, e).unwrap().spki_der().unwrap();
                let theirs = rsa::RsaPublicKey::new_with_max_size(
                    rsa::BigUint::from_bytes_be(&n),
                    rsa::BigUint::from_bytes_be(e),
                    MAX_RSA_BITS,
                )
                .unwrap()
                .to_public_key_der()
                .unwrap();
                assert_eq!(
                    ours,
                    theirs.as_bytes(),
                    "{bits} bits, top {top:#x}, e {e:?}"
                );
            }
        }
    }

    #[test]
    fn ec_spki_is_the_prefix_and_the_point() {
        let der = p256_key().spki_der().unwrap();
        assert_eq!(der.len(), 91);
        assert_eq!(&der[..26], SPKI_P256);
        assert_eq!(der[26], 0x04);
        assert_eq!(&der[27..59], &b64(A3_X)[..]);
        assert_eq!(&der[59..], &b64(A3_Y)[..]);
        // The DER length bytes agree with the content lengths.
        for (crv, prefix) in [("P-384", SPKI_P384), ("P-521", SPKI_P521)] {
            let der = generator_key(crv).spki_der().unwrap();
            assert!(der.starts_with(prefix));
            let outer = if crv == "P-521" {
                usize::from(der[2]) + 3
            } else {
                usize::from(der[1]) + 2
            };
            assert_eq!(outer, der.len(), "{crv}");
        }
    }

    #[test]
    fn ed25519_keys_are_checked() {
        assert!(VerifyingKey::ed25519(&[0; 31])
            .unwrap_err()
            .message()
            .contains("31 bytes"));
        // The identity point (y = 1) has small order.
        let mut identity = [0_u8; 32];
        identity[0] = 1;
        assert!(VerifyingKey::ed25519(&identity)
            .unwrap_err()
            .message()
            .contains("small-order"));
        // y = 2 is not the y coordinate of any point on the curve.
        let mut not_a_point = [0_u8; 32];
        not_a_point[0] = 2;
        assert!(VerifyingKey::ed25519(&not_a_point)
            .unwrap_err()
            .message()
            .contains("not a valid point"));
        let key = VerifyingKey::ed25519(&b64(ED_X)).unwrap();
        assert_eq!(key.kind(), "OKP Ed25519");
        assert_eq!(key.spki_der(), None);
    }

    #[cfg(feature = "rust-rsa-ecdsa")]
    #[test]
    fn our_signature_types_agree_with_the_length_table() {
        assert_eq!(Es384Signature::LENGTH.map(NonZeroUsize::get), Some(96));
        assert_eq!(Es512Signature::LENGTH.map(NonZeroUsize::get), Some(132));
        assert_eq!(Es384.name(), "ES384");
        assert_eq!(Es512.name(), "ES512");
        let sig = Es384Signature::try_from_slice(&[1; 96]).unwrap();
        assert_eq!(sig.as_bytes().as_ref(), &[1; 96][..]);
        let sig = Es512Signature::try_from_slice(&[1; 132]).unwrap();
        assert_eq!(sig.as_bytes().as_ref(), &[1; 132][..]);
    }
}
