#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocimg_fuzz::validate(data));
