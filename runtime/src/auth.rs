//! API-key auth: keys are kept only as SHA-256 digests, in a Worker secret.
//!
//! A client presents its key as `Authorization: Bearer KEY` (or `x-api-key: KEY`). The key is
//! hashed and its digest compared, in constant time, with every accepted digest. A missing,
//! malformed or wrong key gets the very same 401; the key itself is never logged or echoed, and
//! everything downstream (rate limits, logs) only sees a prefix of its digest.

use crate::api::ApiError;
use sha2::{Digest, Sha256};

/// The header that may carry a key instead of `Authorization`.
pub const API_KEY_HEADER: &str = "x-api-key";
/// The longest key accepted (longer ones are malformed).
pub const MAX_KEY_LEN: usize = 512;

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// The one answer to a request without a valid key, whatever was wrong with it.
pub fn unauthorized() -> ApiError {
    ApiError::new(
        401,
        "unauthorized",
        "a valid API key is required: send `Authorization: Bearer <key>`",
    )
}

/// The key a request presents: the token of a `Bearer` authorization, else the `x-api-key`
/// header. `None` when there is none or it is malformed (empty, too long, or with characters
/// other than visible ASCII).
pub fn presented_key<'a>(
    authorization: Option<&'a str>,
    api_key: Option<&'a str>,
) -> Option<&'a str> {
    let bearer = authorization.and_then(|value| {
        let value = value.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let key = match bearer {
        Some(token) => token,
        None => api_key?.trim(),
    };
    let well_formed =
        !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic());
    well_formed.then_some(key)
}

/// The SHA-256 digest of a key.
pub fn digest(key: &str) -> Digest32 {
    Sha256::digest(key.as_bytes()).into()
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The accepted digests of a secret: hex SHA-256 digests, one per line or separated by commas
/// or whitespace; blank lines and `#` comments are ignored. Returns the digests and how many
/// entries were not digests (they accept nothing).
pub fn parse_digests(secret: &str) -> (Vec<Digest32>, usize) {
    let mut digests = Vec::new();
    let mut invalid = 0;
    for line in secret.lines() {
        let line = line.split('#').next().unwrap_or_default();
        for entry in line.split(|c: char| c == ',' || c.is_whitespace()) {
            if entry.is_empty() {
                continue;
            }
            match parse_hex_digest(entry) {
                Some(d) => digests.push(d),
                None => invalid += 1,
            }
        }
    }
    (digests, invalid)
}

fn parse_hex_digest(text: &str) -> Option<Digest32> {
    let text = text.strip_prefix("sha256:").unwrap_or(text);
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// Equality of two digests in time that does not depend on where they differ.
pub fn constant_time_eq(a: &Digest32, b: &Digest32) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Checks a presented key against the accepted digests. Every accepted digest is compared, a
/// missing key is hashed too, so the time taken says nothing about which check failed. Returns
/// the key's digest.
pub fn check(presented: Option<&str>, accepted: &[Digest32]) -> Result<Digest32, ApiError> {
    let candidate = digest(presented.unwrap_or_default());
    let mut found = false;
    for digest in accepted {
        found |= constant_time_eq(&candidate, digest);
    }
    if found && presented.is_some() {
        Ok(candidate)
    } else {
        Err(unauthorized())
    }
}

/// A short, stable and non-reversible name of a key for rate limits and logs: the first 16 hex
/// digits of its digest.
pub fn key_id(digest: &Digest32) -> String {
    hex(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "agc_test_key_1";

    fn accepted() -> Vec<Digest32> {
        let secret = format!(
            "# keys of the team\n{}\n\n  {} , {}\nnot-a-digest\n",
            hex(&digest("other")),
            hex(&digest(KEY)).to_uppercase(),
            hex(&digest("third"))
        );
        let (digests, invalid) = parse_digests(&secret);
        assert_eq!((digests.len(), invalid), (3, 1));
        digests
    }

    #[test]
    fn sha256_is_the_standard_one() {
        assert_eq!(
            hex(&digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn keys_come_from_bearer_or_x_api_key() {
        assert_eq!(presented_key(Some("Bearer abc"), None), Some("abc"));
        assert_eq!(presented_key(Some("bearer   abc "), None), Some("abc"));
        assert_eq!(presented_key(None, Some("abc")), Some("abc"));
        assert_eq!(presented_key(Some("Basic Zm9v"), Some("abc")), Some("abc"));
        for (auth, header) in [
            (None, None),
            (Some("Bearer"), None),
            (Some("Bearer "), None),
            (Some("Basic Zm9v"), None),
            (Some("Bearer a b"), None),
            (Some("Bearer caf\u{e9}"), None),
            (None, Some("")),
        ] {
            assert_eq!(presented_key(auth, header), None, "{auth:?} {header:?}");
        }
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(presented_key(None, Some(&long)), None);
    }

    #[test]
    fn only_listed_keys_pass_and_every_failure_is_the_same() {
        let accepted = accepted();
        let ok = check(Some(KEY), &accepted).unwrap();
        assert_eq!(ok, digest(KEY));
        let missing = check(None, &accepted).unwrap_err();
        let wrong = check(Some("agc_wrong"), &accepted).unwrap_err();
        let no_keys = check(Some(KEY), &[]).unwrap_err();
        assert_eq!(missing, wrong);
        assert_eq!(missing, no_keys);
        assert_eq!(missing.status, 401);
        assert!(!missing.to_json().contains("agc_"));
    }

    #[test]
    fn the_empty_key_never_passes_even_if_its_digest_is_listed() {
        let accepted = vec![digest("")];
        assert!(check(None, &accepted).is_err());
    }

    #[test]
    fn key_ids_are_digest_prefixes() {
        assert_eq!(key_id(&digest("abc")), "ba7816bf8f01cfea");
    }
}
