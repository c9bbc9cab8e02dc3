//! Arbitrary text into the SQL92 selector compiler. Nothing may panic or overflow the
//! stack; whatever compiles must print as SQL that compiles back to the same tree, and
//! must evaluate (against properties that make every comparison path run) without panic.
#![no_main]

use apogee::filter::{SqlFilter, MAX_LEN};
use libfuzzer_sys::fuzz_target;

/// Values of every kind a property can hold: numbers, non-numbers, booleans, blanks.
const PROPS: &[(&str, &str)] = &[
    ("a", "5"),
    ("b", "x"),
    ("c", "2.5"),
    ("d", "true"),
    ("e", ""),
    ("f", "0x1p3"),
    ("g", "NaN"),
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = SqlFilter::compile(text) else {
        return;
    };
    let _ = filter.outcome(PROPS);
    let printed = filter.to_string();
    // Printing adds blanks; a text near the length limit may print past it.
    if printed.len() <= MAX_LEN {
        let again = SqlFilter::compile(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}: {e}"));
        assert_eq!(
            again.expr(),
            filter.expr(),
            "{text:?} printed as {printed:?}"
        );
    }
});
