#![no_main]
//! Fuzz target `pem`: see `jwtgate_fuzz::pem` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::pem(data));
