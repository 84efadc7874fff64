//! Input limits: the body size cap, the longest message, and control characters.

use crate::api::ApiError;
use crate::policy::Limits;

/// Removes control characters except newline and tab (C0 controls, DEL, C1 controls): they are
/// invisible, confuse terminals and logs, and are a common carrier of prompt-injection tricks.
/// `\r\n` becomes `\n`.
pub fn strip_controls(text: &str) -> String {
    if !text.chars().any(is_stripped) {
        return text.to_owned();
    }
    text.chars().filter(|c| !is_stripped(*c)).collect()
}

fn is_stripped(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// The 413 for a body over the cap.
pub fn body_too_large(limit: u32) -> ApiError {
    ApiError::new(
        413,
        "body_too_large",
        format!("the request body is larger than {limit} bytes"),
    )
}

/// Checks a declared `Content-Length` before the body is read.
pub fn check_content_length(declared: Option<&str>, limit: u32) -> Result<(), ApiError> {
    match declared.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(len) if len > u64::from(limit) => Err(body_too_large(limit)),
        _ => Ok(()),
    }
}

/// Checks the size of a body that was read.
pub fn check_body(body: &[u8], limits: &Limits) -> Result<(), ApiError> {
    if body.len() as u64 > u64::from(limits.max_body_bytes) {
        return Err(body_too_large(limits.max_body_bytes));
    }
    Ok(())
}

/// Checks the length of a user message (after control characters were removed), in characters.
pub fn check_message(message: &str, limits: &Limits) -> Result<(), ApiError> {
    let chars = message.chars().count();
    if chars > limits.max_input_chars as usize {
        return Err(ApiError::new(
            413,
            "message_too_long",
            format!(
                "the message has {chars} characters; this agent accepts at most {}",
                limits.max_input_chars
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_input_chars: 5,
        max_body_bytes: 100,
    };

    #[test]
    fn controls_are_stripped_but_newlines_and_tabs_kept() {
        assert_eq!(strip_controls("a\u{0}b\u{7}c\u{1b}[31m"), "abc[31m");
        assert_eq!(
            strip_controls("line 1\r\nline\t2\u{7f}\u{85}"),
            "line 1\nline\t2"
        );
        assert_eq!(strip_controls("héllo ✓ 日本"), "héllo ✓ 日本");
    }

    #[test]
    fn messages_are_counted_in_characters() {
        assert!(check_message("ééééé", &LIMITS).is_ok());
        let err = check_message("ééééé!", &LIMITS).unwrap_err();
        assert_eq!((err.status, err.code), (413, "message_too_long"));
        assert!(err.message.contains("6 characters"), "{}", err.message);
        assert!(err.message.contains("at most 5"), "{}", err.message);
    }

    #[test]
    fn bodies_over_the_cap_are_413() {
        assert!(check_body(&[0; 100], &LIMITS).is_ok());
        assert_eq!(check_body(&[0; 101], &LIMITS).unwrap_err().status, 413);
        assert!(check_content_length(Some("100"), 100).is_ok());
        assert!(check_content_length(None, 100).is_ok());
        assert!(check_content_length(Some("junk"), 100).is_ok());
        assert_eq!(
            check_content_length(Some("101"), 100).unwrap_err().code,
            "body_too_large"
        );
    }
}
