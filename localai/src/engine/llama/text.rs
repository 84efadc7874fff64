//! Turning generated token bytes into text events: UTF-8 reassembly across
//! tokens and stop sequences.

/// Joins the bytes of successive tokens into text. A character split
/// across tokens is held back until it is complete; invalid bytes become
/// U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Adds the bytes of one token; returns the text completed so far.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    out.push_str(text);
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    out.push_str(std::str::from_utf8(valid).expect("checked to be valid"));
                    match error.error_len() {
                        // An incomplete character at the end: wait for more.
                        None => {
                            rest = after;
                            break;
                        }
                        Some(len) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[len..];
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        out
    }

    /// The bytes still held back, as text (an incomplete character at the
    /// very end of the output becomes U+FFFD).
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}

/// Cuts the output at the first stop sequence. Text that might be the
/// start of a stop sequence is held back until it is clear that it is not.
#[derive(Debug)]
pub struct StopFilter {
    stops: Vec<String>,
    pending: String,
}

impl StopFilter {
    /// A filter for `stops`; empty strings are ignored.
    pub fn new(stops: Vec<String>) -> Self {
        StopFilter {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            pending: String::new(),
        }
    }

    /// Adds text; returns the text that is safe to pass on and whether a
    /// stop sequence was reached (then nothing after it may follow).
    pub fn push(&mut self, text: &str) -> (String, bool) {
        self.pending.push_str(text);
        if self.stops.is_empty() {
            return (std::mem::take(&mut self.pending), false);
        }
        let first_stop = self
            .stops
            .iter()
            .filter_map(|stop| self.pending.find(stop.as_str()))
            .min();
        if let Some(at) = first_stop {
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return (out, true);
        }
        let keep = held_back(&self.pending, &self.stops);
        let out = self.pending[..self.pending.len() - keep].to_string();
        self.pending.drain(..self.pending.len() - keep);
        (out, false)
    }

    /// The text held back at the end of the output.
    pub fn finish(self) -> String {
        self.pending
    }
}

/// The length of the longest suffix of `text` that is a proper prefix of
/// one of `patterns`.
pub fn held_back(text: &str, patterns: &[String]) -> usize {
    let longest = patterns.iter().map(String::len).max().unwrap_or(0);
    let mut best = 0;
    for (start, _) in text.char_indices().rev() {
        let suffix = &text[start..];
        if suffix.len() >= longest {
            break;
        }
        if patterns
            .iter()
            .any(|p| p.len() > suffix.len() && p.starts_with(suffix))
        {
            best = suffix.len();
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_characters_split_across_tokens_are_joined() {
        let mut stream = Utf8Stream::default();
        let euro = "€".as_bytes(); // 3 bytes
        assert_eq!(stream.push(b"a"), "a");
        assert_eq!(stream.push(&euro[..1]), "");
        assert_eq!(stream.push(&euro[1..2]), "");
        assert_eq!(stream.push(&[euro[2], b'b']), "€b");
        assert_eq!(stream.push(&[0xff, b'c']), "\u{fffd}c");
        assert_eq!(stream.push(&euro[..2]), "");
        assert_eq!(stream.finish(), "\u{fffd}");
    }

    #[test]
    fn stop_sequences_cut_the_output() {
        let mut filter = StopFilter::new(vec!["STOP".into(), String::new()]);
        assert_eq!(filter.push("Hello S"), ("Hello ".into(), false));
        assert_eq!(filter.push("T"), (String::new(), false));
        assert_eq!(filter.push("x"), ("STx".into(), false));
        assert_eq!(filter.push(" ST"), (" ".into(), false));
        assert_eq!(filter.push("OP after"), (String::new(), true));
    }

    #[test]
    fn text_held_back_for_a_stop_is_released_at_the_end() {
        let mut filter = StopFilter::new(vec!["\n\nUser:".into()]);
        assert_eq!(filter.push("done.\n"), ("done.".into(), false));
        assert_eq!(filter.finish(), "\n");
    }

    #[test]
    fn stops_find_the_earliest_match() {
        let mut filter = StopFilter::new(vec!["cd".into(), "b".into()]);
        assert_eq!(filter.push("abcd"), ("a".into(), true));
    }

    #[test]
    fn without_stops_everything_passes() {
        let mut filter = StopFilter::new(vec![]);
        assert_eq!(filter.push("a"), ("a".into(), false));
        assert_eq!(filter.finish(), "");
    }

    #[test]
    fn held_back_respects_char_boundaries() {
        assert_eq!(held_back("xé", &["éa".into()]), "é".len());
        assert_eq!(held_back("abc", &["x".into()]), 0);
        assert_eq!(held_back("ab<tool", &["<tool_call>".into()]), 5);
    }
}
