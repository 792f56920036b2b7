#![no_main]
//! Fuzz target `authorize`: see `jwtgate_fuzz::authorize` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| jwtgate_fuzz::authorize(data));
