//! Input limits: the body size cap (counted as the body is read), the longest message, the
//! history a stateless request may carry, and control and invisible characters.

use crate::api::ApiError;
use crate::policy::Limits;

/// Removes control characters except newline and tab (C0 controls, DEL, C1 controls) and
/// invisible formatting characters (Unicode tag characters U+E0000–E007F, bidirectional
/// overrides and isolates, the zero-width space, invisible operators and the BOM; zero-width
/// joiners stay, as emoji and some scripts need them): they are invisible, confuse
/// terminals and logs, and are a common carrier of prompt-injection tricks ("ASCII smuggling").
/// `\r\n` becomes `\n`.
pub fn strip_controls(text: &str) -> String {
    if !text.chars().any(is_stripped) {
        return text.to_owned();
    }
    text.chars().filter(|c| !is_stripped(*c)).collect()
}

fn is_stripped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c,
            '\u{E0000}'..='\u{E007F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}')
}

/// The most earlier messages a stateless `/v1/chat/completions` request may carry.
pub const MAX_HISTORY_MESSAGES: usize = 100;

/// Checks the history a stateless request brings: at most [`MAX_HISTORY_MESSAGES`] messages, each
/// within the agent's `max_input_chars` like the message itself.
pub fn check_history(history: &[crate::history::Message], limits: &Limits) -> Result<(), ApiError> {
    if history.len() > MAX_HISTORY_MESSAGES {
        return Err(ApiError::new(
            413,
            "too_many_messages",
            format!(
                "the request carries {} earlier messages; at most {MAX_HISTORY_MESSAGES} are accepted",
                history.len()
            ),
        ));
    }
    history
        .iter()
        .try_for_each(|message| check_message(&message.content, limits))
}

/// Adds a chunk of a body being read to `body`, refusing it (413) as soon as the total passes
/// `limit`: a body without `Content-Length` (chunked) is never read further than that.
pub fn append_chunk(body: &mut Vec<u8>, chunk: &[u8], limit: u32) -> Result<(), ApiError> {
    if (body.len() + chunk.len()) as u64 > u64::from(limit) {
        return Err(body_too_large(limit));
    }
    body.extend_from_slice(chunk);
    Ok(())
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
    fn invisible_characters_are_stripped() {
        // "hi" followed by the tag characters of "IGNORE", a right-to-left override, a
        // zero-width space and a BOM.
        let smuggled = "hi\u{E0049}\u{E0047}\u{E004E}\u{E004F}\u{E0052}\u{E0045}\u{202E}\u{200B}\u{FEFF}\u{2066}";
        assert_eq!(strip_controls(smuggled), "hi");
        let chat =
            crate::api::parse_chat_request("{\"message\":\"hi\u{E0049}\u{202E}\"}".as_bytes())
                .unwrap();
        assert_eq!(chat.message, "hi");
        // Joiners stay: emoji sequences and some scripts need them.
        assert_eq!(strip_controls("👨\u{200D}👩"), "👨\u{200D}👩");
    }

    #[test]
    fn stateless_history_is_bounded() {
        use crate::history::{Message, Role};
        let ok = vec![Message::new(Role::User, "hello"); 3];
        assert!(check_history(&ok, &LIMITS).is_ok());
        let long = vec![Message::new(Role::User, "a".repeat(6))];
        assert_eq!(
            check_history(&long, &LIMITS).unwrap_err().code,
            "message_too_long"
        );
        let many = vec![Message::new(Role::User, "a"); MAX_HISTORY_MESSAGES + 1];
        assert_eq!(
            check_history(&many, &LIMITS).unwrap_err().code,
            "too_many_messages"
        );
    }

    #[test]
    fn a_body_is_refused_as_soon_as_it_passes_the_cap() {
        let mut body = Vec::new();
        append_chunk(&mut body, &[0; 60], 100).unwrap();
        append_chunk(&mut body, &[0; 40], 100).unwrap();
        assert_eq!(
            append_chunk(&mut body, &[0; 1], 100).unwrap_err().status,
            413
        );
        assert_eq!(body.len(), 100);
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
