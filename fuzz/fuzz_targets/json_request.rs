//! The component's JSON request path: any bytes, never a panic, and never an allow for text that
//! is not a JSON request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yungui_fuzz::{ENGINE, registry};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let result = ENGINE.with(|engine| engine.decide_json(text, registry()));
    if let Ok(decision) = &result {
        assert_eq!(decision.allowed, decision.denials.is_empty());
        if decision.allowed {
            // An allow needs a well-formed request naming a principal the registry holds.
            let json = yungui_policies::json::from_str(text).expect("allowed garbage");
            assert!(
                json.get("principal").is_some(),
                "allowed without a principal"
            );
            assert!(json.get("resource").is_some(), "allowed without a resource");
        }
    }
});
