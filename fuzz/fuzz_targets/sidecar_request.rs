#![no_main]
//! Fuzz target `sidecar_request`: see `jwtgate_fuzz::sidecar::request` (fuzz/src/sidecar.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::sidecar::request(data));
