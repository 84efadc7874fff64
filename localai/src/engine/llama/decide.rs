//! Calling a tool or answering in words: the first token of an answer to a prompt with tools,
//! decided on the probability of all the ways a call can start (see [`decide`]).

use super::Shared;
use llama_cpp_2::token::LlamaToken;

/// How a greedy probe starts its answer.
#[derive(Debug, PartialEq)]
pub(super) enum Decision {
    /// With `token`, the start of a tool call; `call` is the probability of all the call's
    /// starts together, `word` that of the likeliest other token.
    Call {
        token: LlamaToken,
        call: f32,
        word: f32,
    },
    /// As the sampler picks.
    Sample,
}

/// Decides between calling a tool and answering in words on the first token's `logits`.
///
/// Greedy decoding compares single tokens, but a call can start in several ways (`<tool_call>`
/// as one token or as `<`, `{` of bare JSON, `{{`, a code fence) and small models spread the
/// call's probability over them: "Where is my order 100234?" gives `I` 0.12, `To` 0.10, `<`
/// 0.09 and `{{` 0.08 to the 1.5B model, which then answered without looking the order up. The
/// call's starts are one choice here: when their probabilities together beat the likeliest
/// other token, the answer starts with the likeliest of them.
pub(super) fn decide(logits: &[f32], call_starts: &[LlamaToken]) -> Decision {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = logits.iter().map(|logit| (logit - max).exp()).sum();
    let mut is_start = vec![false; logits.len()];
    for token in call_starts {
        if let Some(slot) = usize::try_from(token.0)
            .ok()
            .and_then(|at| is_start.get_mut(at))
        {
            *slot = true;
        }
    }
    let (mut call, mut word) = (0.0f32, 0.0f32);
    let mut best_start: Option<(usize, f32)> = None;
    for (at, logit) in logits.iter().enumerate() {
        let weight = (logit - max).exp();
        if is_start[at] {
            call += weight;
            if best_start.is_none_or(|(_, best)| weight > best) {
                best_start = Some((at, weight));
            }
        } else {
            word = word.max(weight);
        }
    }
    match best_start {
        // When the likeliest token starts a call, greedy decoding calls anyway.
        Some((at, weight)) if call > word && weight < 1.0 => Decision::Call {
            token: LlamaToken(i32::try_from(at).unwrap_or(i32::MAX)),
            call: call / total,
            word: word / total,
        },
        _ => Decision::Sample,
    }
}

/// The tokens a written tool call can start with (what the tool-call filter reads as a call):
/// the `<tool_call>` tag (one special token, or `<` and its pieces), bare or doubled JSON
/// braces, a code fence.
pub(super) fn call_start_tokens(shared: &Shared) -> Vec<LlamaToken> {
    tokens_where(shared, true, |piece| {
        piece.map(str::trim_start).is_some_and(|text| {
            !text.is_empty()
                && (text.starts_with("<tool_call>")
                    || "<tool_call>".starts_with(text)
                    || text.starts_with('{')
                    || text.starts_with("```"))
        })
    })
}

/// The tokens that start a call the way `start` does: the tag's (`<tool_call>` and its pieces)
/// for a tag's, else `start` alone. When a call that began with `start` went on as text, the
/// probe tries again without all of them.
pub(super) fn same_way(
    shared: &Shared,
    starts: &[LlamaToken],
    start: LlamaToken,
) -> Vec<LlamaToken> {
    let vocab = shared.model.vocab();
    let mut piece = Vec::new();
    let mut is_tag = |token: LlamaToken| {
        piece.clear();
        vocab.token_to_piece_into(token, &mut piece, true, None);
        String::from_utf8_lossy(&piece)
            .trim_start()
            .starts_with('<')
    };
    if !is_tag(start) {
        return vec![start];
    }
    starts
        .iter()
        .copied()
        .filter(|&token| is_tag(token))
        .collect()
}

/// The tokens of the model's vocabulary that `keep` accepts: `keep(None)` asks about an end of
/// generation token, `keep(Some(text))` about any other (`special`: special tokens as their
/// text, such as `<tool_call>`).
pub(super) fn tokens_where(
    shared: &Shared,
    special: bool,
    mut keep: impl FnMut(Option<&str>) -> bool,
) -> Vec<LlamaToken> {
    let vocab = shared.model.vocab();
    let mut piece = Vec::new();
    (0..vocab.n_tokens())
        .map(LlamaToken)
        .filter(|token| {
            if vocab.is_eog(*token) {
                return keep(None);
            }
            piece.clear();
            vocab.token_to_piece_into(*token, &mut piece, special, None);
            keep(Some(&String::from_utf8_lossy(&piece)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits whose softmax gives `weights` (relative) to the first tokens and next to
    /// nothing to the other `rest`.
    fn logits(weights: &[f32], rest: usize) -> Vec<f32> {
        let mut logits: Vec<f32> = weights.iter().map(|w| w.ln()).collect();
        logits.extend(std::iter::repeat_n(-100.0, rest));
        logits
    }

    fn starts(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().copied().map(LlamaToken).collect()
    }

    #[test]
    fn the_starts_of_a_call_together_beat_the_likeliest_word() {
        // The 1.5B model on "Where is my order 100234?": `I` .12, `To` .10, `<` .09, `{{` .08.
        let logits = logits(&[0.12, 0.10, 0.09, 0.08], 10);
        match decide(&logits, &starts(&[2, 3])) {
            Decision::Call { token, call, word } => {
                assert_eq!(token, LlamaToken(2), "the likeliest start");
                assert!((call - 0.17 / 0.39).abs() < 1e-3, "{call}");
                assert!((word - 0.12 / 0.39).abs() < 1e-3, "{word}");
            }
            other => panic!("expected a call, got {other:?}"),
        }
    }

    #[test]
    fn a_word_likelier_than_every_start_together_is_sampled() {
        // "Count to 10": `1` far ahead of any start.
        let logits = logits(&[0.60, 0.20, 0.05, 0.05], 10);
        assert_eq!(decide(&logits, &starts(&[2, 3])), Decision::Sample);
    }

    #[test]
    fn a_likeliest_token_that_starts_a_call_is_left_to_the_sampler() {
        let logits = logits(&[0.30, 0.50, 0.20], 10);
        assert_eq!(decide(&logits, &starts(&[1])), Decision::Sample);
    }

    #[test]
    fn no_starts_no_call() {
        let logits = logits(&[0.3, 0.2], 10);
        assert_eq!(decide(&logits, &[]), Decision::Sample);
        // Ids outside the vocabulary are ignored.
        assert_eq!(decide(&logits, &starts(&[99, -1])), Decision::Sample);
    }
}
