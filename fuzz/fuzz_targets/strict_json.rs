//! The strict JSON reader: never a panic; agrees with serde_json on every document without
//! duplicate keys, and refuses exactly those with one.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let strict = yungui_policies::json::from_slice(data);
    let checked = yungui_policies::json::check(data);
    assert_eq!(strict.is_ok(), checked.is_ok());
    let loose = serde_json::from_slice::<serde_json::Value>(data);
    match (&strict, &loose) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Ok(_), Err(e)) => panic!("strict accepted what serde_json refuses: {e}"),
        (Err(e), Ok(_)) => assert!(e.to_string().contains("duplicate key"), "{e}"),
        (Err(_), Err(_)) => {}
    }
});
