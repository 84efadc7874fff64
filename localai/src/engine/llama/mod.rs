//! The real model engine: a GGUF model run in-process by llama.cpp (crate
//! `llama-cpp-2`).
//!
//! The model is loaded once. Requests are turned into a prompt with the
//! model's own chat template ([`template`]), tokenized, and queued; one
//! worker thread generates for one request at a time, streaming text as it
//! is produced. At most `queue` requests wait; beyond that a request gets
//! the Workers AI capacity error. Output that may be a tool call is held
//! back and parsed at the end ([`toolcalls`]). A generation stops when its
//! client goes away (its channel closes), at a stop sequence, at an
//! end-of-generation token, at `max_tokens` or when the context is full.
//!
//! The worker keeps the tokens of the previous request in the KV cache and
//! reuses their longest common prefix with the next prompt, so the turns of
//! one conversation (same system prompt and tools, one more message each
//! time) only pay for their new tokens.

mod decide;
mod logs;
pub mod params;
pub mod template;
mod text;
pub mod toolcalls;
mod worker;

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, OnceLock};
use std::time::Instant;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use serde::Serialize;

use super::{EngineError, Generation};
use crate::models;
use crate::wire::RecordedRequest;
use params::Prompt;
use template::ChatTemplate;
use worker::Job;

/// The context size (prompt plus output, in tokens) when not given.
pub const DEFAULT_CTX_SIZE: u32 = 4096;
/// How many requests may wait while one generates, when not given.
pub const DEFAULT_QUEUE: usize = 8;
/// How many distinct model ids are remembered (and logged once each).
const LOGGED_IDS: usize = 64;
/// The number of prompt tokens decoded in one step.
const BATCH: u32 = 512;

/// The template used when a model has none: ChatML, which Qwen and many
/// others use.
const CHATML: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n\
                      {{ message.content }}<|im_end|>\n{% endfor %}\
                      {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// How to load and run a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlamaOptions {
    /// The GGUF file.
    pub model: PathBuf,
    /// CPU threads for generation.
    pub threads: usize,
    /// Context size in tokens (prompt plus output).
    pub ctx_size: u32,
    /// How many requests may wait while one generates.
    pub queue: usize,
}

impl LlamaOptions {
    /// Options for `model` with the default settings: one thread per core,
    /// [`DEFAULT_CTX_SIZE`] and [`DEFAULT_QUEUE`].
    pub fn new(model: impl Into<PathBuf>) -> Self {
        LlamaOptions {
            model: model.into(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            ctx_size: DEFAULT_CTX_SIZE,
            queue: DEFAULT_QUEUE,
        }
    }

    /// Options for the default model in the cache (see [`crate::models`]).
    pub fn default_model() -> Result<Self, LoadError> {
        LlamaOptions::choose(None)
    }

    /// Options for a `--model` choice: `default`, `small` or the path of a GGUF file (see
    /// [`crate::models::resolve`]); `None` is the default model.
    pub fn choose(choice: Option<&str>) -> Result<Self, LoadError> {
        let path = models::resolve(choice).map_err(LoadError::Choice)?;
        Ok(LlamaOptions::new(path))
    }
}

/// Why a model could not be loaded. Every message names the file and what
/// to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("model file {} not found: {hint}", .path.display())]
    Missing { path: PathBuf, hint: String },
    #[error("model file {} is corrupt or incomplete ({reason}): {hint}", .path.display())]
    Corrupt {
        path: PathBuf,
        reason: String,
        hint: String,
    },
    #[error("cannot read model file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot load model file {}: {reason}: {hint}", .path.display())]
    Load {
        path: PathBuf,
        reason: String,
        hint: String,
    },
    #[error(transparent)]
    Choice(models::ChoiceError),
}

/// What to tell the user about a bad model file.
fn hint(path: &Path) -> String {
    match models::by_file(path) {
        Some(model) => format!(
            "run {} to fetch the {} model ({})",
            model.setup_command(),
            model.name,
            model.title
        ),
        None => format!(
            "pass --model with a GGUF model file, `default` or `small`, or leave --model out to \
             use the default model (fetched by {})",
            models::SETUP_COMMAND
        ),
    }
}

/// Checks that `path` is there and looks like a complete GGUF file.
fn check_file(path: &Path) -> Result<(), LoadError> {
    let corrupt = |reason: String| LoadError::Corrupt {
        path: path.to_path_buf(),
        reason,
        hint: hint(path),
    };
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::Missing {
                path: path.to_path_buf(),
                hint: hint(path),
            })
        }
        Err(e) => return Err(io(e)),
    };
    let size = file.metadata().map_err(io)?.len();
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(corrupt("it does not start like a GGUF file".into()));
    }
    if let Some(model) = models::by_file(path).filter(|model| model.size != size) {
        return Err(corrupt(format!("{size} bytes instead of {}", model.size)));
    }
    Ok(())
}

/// llama.cpp's backend, initialised once per process.
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            logs::install();
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// What was loaded, as the health endpoint reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    /// The model's `general.name`, or its file name.
    pub name: String,
    pub ctx_size: u32,
    pub threads: usize,
    pub queue: usize,
}

/// Counts of finished requests.
#[derive(Debug, Default)]
struct Stats {
    completed: AtomicU64,
    cancelled: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
}

/// Answers requests with a model run by llama.cpp.
pub struct LlamaEngine {
    shared: Arc<Shared>,
    jobs: std_mpsc::Sender<Job>,
    /// Seconds from the start of loading until the model was ready.
    load_seconds: f64,
}

struct Shared {
    model: LlamaModel,
    template: ChatTemplate,
    info: ModelInfo,
    bos: String,
    /// What the model is told when tools are on offer (see [`template::guidance_for`]).
    guidance: String,
    /// Requests accepted and not finished: the one generating and those
    /// waiting.
    pending: AtomicUsize,
    /// Set at shutdown: the running generation stops, waiting ones are
    /// dropped.
    closing: AtomicBool,
    stats: Stats,
    /// Model ids already logged.
    seen_ids: Mutex<HashSet<String>>,
}

impl fmt::Debug for LlamaEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlamaEngine")
            .field("info", &self.shared.info)
            .finish_non_exhaustive()
    }
}

impl LlamaEngine {
    /// Loads the model and starts the worker thread. This blocks for the
    /// time the model takes to load (about half a second for the default
    /// model).
    pub fn load(options: LlamaOptions) -> Result<Self, LoadError> {
        let path = options.model.clone();
        let load_error = |reason: String| LoadError::Load {
            path: path.clone(),
            reason,
            hint: hint(&path),
        };
        check_file(&path)?;
        let started = Instant::now();
        let backend = backend().map_err(load_error)?;
        logs::take_recent();
        let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default())
            .map_err(|e| load_error(with_llama_log(e.to_string())))?;
        let vocab = model.vocab();
        let special_text = |token: LlamaToken| {
            if token.0 < 0 || token.0 >= vocab.n_tokens() {
                return String::new();
            }
            String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned()
        };
        let bos = special_text(vocab.bos());
        let eos = special_text(vocab.eos());
        let source = match model.meta_val_str("tokenizer.chat_template") {
            Ok(source) => source,
            Err(_) => {
                eprintln!(
                    "localai: {} has no chat template; using ChatML",
                    path.display()
                );
                CHATML.to_string()
            }
        };
        let template = ChatTemplate::new(&source, &bos, &eos)
            .map_err(|e| load_error(format!("its chat template does not compile: {e:#}")))?;
        let name = model.meta_val_str("general.name").unwrap_or_else(|_| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let ctx_size = options.ctx_size.clamp(256, model.n_ctx_train().max(256));
        let shared = Arc::new(Shared {
            model,
            template,
            info: ModelInfo {
                path: path.clone(),
                name,
                ctx_size,
                threads: options.threads.max(1),
                queue: options.queue,
            },
            bos,
            guidance: template::guidance_for(&path).to_owned(),
            pending: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            stats: Stats::default(),
            seen_ids: Mutex::new(HashSet::new()),
        });
        let (jobs, receiver) = std_mpsc::channel();
        let (ready, is_ready) = std_mpsc::sync_channel(1);
        let worker_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("localai-llama".into())
            .spawn(move || worker::worker(&worker_shared, &receiver, &ready))
            .map_err(|e| load_error(format!("cannot start the model thread: {e}")))?;
        match is_ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return Err(load_error(with_llama_log(reason))),
            Err(_) => return Err(load_error("the model thread stopped".into())),
        }
        let load_seconds = started.elapsed().as_secs_f64();
        let info = &shared.info;
        eprintln!(
            "localai: loaded {} ({}) in {:.2} s; context {} tokens, {} threads, queue {}",
            info.name,
            path.display(),
            load_seconds,
            info.ctx_size,
            info.threads,
            info.queue
        );
        Ok(LlamaEngine {
            shared,
            jobs,
            load_seconds,
        })
    }

    /// What was loaded.
    pub fn info(&self) -> &ModelInfo {
        &self.shared.info
    }

    /// The health report: the model, the queue and the finished requests.
    pub fn health(&self) -> serde_json::Value {
        let shared = &self.shared;
        let stats = &shared.stats;
        serde_json::json!({
            "model": shared.info,
            "load_seconds": (self.load_seconds * 1000.0).round() / 1000.0,
            "pending": shared.pending.load(Ordering::SeqCst),
            "requests": {
                "completed": stats.completed.load(Ordering::SeqCst),
                "cancelled": stats.cancelled.load(Ordering::SeqCst),
                "failed": stats.failed.load(Ordering::SeqCst),
                "rejected": stats.rejected.load(Ordering::SeqCst),
            },
        })
    }

    /// Stops the running generation and drops the waiting ones.
    pub(in crate::engine) fn shutdown(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
    }

    /// Prepares a request and queues it. Bad inputs, a prompt too long for
    /// the context and a full queue are reported here.
    pub(in crate::engine) fn generate(
        &self,
        request: &RecordedRequest,
    ) -> Result<Generation, EngineError> {
        let shared = &self.shared;
        self.note_model_id(&request.model);
        let parsed = params::parse(&request.inputs).map_err(EngineError::InvalidInput)?;
        let render = |messages: &[serde_json::Value], tools: &[serde_json::Value]| {
            shared.template.render(messages, tools).map_err(|e| {
                EngineError::InvalidInput(format!(
                    "the model's chat template cannot render these messages: {e}"
                ))
            })
        };
        let has_tools = !parsed.tools.is_empty();
        let (text, plain) = match &parsed.prompt {
            Prompt::Chat { messages } if has_tools => {
                let guided = render(
                    &template::with_tool_guidance(messages, &shared.guidance),
                    &parsed.tools,
                )?;
                // Deciding whether to call a tool: if not, the answer comes from the prompt
                // without tools.
                let plain = match messages.last() {
                    Some(last)
                        if last.get("role").and_then(serde_json::Value::as_str) == Some("user") =>
                    {
                        Some(render(messages, &[])?)
                    }
                    _ => None,
                };
                (guided, plain)
            }
            Prompt::Chat { messages } => (render(messages, &parsed.tools)?, None),
            Prompt::Raw(text) => (text.clone(), None),
        };
        let prompt = self.tokens(&text)?;
        let plain_prompt = plain.map(|plain| self.tokens(&plain)).transpose()?;
        // Admission: one request generates and at most `queue` wait.
        let limit = shared.info.queue + 1;
        let admitted = shared
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |pending| {
                (pending < limit).then_some(pending + 1)
            });
        if admitted.is_err() {
            shared.stats.rejected.fetch_add(1, Ordering::SeqCst);
            return Err(EngineError::Capacity);
        }
        let (sender, generation) = Generation::channel();
        let tool_names = template::tool_names(&parsed.tools);
        let answered = match &parsed.prompt {
            Prompt::Chat { messages } => toolcalls::answered_calls(messages, &tool_names),
            Prompt::Raw(_) => Vec::new(),
        };
        let job = Job {
            prompt,
            params: parsed.params,
            detect_tools: has_tools,
            plain_prompt,
            tool_names,
            answered,
            sender,
            accepted: Instant::now(),
        };
        if self.jobs.send(job).is_err() {
            shared.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(EngineError::Internal("the model thread has stopped".into()));
        }
        Ok(generation)
    }

    /// Tokenizes a rendered prompt, checking that it fits the context.
    fn tokens(&self, text: &str) -> Result<Vec<LlamaToken>, EngineError> {
        let shared = &self.shared;
        let vocab = shared.model.vocab();
        let add_bos =
            vocab.should_add_bos() && (shared.bos.is_empty() || !text.starts_with(&shared.bos));
        let prompt = vocab.tokenize(text.as_bytes(), add_bos, true);
        if prompt.is_empty() {
            return Err(EngineError::InvalidInput("the prompt is empty".into()));
        }
        let ctx_size = shared.info.ctx_size as usize;
        if prompt.len() >= ctx_size {
            return Err(EngineError::InvalidInput(format!(
                "the prompt has {} tokens but the context holds {ctx_size}; \
                 start localai with a larger --ctx-size",
                prompt.len()
            )));
        }
        Ok(prompt)
    }

    /// Logs, once per model id (for the first [`LOGGED_IDS`] ids), that the
    /// id is served by the loaded model.
    fn note_model_id(&self, id: &str) {
        let mut seen = self
            .shared
            .seen_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if seen.len() < LOGGED_IDS && seen.insert(id.to_string()) {
            let id = if id.is_empty() {
                "(no model id)".to_owned()
            } else {
                id.escape_debug().to_string()
            };
            eprintln!(
                "localai: model {id} is served by {} ({})",
                self.shared.info.name,
                self.shared.info.path.display()
            );
        }
    }
}

/// Appends llama.cpp's recent warnings and errors to a reason.
fn with_llama_log(reason: String) -> String {
    let recent = logs::take_recent();
    if recent.is_empty() {
        reason
    } else {
        format!("{reason} (llama.cpp: {})", recent.join("; "))
    }
}
