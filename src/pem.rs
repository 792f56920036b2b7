//! Keys in PEM and X.509 form: SPKI public keys (`BEGIN PUBLIC KEY`), PKCS#1
//! RSA public keys (`BEGIN RSA PUBLIC KEY`), X.509 certificates (`BEGIN
//! CERTIFICATE`, and a JWK's `x5c`), parsed with the RustCrypto `der` and
//! `spki` crates into the same checked [`VerifyingKey`]s as JWKs.
//!
//! A certificate is only a container for its public key here: its validity
//! dates, issuer, chain and extensions are not checked, and the other
//! certificates of an `x5c` chain are ignored (RFC 7515 §4.1.6 leaves trust
//! in the chain to the application; ours is the policy).
//!
//! The algorithm is never the token's choice: a PEM key needs its `alg`, or
//! the provider's `algorithms` (checked in [`pem_keys`]). Private keys are
//! refused, whatever their label.
//!
//! ```
//! use jwtgate::pem::key_from_pem;
//! // RFC 8410 §10.1: an Ed25519 public key.
//! let key = key_from_pem("-----BEGIN PUBLIC KEY-----\n\
//!     MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
//!     -----END PUBLIC KEY-----\n").unwrap();
//! assert_eq!(key.kind(), "OKP Ed25519");
//! let e = key_from_pem("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----").unwrap_err();
//! assert_eq!(e.code().as_str(), "invalid_key");
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use der::asn1::AnyRef;
use der::asn1::ObjectIdentifier;
use der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use serde::Deserialize;
use serde_json::Value;
use spki::SubjectPublicKeyInfoRef;

use crate::alg::{Alg, VerifyingKey};
use crate::error::{err, Error};
use crate::jwk::{Jwk, KeySet};

/// The largest PEM text or DER document accepted (a 8192-bit RSA
/// certificate with long names is well under this).
pub const MAX_PEM_BYTES: usize = 16 * 1024;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const CURVES: &[(ObjectIdentifier, &str, usize)] = &[
    (
        ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
        "P-256",
        32,
    ),
    (ObjectIdentifier::new_unwrap("1.3.132.0.34"), "P-384", 48),
    (ObjectIdentifier::new_unwrap("1.3.132.0.35"), "P-521", 66),
];

/// One PEM key of a provider (`pem_keys` in the policy).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PemKey {
    /// One PEM block: `PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE`.
    pub pem: String,
    /// The key's `kid`: tokens naming it are checked with this key only.
    #[serde(default)]
    pub kid: Option<String>,
    /// The one algorithm this key verifies. Required unless the provider
    /// sets `algorithms`.
    #[serde(default)]
    pub alg: Option<String>,
}

/// The public key of one PEM block (surrounding whitespace and text before
/// the block are ignored; a second block is refused).
pub fn key_from_pem(text: &str) -> Result<VerifyingKey, Error> {
    if text.len() > MAX_PEM_BYTES {
        return Err(err!(
            TooLarge,
            "the PEM text is {} bytes; the limit is {MAX_PEM_BYTES}",
            text.len()
        ));
    }
    let text = text.trim();
    let blocks = text.matches("-----BEGIN ").count();
    if blocks != 1 {
        return Err(err!(
            InvalidKey,
            "the PEM text holds {blocks} blocks; give exactly one (a public key or a certificate) per key"
        ));
    }
    let (label, der) = der::pem::decode_vec(text.as_bytes())
        .map_err(|e| err!(InvalidKey, "the PEM text is not valid PEM (RFC 7468): {e}"))?;
    match label {
        "PUBLIC KEY" => key_from_spki_der(&der),
        "CERTIFICATE" => key_from_certificate_der(&der),
        "RSA PUBLIC KEY" => rsa_key(&der),
        private if private.contains("PRIVATE") => Err(err!(
            InvalidKey,
            "the PEM block is a {private}: private key material must not be configured"
        )),
        other => Err(err!(
            InvalidKey,
            "the PEM block is a {:?}; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE",
            crate::jws::printable(other)
        )),
    }
}

/// The public key of a DER `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7): RSA
/// (RFC 8017), EC P-256/P-384/P-521 with an uncompressed point (RFC 5480),
/// or Ed25519 (RFC 8410).
pub fn key_from_spki_der(der: &[u8]) -> Result<VerifyingKey, Error> {
    if der.len() > MAX_PEM_BYTES {
        return Err(err!(
            TooLarge,
            "the key is {} bytes; the limit is {MAX_PEM_BYTES}",
            der.len()
        ));
    }
    let spki = SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| err!(InvalidKey, "the SubjectPublicKeyInfo is not valid DER: {e}"))?;
    let oid = spki.algorithm.oid;
    let parameters = spki.algorithm.parameters;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| err!(InvalidKey, "the public key BIT STRING has unused bits"))?;
    if oid == RSA_ENCRYPTION {
        // RFC 8017 A.1: the parameters are NULL (some encoders omit them).
        if parameters.is_some_and(|p| p.tag() != der::Tag::Null || !p.value().is_empty()) {
            return Err(err!(
                InvalidKey,
                "the rsaEncryption parameters must be NULL"
            ));
        }
        rsa_key(bits)
    } else if oid == EC_PUBLIC_KEY {
        let curve: ObjectIdentifier = parameters
            .ok_or_else(|| err!(InvalidKey, "the EC key names no curve"))?
            .decode_as()
            .map_err(|_| err!(InvalidKey, "the EC key's parameters are not a named curve"))?;
        let Some((_, crv, size)) = CURVES.iter().find(|(id, _, _)| *id == curve) else {
            return Err(err!(
                InvalidKey,
                "the EC curve {curve} is not supported (P-256, P-384 or P-521)"
            ));
        };
        match bits.split_first() {
            Some((0x04, xy)) if xy.len() == 2 * size => {
                let (x, y) = xy.split_at(*size);
                VerifyingKey::ec(crv, x, y)
            }
            Some((0x02 | 0x03, _)) => Err(err!(
                InvalidKey,
                "the EC point is compressed; only uncompressed points are supported"
            )),
            _ => Err(err!(
                InvalidKey,
                "the EC point is not an uncompressed {crv} point"
            )),
        }
    } else if oid == ED25519 {
        if parameters.is_some() {
            return Err(err!(
                InvalidKey,
                "an Ed25519 key has no parameters (RFC 8410 §3)"
            ));
        }
        VerifyingKey::ed25519(bits)
    } else if oid == RSASSA_PSS {
        Err(err!(
            InvalidKey,
            "RSASSA-PSS-restricted keys (id-RSASSA-PSS) are not supported; use an rsaEncryption key"
        ))
    } else {
        Err(err!(
            InvalidKey,
            "the key algorithm {oid} is not supported (RSA, EC or Ed25519)"
        ))
    }
}

/// The public key of a DER X.509 certificate (its `subjectPublicKeyInfo`).
pub fn key_from_certificate_der(der: &[u8]) -> Result<VerifyingKey, Error> {
    if der.len() > MAX_PEM_BYTES {
        return Err(err!(
            TooLarge,
            "the certificate is {} bytes; the limit is {MAX_PEM_BYTES}",
            der.len()
        ));
    }
    let spki = certificate_spki(der)
        .map_err(|e| err!(InvalidKey, "the certificate is not valid DER X.509: {e}"))?;
    key_from_spki_der(spki)
}

/// The DER `subjectPublicKeyInfo` of an X.509 certificate (RFC 5280 §4.1).
///
/// The certificate's elements are read up to the key and after it, each with
/// its tag and DER length checked; their contents (names, dates, extensions)
/// are skipped, since only the key is used (see the module's doc).
fn certificate_spki(der: &[u8]) -> der::Result<&[u8]> {
    let mut reader = SliceReader::new(der)?;
    let spki = reader.sequence(|certificate| {
        let spki = certificate.sequence(|tbs| {
            // version [0] EXPLICIT, absent in a v1 certificate.
            let version = Tag::ContextSpecific {
                constructed: true,
                number: TagNumber::N0,
            };
            if tbs.peek_tag()? == version {
                tbs.tlv_bytes()?;
            }
            element(tbs, Tag::Integer)?; // serialNumber
            element(tbs, Tag::Sequence)?; // signature
            element(tbs, Tag::Sequence)?; // issuer
            element(tbs, Tag::Sequence)?; // validity
            element(tbs, Tag::Sequence)?; // subject
            let spki = tbs.tlv_bytes()?;
            // issuerUniqueID, subjectUniqueID, extensions: not used.
            while !tbs.is_finished() {
                tbs.tlv_bytes()?;
            }
            Ok(spki)
        })?;
        element(certificate, Tag::Sequence)?; // signatureAlgorithm
        element(certificate, Tag::BitString)?; // signatureValue
        Ok(spki)
    })?;
    reader.finish(spki)
}

/// Reads one element, which must have the tag `tag`.
fn element<'a>(reader: &mut impl Reader<'a>, tag: Tag) -> der::Result<()> {
    let any: AnyRef<'a> = reader.decode()?;
    any.tag().assert_eq(tag).map(drop)
}

/// A PKCS#1 `RSAPublicKey` (RFC 8017 A.1.1), checked like a JWK's `n` and `e`.
fn rsa_key(der: &[u8]) -> Result<VerifyingKey, Error> {
    let key = pkcs1::RsaPublicKey::from_der(der)
        .map_err(|e| err!(InvalidKey, "the RSA public key is not valid DER: {e}"))?;
    VerifyingKey::rsa(key.modulus.as_bytes(), key.public_exponent.as_bytes())
}

/// Checks a JWK's `x5c` (RFC 7517 §4.7): an array of base64 (not base64url)
/// DER certificates whose first holds the same public key as the JWK.
pub fn check_x5c(x5c: &Value, key: &VerifyingKey) -> Result<(), Error> {
    let first = match x5c {
        Value::Array(chain) => match chain.first() {
            Some(Value::String(first)) => first,
            Some(_) => return Err(err!(InvalidKey, "the key's \"x5c\" must hold strings")),
            None => return Err(err!(InvalidKey, "the key's \"x5c\" is empty")),
        },
        _ => return Err(err!(InvalidKey, "the key's \"x5c\" must be an array")),
    };
    let der = standard_base64(first).ok_or_else(|| {
        err!(
            InvalidKey,
            "the key's \"x5c\"[0] is not base64 (RFC 4648 §4, with padding)"
        )
    })?;
    let certified = key_from_certificate_der(&der)
        .map_err(|e| err!(InvalidKey, "the key's \"x5c\"[0]: {}", e.message()))?;
    if !certified.same_key(key) {
        return Err(err!(
            InvalidKey,
            "the key's \"x5c\"[0] certificate holds another public key than the JWK (RFC 7517 §4.7)"
        ));
    }
    Ok(())
}

/// Strict standard base64 with padding (what `x5c` holds).
fn standard_base64(text: &str) -> Option<Vec<u8>> {
    use base64ct::Encoding;
    if text.len() > MAX_PEM_BYTES * 2 {
        return None;
    }
    base64ct::Base64::decode_vec(text).ok()
}

/// A provider's `pem_keys` as key-set entries. Each key's algorithm must be
/// pinned: its own `alg` (which must fit the key), or the provider's
/// `algorithms` (of which at least one must fit). Errors name the field
/// (`at` is e.g. `providers.idp.pem_keys`).
pub fn pem_keys(keys: &[PemKey], algorithms: &[Alg], at: &str) -> Result<KeySet, Error> {
    let mut out = Vec::new();
    for (i, entry) in keys.iter().enumerate() {
        let key = key_from_pem(&entry.pem)
            .map_err(|e| err!(InvalidConfig, "{at}[{i}].pem: {}", e.message()))?;
        let alg = match &entry.alg {
            Some(name) => {
                let alg = Alg::from_name(name).ok_or_else(|| {
                    err!(InvalidConfig, "{at}[{i}].alg: \"{}\" is not a signature algorithm we implement", crate::jws::printable(name))
                })?;
                if !key.fits(alg) || alg.is_symmetric() {
                    return Err(err!(InvalidConfig, "{at}[{i}].alg: {alg} does not fit the key ({})", key.kind()));
                }
                Some(alg)
            }
            None if algorithms.is_empty() => {
                return Err(err!(
                    InvalidConfig,
                    "{at}[{i}].alg: a PEM key needs a pinned algorithm: set its alg, or the provider's algorithms"
                ))
            }
            None => {
                if !algorithms.iter().any(|a| key.fits(*a)) {
                    return Err(err!(
                        InvalidConfig,
                        "{at}[{i}]: none of the provider's algorithms fits the key ({})",
                        key.kind()
                    ));
                }
                None
            }
        };
        out.push(Jwk::from_parts(entry.kid.clone(), alg, key));
    }
    KeySet::from_keys(out).ok_or_else(|| err!(InvalidConfig, "{at}: lists no key"))
}

/// A provider's configured keys: its `jwks` set (if any) and its `pem_keys`.
#[inline(never)] // Load time only: see `Verifier::from_json`.
pub(crate) fn with_pem_keys(
    jwks: Option<KeySet>,
    config: &crate::policy::Provider,
    algorithms: &[Alg],
    name: &str,
) -> Result<Option<KeySet>, Error> {
    if config.pem_keys.is_empty() {
        return Ok(jwks);
    }
    let pem = pem_keys(
        &config.pem_keys,
        algorithms,
        &format!("providers.{name}.pem_keys"),
    )?;
    Ok(Some(match jwks {
        Some(jwks) => jwks.union(&pem),
        None => pem,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8410 §10.1.
    const ED_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----";

    #[test]
    fn labels_and_blocks() {
        assert!(key_from_pem(&format!("preamble text\n{ED_PEM}\n\n")).is_ok());
        let e = key_from_pem(&format!("{ED_PEM}\n{ED_PEM}")).unwrap_err();
        assert!(e.message().contains("2 blocks"), "{e}");
        let e = key_from_pem("no pem here").unwrap_err();
        assert!(e.message().contains("0 blocks"), "{e}");
        for label in ["EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY"] {
            let e = key_from_pem(&ED_PEM.replace("PUBLIC KEY", label)).unwrap_err();
            assert!(e.message().contains("private key material"), "{e}");
        }
        let e = key_from_pem(&ED_PEM.replace("PUBLIC KEY", "X509 CRL")).unwrap_err();
        assert!(e.message().contains("expected PUBLIC KEY"), "{e}");
        let e = key_from_pem(&ED_PEM.replace("MCow", "MCo!")).unwrap_err();
        assert!(e.message().contains("not valid PEM"), "{e}");
        let big = "A".repeat(MAX_PEM_BYTES + 1);
        assert_eq!(key_from_pem(&big).unwrap_err().code().as_str(), "too_large");
    }

    #[test]
    fn spki_is_checked() {
        let der = der::pem::decode_vec(ED_PEM.as_bytes()).unwrap().1;
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(key_from_spki_der(&trailing).is_err());
        // Unknown algorithm: X25519 (1.3.101.110) instead of Ed25519.
        let mut x25519 = der.clone();
        x25519[8] = 110;
        let e = key_from_spki_der(&x25519).unwrap_err();
        assert!(e.message().contains("1.3.101.110 is not supported"), "{e}");
        assert!(key_from_spki_der(&[]).is_err());
    }

    #[test]
    fn pem_keys_need_a_pinned_algorithm() {
        let entry = PemKey {
            pem: ED_PEM.into(),
            kid: Some("k".into()),
            alg: None,
        };
        let e = pem_keys(core::slice::from_ref(&entry), &[], "providers.idp.pem_keys").unwrap_err();
        assert_eq!(
            e.message(),
            "providers.idp.pem_keys[0].alg: a PEM key needs a pinned algorithm: set its alg, or the provider's algorithms"
        );
        let e = pem_keys(core::slice::from_ref(&entry), &[Alg::RS256], "p").unwrap_err();
        assert!(
            e.message()
                .starts_with("p[0]: none of the provider's algorithms fits"),
            "{e}"
        );
        let set = pem_keys(
            core::slice::from_ref(&entry),
            &[Alg::EdDSA, Alg::RS256],
            "p",
        )
        .unwrap();
        assert_eq!(
            (set.keys()[0].kid(), set.keys()[0].alg()),
            (Some("k"), None)
        );
        let pinned = PemKey {
            alg: Some("EdDSA".into()),
            ..entry.clone()
        };
        assert_eq!(
            pem_keys(&[pinned], &[], "p").unwrap().keys()[0].alg(),
            Some(Alg::EdDSA)
        );
        let wrong = PemKey {
            alg: Some("ES256".into()),
            ..entry.clone()
        };
        assert!(pem_keys(&[wrong], &[], "p")
            .unwrap_err()
            .message()
            .contains("p[0].alg: ES256 does not fit"));
        let hmac = PemKey {
            alg: Some("HS256".into()),
            ..entry
        };
        assert!(pem_keys(&[hmac], &[], "p").is_err());
    }
}
