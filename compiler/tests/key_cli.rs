//! `agentc key new`: a fresh key each time, and the digest that goes into the secret.

use std::process::Command;

fn key_new(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_agentc"))
        .args(["key", "new"])
        .args(args)
        .output()
        .expect("agentc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no `{name}` line in {out}"))
        .trim()
}

#[test]
fn prints_a_fresh_key_and_its_digest() {
    let first = key_new(&[]);
    let second = key_new(&["--secret", "SUPPORT_KEYS"]);
    let (key, digest) = (field(&first, "key:"), field(&first, "digest:"));
    assert!(key.starts_with("agc_") && key.len() == 47, "{key}");
    assert_eq!(digest, agentc::keys::digest_hex(key));
    assert_ne!(key, field(&second, "key:"));
    assert!(first.contains("wrangler secret put AGENT_API_KEYS"));
    assert!(second.contains("wrangler secret put SUPPORT_KEYS"));
    // The last line is the digest alone, ready to append to the secret.
    assert_eq!(first.lines().last(), Some(digest));
}
