//! Arbitrary bytes as a collection-code payload: reading must never panic,
//! `valid` must mean no errors, every error must point inside the payload,
//! and a payload read as valid EMV must read the same when re-encoded from
//! its data objects. `tests/codes.rs` runs the same checks on random input.
#![no_main]

use hutong::codes::{self, emv, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let p = codes::read(&text);
    assert_eq!(p.valid, p.errors.is_empty());
    let len = text.trim().chars().count();
    assert!(p.errors.iter().all(|e| e.offset <= len));
    if p.valid && p.format == Format::EmvMpm {
        let chars: Vec<char> = text.trim().chars().collect();
        let mut errors = Vec::new();
        let objects = emv::read_objects(&chars, 0, &mut errors, false);
        let inner: Vec<(String, String)> = objects
            .iter()
            .filter(|o| o.tag != "00" && o.tag != "63")
            .map(|o| (o.tag.clone(), o.value.clone()))
            .collect();
        // The CRC may have been written in lower case; the rest is the same.
        let (mut again, mut first) = (codes::read(&emv::encode(&inner)), p.clone());
        again.crc = None;
        first.crc = None;
        assert_eq!(again, first);
    }
});
