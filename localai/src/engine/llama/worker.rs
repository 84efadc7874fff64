//! The worker thread: it owns the llama.cpp context and generates for one
//! request at a time.

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc;

use super::decide::{call_start_tokens, decide, same_way, tokens_where, Decision};
use super::params::Params;
use super::text::{StopFilter, Utf8Stream};
use super::toolcalls::ToolCallFilter;
use super::{backend, Shared, BATCH};
use crate::engine::Event;
use crate::wire::{ToolCall, Usage};

/// How far back repetition penalties look.
const PENALTY_LAST_N: i32 = 64;

/// One accepted request, waiting for the worker.
pub(super) struct Job {
    pub prompt: Vec<LlamaToken>,
    pub params: Params,
    pub tool_names: Vec<String>,
    pub detect_tools: bool,
    /// The prompt without the tools, when the conversation ends with the user's message: if
    /// the answer to `prompt` does not start like a tool call, the model answers this one
    /// instead (see [`run`]).
    pub plain_prompt: Option<Vec<LlamaToken>>,
    /// The tool calls whose results end the conversation.
    pub answered: Vec<ToolCall>,
    pub sender: mpsc::Sender<Event>,
    pub accepted: Instant,
}

/// How a request ended.
enum Outcome {
    Completed,
    Cancelled,
    Failed(String),
}

/// What the worker keeps between jobs.
struct WorkerState {
    batch: LlamaBatch<'static>,
    /// The tokens whose keys and values are in the KV cache, in order.
    cached: Vec<LlamaToken>,
    /// Biases that forbid a first token starting a tool call, made the
    /// first time they are needed.
    text_start: Option<Vec<LlamaLogitBias>>,
    /// The tokens a written tool call can start with, made the first time they are needed.
    call_start: Option<Vec<LlamaToken>>,
}

/// Runs jobs until the engine is dropped. Reports on `ready` once the
/// context exists and one decode has run, or why not.
pub(super) fn worker(
    shared: &Shared,
    jobs: &std_mpsc::Receiver<Job>,
    ready: &std_mpsc::SyncSender<Result<(), String>>,
) {
    let threads = i32::try_from(shared.info.threads).unwrap_or(i32::MAX);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(shared.info.ctx_size))
        .with_n_batch(BATCH)
        .with_n_ubatch(BATCH)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let backend = match backend() {
        Ok(backend) => backend,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut context = match shared.model.new_context(backend, params) {
        Ok(context) => context,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot create a context: {e}")));
            return;
        }
    };
    let mut state = WorkerState {
        batch: LlamaBatch::new(BATCH as usize, 1),
        cached: Vec::new(),
        text_start: None,
        call_start: None,
    };
    // One decode touches every weight, so the first request does not pay
    // for paging the model in.
    if let Err(e) = warm_up(shared, &mut context, &mut state.batch) {
        let _ = ready.send(Err(format!("the first decode failed: {e}")));
        return;
    }
    let _ = ready.send(Ok(()));
    while let Ok(job) = jobs.recv() {
        let stats = &shared.stats;
        let outcome = run(shared, &mut context, &mut state, job);
        shared.pending.fetch_sub(1, Ordering::SeqCst);
        match outcome {
            Outcome::Completed => stats.completed.fetch_add(1, Ordering::SeqCst),
            Outcome::Cancelled => {
                let why = if shared.closing.load(Ordering::SeqCst) {
                    "localai is shutting down"
                } else {
                    "the client went away"
                };
                eprintln!("localai: generation cancelled: {why}");
                stats.cancelled.fetch_add(1, Ordering::SeqCst)
            }
            Outcome::Failed(reason) => {
                eprintln!("localai: generation failed: {reason}");
                stats.failed.fetch_add(1, Ordering::SeqCst)
            }
        };
    }
}

/// Decodes one token and forgets it.
fn warm_up(
    shared: &Shared,
    ctx: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch<'_>,
) -> Result<(), String> {
    let vocab = shared.model.vocab();
    let token = match vocab.bos() {
        token if token.0 >= 0 && token.0 < vocab.n_tokens() => token,
        _ => LlamaToken(0),
    };
    batch.clear();
    batch.add(token, 0, &[0], true).map_err(|e| e.to_string())?;
    let decoded = ctx.decode(batch).map_err(|e| e.to_string());
    ctx.clear_kv_cache();
    decoded
}

fn cancelled(shared: &Shared, sender: &mpsc::Sender<Event>) -> bool {
    shared.closing.load(Ordering::SeqCst) || sender.is_closed()
}

/// Runs one job: the prompt, then tokens until a stop, then the tool calls
/// and the usage.
fn run(shared: &Shared, ctx: &mut LlamaContext<'_>, state: &mut WorkerState, job: Job) -> Outcome {
    if cancelled(shared, &job.sender) {
        return Outcome::Cancelled;
    }
    let started = Instant::now();
    let reused = match prefill(shared, ctx, state, &job) {
        Ok(reused) => reused,
        Err(outcome) => return outcome,
    };
    let prompt_done = Instant::now();
    let probe = job.plain_prompt.is_some();
    let mut attempt = match generate(shared, ctx, state, &job, false, probe, &[]) {
        Ok(attempt) => attempt,
        Err(outcome) => return outcome,
    };
    // A call that started and went on as text (`<` then `tools`, the tag of the prompt's tool
    // list): the probe tries the other ways a call can start, the likeliest first.
    let mut banned = Vec::new();
    for _ in 0..2 {
        let (true, Some(start)) = (attempt.probed_text, attempt.first_start) else {
            break;
        };
        let starts = state
            .call_start
            .get_or_insert_with(|| call_start_tokens(shared));
        banned.extend(same_way(shared, starts, start));
        eprintln!(
            "localai: a tool call that started went on as text; trying another way to start one"
        );
        if let Err(outcome) = prefill(shared, ctx, state, &job) {
            return outcome;
        }
        attempt = match generate(shared, ctx, state, &job, false, probe, &banned) {
            Ok(attempt) => attempt,
            Err(outcome) => return outcome,
        };
    }
    let mut generated = attempt.generated;
    let mut prompt_len = job.prompt.len();
    // Offered tools, the model chose to answer in words: it answers again without them, which
    // small models do far better (with the tools in sight a 1.5B model answers "Count to 10"
    // with "1").
    if let (true, Some(plain)) = (attempt.probed_text, &job.plain_prompt) {
        if let Err(outcome) = prefill_tokens(shared, ctx, state, &job, plain) {
            return outcome;
        }
        attempt = match generate(shared, ctx, state, &job, false, false, &[]) {
            Ok(attempt) => attempt,
            Err(outcome) => return outcome,
        };
        generated += attempt.generated;
        prompt_len = plain.len();
    }
    // Small models tend to call the tool again instead of reading its
    // result. If all they do is repeat answered calls (and nothing was sent
    // yet), ask again with a first token that cannot start a tool call.
    if repeats(&attempt.calls, &job.answered) && !attempt.streamed {
        eprintln!(
            "localai: the model repeated a tool call that was already answered; \
             generating again as text"
        );
        if let Err(outcome) = prefill(shared, ctx, state, &job) {
            return outcome;
        }
        attempt = match generate(shared, ctx, state, &job, true, false, &[]) {
            Ok(attempt) => attempt,
            Err(outcome) => return outcome,
        };
        generated += attempt.generated;
        if repeats(&attempt.calls, &job.answered) {
            attempt.calls.clear();
        }
    }

    let sender = &job.sender;
    let calls = attempt.calls;
    let made_calls = calls.len();
    if !attempt.text.is_empty() && sender.blocking_send(Event::Text(attempt.text)).is_err() {
        return Outcome::Cancelled;
    }
    if !calls.is_empty() && sender.blocking_send(Event::ToolCalls(calls)).is_err() {
        return Outcome::Cancelled;
    }
    let usage = Usage::new(prompt_len as u64, u64::from(generated));
    if sender.blocking_send(Event::Done(usage)).is_err() {
        return Outcome::Cancelled;
    }
    let generating = prompt_done.elapsed().as_secs_f64();
    eprintln!(
        "localai: {} prompt tokens ({reused} reused) in {:.0} ms after {:.0} ms in the queue; \
         {generated} tokens in {:.0} ms ({:.1} tokens/s){}",
        job.prompt.len(),
        prompt_done.duration_since(started).as_secs_f64() * 1000.0,
        started.duration_since(job.accepted).as_secs_f64() * 1000.0,
        generating * 1000.0,
        f64::from(generated) / generating.max(1e-9),
        if made_calls > 0 {
            format!("; {made_calls} tool call(s)")
        } else {
            String::new()
        }
    );
    Outcome::Completed
}

/// Reports whether `calls` only repeat calls that were already answered.
fn repeats(calls: &[ToolCall], answered: &[ToolCall]) -> bool {
    !calls.is_empty() && calls.iter().all(|call| answered.contains(call))
}

/// Brings the KV cache to the job's prompt, reusing the longest common
/// prefix with what it holds. At least the last prompt token is decoded,
/// for its logits. Returns the number of reused tokens.
fn prefill(
    shared: &Shared,
    ctx: &mut LlamaContext<'_>,
    state: &mut WorkerState,
    job: &Job,
) -> Result<usize, Outcome> {
    prefill_tokens(shared, ctx, state, job, &job.prompt)
}

/// [`prefill`] for another prompt of the job.
fn prefill_tokens(
    shared: &Shared,
    ctx: &mut LlamaContext<'_>,
    state: &mut WorkerState,
    job: &Job,
    prompt: &[LlamaToken],
) -> Result<usize, Outcome> {
    let mut reused = common_prefix(&state.cached, prompt).min(prompt.len() - 1);
    if reused < state.cached.len() {
        let removed = u32::try_from(reused)
            .ok()
            .and_then(|from| ctx.clear_kv_cache_seq(Some(0), Some(from), None).ok())
            .unwrap_or(false);
        if !removed {
            ctx.clear_kv_cache();
            reused = 0;
        }
        state.cached.truncate(reused);
    }
    let batch = &mut state.batch;
    for chunk in prompt[reused..].chunks(BATCH as usize) {
        if cancelled(shared, &job.sender) {
            return Err(Outcome::Cancelled);
        }
        let start = state.cached.len();
        batch.clear();
        for (offset, token) in chunk.iter().enumerate() {
            let at = start + offset;
            let last = at + 1 == prompt.len();
            batch
                .add(*token, at as i32, &[0], last)
                .map_err(|e| Outcome::Failed(e.to_string()))?;
        }
        if let Err(e) = ctx.decode(batch) {
            ctx.clear_kv_cache();
            state.cached.clear();
            return Err(Outcome::Failed(format!("decoding the prompt: {e}")));
        }
        state.cached.extend_from_slice(chunk);
    }
    Ok(reused)
}

/// The result of generating after the prompt.
struct Attempt {
    /// Text not sent yet.
    text: String,
    calls: Vec<ToolCall>,
    generated: u32,
    /// Whether any text was sent already.
    streamed: bool,
    /// A probe stopped because the output started as text (nothing was sent).
    probed_text: bool,
    /// A probe's first token, when it is one a call can start with.
    first_start: Option<LlamaToken>,
}

/// Samples tokens after the prompt until a stop, sending text as soon as it
/// is known not to belong to a stop sequence or a tool call. With
/// `text_start`, the first token cannot start a tool call. A `probe` stops,
/// sending nothing, as soon as the output is known to be text; its first token is none of
/// `banned`.
fn generate(
    shared: &Shared,
    ctx: &mut LlamaContext<'_>,
    state: &mut WorkerState,
    job: &Job,
    text_start: bool,
    probe: bool,
    banned: &[LlamaToken],
) -> Result<Attempt, Outcome> {
    let vocab = shared.model.vocab();
    let n_vocab = shared.model.n_vocab();
    let ctx_size = shared.info.ctx_size as usize;
    let params = &job.params;
    let mut sampler = sampler(params, n_vocab, None);
    let mut first_sampler = if text_start {
        let biases = state
            .text_start
            .get_or_insert_with(|| text_start_biases(shared));
        Some(sampler_with(params, n_vocab, biases))
    } else {
        None
    };
    let mut utf8 = Utf8Stream::default();
    let mut stops = StopFilter::new(params.stop.clone());
    let mut filter = ToolCallFilter::new(job.tool_names.clone(), job.detect_tools);
    let mut generated: u32 = 0;
    let mut streamed = false;
    let mut stopped = false;
    let mut first_start = None;
    let mut piece = Vec::new();
    let batch = &mut state.batch;
    loop {
        if cancelled(shared, &job.sender) {
            return Err(Outcome::Cancelled);
        }
        let last = batch.n_tokens() - 1;
        let token = match first_sampler.take() {
            Some(mut first) => {
                let token = first.sample(ctx, last);
                sampler.accept(token);
                token
            }
            None if probe && generated == 0 && params.greedy() => {
                let starts = state
                    .call_start
                    .get_or_insert_with(|| call_start_tokens(shared));
                let mut logits = ctx.get_logits_ith(last);
                let masked;
                if !banned.is_empty() {
                    let mut copy = logits.to_vec();
                    for token in banned {
                        if let Some(logit) = usize::try_from(token.0)
                            .ok()
                            .and_then(|at| copy.get_mut(at))
                        {
                            *logit = f32::NEG_INFINITY;
                        }
                    }
                    masked = copy;
                    logits = &masked;
                }
                let token = match decide(logits, starts) {
                    Decision::Call { token, call, word } => {
                        let mut start = Vec::new();
                        vocab.token_to_piece_into(token, &mut start, true, None);
                        eprintln!(
                            "localai: the starts of a tool call together ({call:.2}) are \
                             likelier than any word ({word:.2}): starting with {:?}",
                            String::from_utf8_lossy(&start)
                        );
                        sampler.accept(token);
                        token
                    }
                    Decision::Sample if banned.is_empty() => sampler.sample(ctx, last),
                    // Greedy, as the sampler would be, over what is not banned.
                    Decision::Sample => {
                        let at = logits
                            .iter()
                            .enumerate()
                            .max_by(|a, b| a.1.total_cmp(b.1))
                            .map_or(0, |(at, _)| at);
                        let token = LlamaToken(i32::try_from(at).unwrap_or(i32::MAX));
                        sampler.accept(token);
                        token
                    }
                };
                if starts.contains(&token) {
                    first_start = Some(token);
                }
                token
            }
            None => sampler.sample(ctx, last),
        };
        if vocab.is_eog(token) {
            break;
        }
        generated += 1;
        piece.clear();
        vocab.token_to_piece_into(token, &mut piece, false, None);
        let (text, hit) = stops.push(&utf8.push(&piece));
        let out = filter.push(&text);
        if probe && !out.is_empty() {
            return Ok(Attempt {
                text: String::new(),
                calls: Vec::new(),
                generated,
                streamed: false,
                probed_text: true,
                first_start,
            });
        }
        if !out.is_empty() {
            streamed = true;
            if job.sender.blocking_send(Event::Text(out)).is_err() {
                return Err(Outcome::Cancelled);
            }
        }
        if hit {
            stopped = true;
            break;
        }
        let position = state.cached.len();
        if generated >= params.max_tokens || position + 1 >= ctx_size {
            break;
        }
        batch.clear();
        batch
            .add(token, position as i32, &[0], true)
            .map_err(|e| Outcome::Failed(e.to_string()))?;
        if let Err(e) = ctx.decode(batch) {
            ctx.clear_kv_cache();
            state.cached.clear();
            return Err(Outcome::Failed(format!("decoding: {e}")));
        }
        state.cached.push(token);
    }
    // What is still held back: an incomplete character, a possible stop
    // sequence, a possible tool call.
    let mut tail = String::new();
    if !stopped {
        let (text, hit) = stops.push(&utf8.finish());
        tail = text;
        if !hit {
            tail.push_str(&stops.finish());
        }
    }
    let mut text = filter.push(&tail);
    let (rest, calls) = filter.finish();
    text.push_str(&rest);
    Ok(Attempt {
        text,
        calls,
        generated,
        streamed,
        probed_text: false,
        first_start,
    })
}

/// Biases that allow only tokens starting with a letter or digit (after
/// spaces): no JSON, markup, code fence or punctuation that could wrap a
/// tool call, no whitespace-only or special token, no end of generation.
fn text_start_biases(shared: &Shared) -> Vec<LlamaLogitBias> {
    tokens_where(shared, false, |piece| {
        !piece.is_some_and(|text| {
            text.trim_start()
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric)
        })
    })
    .into_iter()
    .map(|token| LlamaLogitBias::new(token, f32::NEG_INFINITY))
    .collect()
}

/// The sampler for a request: greedy unless a temperature above 0 is set.
fn sampler(params: &Params, n_vocab: i32, first: Option<LlamaSampler>) -> LlamaSampler {
    let mut chain: Vec<LlamaSampler> = first.into_iter().collect();
    let repeat = params.repetition_penalty.unwrap_or(1.0);
    let frequency = params.frequency_penalty.unwrap_or(0.0);
    let presence = params.presence_penalty.unwrap_or(0.0);
    if repeat != 1.0 || frequency != 0.0 || presence != 0.0 {
        let repeat = if repeat > 0.0 { repeat } else { 1.0 };
        chain.push(LlamaSampler::penalties(
            n_vocab,
            PENALTY_LAST_N,
            repeat,
            frequency,
            presence,
        ));
    }
    if params.greedy() {
        chain.push(LlamaSampler::greedy());
    } else {
        if let Some(k) = params.top_k.filter(|k| *k > 0) {
            chain.push(LlamaSampler::top_k(k));
        }
        if let Some(p) = params.top_p.filter(|p| *p > 0.0 && *p < 1.0) {
            chain.push(LlamaSampler::top_p(p, 1));
        }
        chain.push(LlamaSampler::temp(params.temperature.unwrap_or(1.0)));
        // llama.cpp picks a random seed for u32::MAX.
        chain.push(LlamaSampler::dist(params.seed.unwrap_or(u32::MAX)));
    }
    LlamaSampler::chain_simple(chain)
}

/// The request's sampler with `biases` applied first.
fn sampler_with(params: &Params, n_vocab: i32, biases: &[LlamaLogitBias]) -> LlamaSampler {
    sampler(
        params,
        n_vocab,
        Some(LlamaSampler::logit_bias(n_vocab, biases)),
    )
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
