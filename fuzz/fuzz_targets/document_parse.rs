#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocimg_fuzz::document_parse(data));
