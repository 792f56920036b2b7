//! jwtgate: one JWT verification core for every place a request is checked.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
extern crate alloc;

pub mod base64url;
pub mod error;
pub mod json;

pub use error::{Error, ErrorCode};
