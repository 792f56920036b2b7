#![no_main]
//! Fuzz target `jwks`: see `jwtgate_fuzz::jwks` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::jwks(data));
