//! Loads and checks arbitrary bytes as an agent file, and renders every diagnostic. Any panic is
//! a bug: loading never fails outright, it returns the tree it could build and diagnostics.

#![no_main]

use agentc::project::{check_file, SourceFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile {
        path: "fuzz.yaml".into(),
        text: text.to_owned(),
    };
    let (_, diagnostics, _) = check_file(&file);
    for diag in &diagnostics {
        let _ = diag.render(Some(&file.text));
        let _ = diag.to_json();
    }
});
