//! Errors: one stable machine code per failure, plus a human sentence.
//!
//! Every front end (Envoy filter, npm package, worker) reports the same
//! [`ErrorCode`] for the same input. The codes are part of the public contract:
//! they are documented in one table (`docs/ERRORS.md`) and never renamed.

use alloc::string::String;
use core::fmt;

/// What went wrong, as a stable snake_case code (see [`ErrorCode::as_str`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No token was found where the policy says to look.
    Missing,
    /// The token is not a well-formed compact JWS (segments, base64url, JSON).
    Malformed,
    /// The token has five segments: an encrypted JWE, which is not supported.
    JweUnsupported,
    /// An input is over a configured limit (token size, JSON depth, key count).
    TooLarge,
    /// The `alg` is `none`, unknown, or not allowed by the policy.
    UnsupportedAlg,
    /// The header lists a `crit` extension we do not implement (or `b64: false`).
    UnsupportedCrit,
    /// The token's `kid` names no key in the key set.
    UnknownKid,
    /// No key in the key set may be used with the token's `alg`.
    KeyMismatch,
    /// The token's `kid` does not single out its key (no `kid`, or one no key
    /// has) and more keys could verify it than `limits.max_keys_without_kid`
    /// allows trying.
    TooManyKeys,
    /// The signature does not verify (or has the wrong length or format).
    BadSignature,
    /// `exp` is in the past (beyond the clock skew).
    Expired,
    /// `nbf` is in the future (beyond the clock skew).
    NotYetValid,
    /// `iat` is in the future (beyond the clock skew).
    IssuedInFuture,
    /// The token is older than the policy's maximum age (`now - iat`).
    TooOld,
    /// The token lives longer than the policy allows: `exp - iat` over
    /// `max_lifetime_seconds`, or `exp - now` over `max_remaining_lifetime_seconds`.
    LifetimeTooLong,
    /// A claim the policy requires is absent.
    MissingClaim,
    /// A registered claim has the wrong type (`exp` as a string, a numeric
    /// `sub`, `aud` holding a number) or a NumericDate is out of range.
    InvalidClaim,
    /// `iss` is not one of the provider's issuers.
    WrongIssuer,
    /// No `aud` value is one of the provider's audiences.
    WrongAudience,
    /// `sub` is not one of the provider's allowed subjects.
    WrongSubject,
    /// An authorization rule on the claims failed (maps to HTTP 403).
    ClaimRuleFailed,
    /// The token's `jti` or `sub` is on the deny list.
    Revoked,
    /// A key (JWK) is unusable: wrong type, too short, bad encoding.
    InvalidKey,
    /// The provider's keys could not be fetched, or are older than
    /// `max_stale_seconds` (HTTP 503 with `Retry-After`).
    JwksUnavailable,
    /// No verifier could check the signature: the host's crypto gave no
    /// answer and this build has no pure-Rust verifier for the algorithm
    /// (HTTP 500: a fault of the deployment, not of the token; never a pass).
    VerifierUnavailable,
    /// The policy (configuration) is invalid; the message names the field.
    InvalidConfig,
    /// The request target cannot be read one way only (an encoded `/`, a
    /// `..;` segment, not origin-form, ...): refused with HTTP 400 ([`crate::path`]).
    InvalidPath,
}

impl ErrorCode {
    /// Every code, in the order of the documentation table.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Missing,
        ErrorCode::Malformed,
        ErrorCode::JweUnsupported,
        ErrorCode::TooLarge,
        ErrorCode::UnsupportedAlg,
        ErrorCode::UnsupportedCrit,
        ErrorCode::UnknownKid,
        ErrorCode::KeyMismatch,
        ErrorCode::TooManyKeys,
        ErrorCode::BadSignature,
        ErrorCode::Expired,
        ErrorCode::NotYetValid,
        ErrorCode::IssuedInFuture,
        ErrorCode::TooOld,
        ErrorCode::LifetimeTooLong,
        ErrorCode::MissingClaim,
        ErrorCode::InvalidClaim,
        ErrorCode::WrongIssuer,
        ErrorCode::WrongAudience,
        ErrorCode::WrongSubject,
        ErrorCode::ClaimRuleFailed,
        ErrorCode::Revoked,
        ErrorCode::InvalidKey,
        ErrorCode::JwksUnavailable,
        ErrorCode::VerifierUnavailable,
        ErrorCode::InvalidConfig,
        ErrorCode::InvalidPath,
    ];

    /// The stable snake_case name of this code, e.g. `"bad_signature"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Missing => "missing",
            ErrorCode::Malformed => "malformed",
            ErrorCode::JweUnsupported => "jwe_unsupported",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedAlg => "unsupported_alg",
            ErrorCode::UnsupportedCrit => "unsupported_crit",
            ErrorCode::UnknownKid => "unknown_kid",
            ErrorCode::KeyMismatch => "key_mismatch",
            ErrorCode::TooManyKeys => "too_many_keys",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::Expired => "expired",
            ErrorCode::NotYetValid => "not_yet_valid",
            ErrorCode::IssuedInFuture => "issued_in_future",
            ErrorCode::TooOld => "too_old",
            ErrorCode::LifetimeTooLong => "lifetime_too_long",
            ErrorCode::MissingClaim => "missing_claim",
            ErrorCode::InvalidClaim => "invalid_claim",
            ErrorCode::WrongIssuer => "wrong_issuer",
            ErrorCode::WrongAudience => "wrong_audience",
            ErrorCode::WrongSubject => "wrong_subject",
            ErrorCode::ClaimRuleFailed => "claim_rule_failed",
            ErrorCode::Revoked => "revoked",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::JwksUnavailable => "jwks_unavailable",
            ErrorCode::VerifierUnavailable => "verifier_unavailable",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::InvalidPath => "invalid_path",
        }
    }

    /// `true` when the token is authentic but not allowed (HTTP 403),
    /// `false` when it is missing or not authentic (HTTP 401).
    pub fn is_authorization_failure(self) -> bool {
        matches!(self, ErrorCode::ClaimRuleFailed)
    }

    /// `true` for the refusals that newer keys of the provider may turn into
    /// a pass: no usable keys (`jwks_unavailable`, after an outage) or none
    /// with the token's kid (`unknown_kid`, mid-rotation). Front ends whose
    /// instances share fetched keys (Envoy's workers, edge isolates) take the
    /// newest published on these refusals and decide again.
    ///
    /// ```
    /// use jwtgate::ErrorCode;
    /// assert!(ErrorCode::UnknownKid.newer_keys_may_answer());
    /// assert!(!ErrorCode::BadSignature.newer_keys_may_answer());
    /// ```
    pub fn newer_keys_may_answer(self) -> bool {
        matches!(self, ErrorCode::JwksUnavailable | ErrorCode::UnknownKid)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure: a stable [`ErrorCode`] plus a human sentence saying what and why.
///
/// ```
/// use jwtgate::{Error, ErrorCode};
/// let e = Error::new(ErrorCode::Expired, "the token expired at 2024-01-01T00:00:00Z");
/// assert_eq!(e.code().as_str(), "expired");
/// assert_eq!(e.to_string(), "expired: the token expired at 2024-01-01T00:00:00Z");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: String,
}

impl Error {
    /// Builds an error from a code and a human sentence.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human sentence (without the code).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl core::error::Error for Error {}

/// Serializes as `{"code": "...", "message": "..."}`.
impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Error", 2)?;
        st.serialize_field("code", self.code.as_str())?;
        st.serialize_field("message", &self.message)?;
        st.end()
    }
}

/// Shorthand for building an [`Error`] with a formatted message.
macro_rules! err {
    ($code:ident, $($arg:tt)+) => {
        $crate::error::Error::new($crate::error::ErrorCode::$code, alloc::format!($($arg)+))
    };
}
pub(crate) use err;

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// docs/ERRORS.md is the one table of codes: it must list every code.
    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../docs/ERRORS.md");
        for code in ErrorCode::ALL {
            assert!(
                doc.contains(&alloc::format!("| `{code}` |")),
                "docs/ERRORS.md lacks {code}"
            );
        }
        assert_eq!(
            doc.matches("\n| `").count(),
            ErrorCode::ALL.len(),
            "docs/ERRORS.md lists a code that does not exist"
        );
    }
}
