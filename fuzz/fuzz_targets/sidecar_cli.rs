#![no_main]
//! Fuzz target `sidecar_cli`: see `jwtgate_fuzz::sidecar::cli` (fuzz/src/sidecar.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::sidecar::cli(data));
