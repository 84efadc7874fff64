//! `agentc key new`: mints an API key and the SHA-256 digest that goes into the agent's
//! `auth.api_keys_secret`. Only the digest is ever stored; the key is shown once.

use agentc_runtime::auth;

/// The prefix of every minted key, so leaked keys are easy to recognise (and scan for).
pub const KEY_PREFIX: &str = "agc_";

/// A freshly minted key and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// `agc_` and 256 random bits in unpadded base64url (43 characters).
    pub key: String,
    /// Lowercase hex SHA-256 of the key.
    pub digest: String,
}

/// Mints a key from the operating system's random source.
pub fn new_key() -> Result<NewKey, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(key_from_bytes(&bytes))
}

/// The key made of `bytes`.
pub fn key_from_bytes(bytes: &[u8; 32]) -> NewKey {
    let key = format!("{KEY_PREFIX}{}", base64url(bytes));
    let digest = digest_hex(&key);
    NewKey { key, digest }
}

/// The lowercase hex SHA-256 digest of a key, as the secret lists it.
pub fn digest_hex(key: &str) -> String {
    auth::hex(&auth::digest(key))
}

/// What `agentc key new` prints: the key, its digest and where the digest goes.
pub fn render(key: &NewKey, secret: &str) -> String {
    format!(
        "key:    {key}\n\
         digest: {digest}\n\
         \n\
         Give the key to its client, which sends it as `Authorization: Bearer <key>`; it is not\n\
         shown again. Store only the digest: add this line to the secret {secret} (one digest\n\
         per line; `wrangler secret put {secret}` replaces the whole value), and locally to the\n\
         {secret} entry of .dev.vars (digests separated by commas):\n\
         {digest}\n",
        key = key.key,
        digest = key.digest,
    )
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_url_safe_and_their_digest_checks() {
        let key = key_from_bytes(&[0xfb; 32]);
        assert!(key.key.starts_with("agc_"));
        assert_eq!(key.key.len(), 4 + 43);
        assert!(key.key[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let (accepted, _) = auth::parse_digests(&key.digest);
        assert!(auth::check(Some(&key.key), &accepted).is_ok());
    }

    #[test]
    fn base64url_matches_the_standard() {
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn fresh_keys_differ() {
        assert_ne!(new_key().unwrap(), new_key().unwrap());
    }

    #[test]
    fn the_output_names_the_secret_and_the_digest() {
        let key = key_from_bytes(&[1; 32]);
        let text = render(&key, "AGENT_API_KEYS");
        assert!(text.contains(&key.key));
        assert!(text.ends_with(&format!("{}\n", key.digest)));
        assert!(text.contains("wrangler secret put AGENT_API_KEYS"));
    }
}
