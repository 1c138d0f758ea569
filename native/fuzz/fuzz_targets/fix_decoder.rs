#![no_main]
//! Every input must be accepted or refused with an error; nothing may panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _core::fuzzing::fix_decoder(data);
});
