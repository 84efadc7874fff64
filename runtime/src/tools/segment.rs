//! The `urlencode_segment` template filter: an argument made safe to stand as one segment of a
//! URL's path (or as a host name).
//!
//! The `urlencode` filter leaves `/` and `.` as they are, and URLs are parsed with WHATWG rules,
//! which resolve dot segments: `https://api.test/v1/carts/{{ args.id | urlencode }}` with
//! `id = "../../users/42"` calls `https://api.test/users/42`. This filter percent-encodes every
//! byte except ASCII letters, digits, `-`, `_`, `~` and `.`, and refuses a value that is empty,
//! `.` or `..` (WHATWG also reads `%2e` as a dot, so encoding the dots would not help).

/// Encodes `value` as one path segment, or says why it cannot be one.
pub fn encode(value: &str) -> Result<String, String> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(format!(
            "`{value}` cannot be a URL path segment (urlencode_segment refuses empty, `.` and `..`)"
        ));
    }
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~' | b'.') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn a_segment_stays_one_segment() {
        assert_eq!(encode("Paris").unwrap(), "Paris");
        assert_eq!(encode("São Paulo").unwrap(), "S%C3%A3o%20Paulo");
        assert_eq!(encode("v1.2").unwrap(), "v1.2");
        assert_eq!(encode("../../admin").unwrap(), "..%2F..%2Fadmin");
        assert_eq!(encode("a?b#c&d=e").unwrap(), "a%3Fb%23c%26d%3De");
        assert_eq!(encode("x\\y").unwrap(), "x%5Cy");
        for bad in ["", ".", ".."] {
            assert!(encode(bad).is_err(), "{bad:?}");
        }
        // Parsed as a URL, an encoded segment cannot climb out of its place.
        let url = format!(
            "https://wttr.in/{}?format=j1",
            encode("../../admin/keys").unwrap()
        );
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(parsed.path(), "/..%2F..%2Fadmin%2Fkeys");
        // Nor change the host it is part of.
        let host = format!(
            "http://{}/status",
            encode("status.weather.test/admin?").unwrap()
        );
        assert!(
            url::Url::parse(&host).map_or(true, |u| u.host_str() != Some("status.weather.test"))
        );
    }
}
