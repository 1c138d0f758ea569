#![no_main]
//! Every input must be accepted or refused with an error; nothing may panic, and the
//! exact and fast decimal readers must agree.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _core::fuzzing::decimal_parser(data);
});
