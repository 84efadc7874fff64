//! The shared state of a running localai: its engine and the recording of
//! the latest model requests (bounded: the oldest are forgotten first).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::engine::{Engine, EngineError, Generation};
use crate::script::Script;
use crate::wire::RecordedRequest;

/// A localai instance. Cloning it is cheap and every clone shares the same
/// state, so tests can drive it directly while it serves HTTP.
#[derive(Debug, Clone)]
pub struct LocalAi {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    requests: Mutex<VecDeque<RecordedRequest>>,
    /// How many requests the recording keeps.
    record_limit: AtomicUsize,
    /// Numbers the responses that carry an id (the OpenAI ones).
    next_id: AtomicU64,
}

/// How many requests are recorded with the scripted engine, whose tests read them back.
pub const SCRIPTED_RECORD_LIMIT: usize = 100_000;
/// How many requests are recorded with a real model: enough to look at the last turns, not a
/// growing store of every prompt.
pub const LLAMA_RECORD_LIMIT: usize = 64;

/// A script was given to an engine that does not run scripts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {0} engine does not take a script")]
pub struct NotScripted(pub &'static str);

impl LocalAi {
    /// A localai instance answering with `engine`.
    pub fn new(engine: Engine) -> Self {
        let record_limit = match engine {
            Engine::Scripted(_) => SCRIPTED_RECORD_LIMIT,
            Engine::Llama(_) => LLAMA_RECORD_LIMIT,
        };
        LocalAi {
            inner: Arc::new(Inner {
                engine,
                requests: Mutex::new(VecDeque::new()),
                record_limit: AtomicUsize::new(record_limit),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// The engine that answers requests.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Records a request and starts its generation. With the scripted
    /// engine both happen under one lock, so the recording order is the
    /// order in which replies are taken; a real model prepares its prompt
    /// (template, tokens) outside the lock, so a big request holds up no one.
    pub fn run(&self, request: RecordedRequest) -> Result<Generation, EngineError> {
        eprintln!(
            "localai: {} request for {} (stream: {})",
            request.endpoint.as_str(),
            request.model.escape_debug(),
            request.stream()
        );
        if self.inner.engine.as_scripted().is_some() {
            let mut requests = self.requests();
            let generation = self.inner.engine.generate(&request);
            self.record(&mut requests, request);
            generation
        } else {
            let generation = self.inner.engine.generate(&request);
            self.record(&mut self.requests(), request);
            generation
        }
    }

    fn record(&self, requests: &mut VecDeque<RecordedRequest>, request: RecordedRequest) {
        let limit = self.inner.record_limit.load(Ordering::Relaxed);
        while requests.len() >= limit.max(1) {
            requests.pop_front();
        }
        requests.push_back(request);
    }

    /// The latest model requests (at most the record limit, see
    /// [`LocalAi::set_record_limit`]) since the last clear, in arrival order.
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.requests().iter().cloned().collect()
    }

    /// How many requests the recording keeps.
    pub fn record_limit(&self) -> usize {
        self.inner.record_limit.load(Ordering::Relaxed)
    }

    /// Keeps at most `limit` (at least 1) recorded requests, forgetting the
    /// oldest first. The default is [`SCRIPTED_RECORD_LIMIT`] for the
    /// scripted engine and [`LLAMA_RECORD_LIMIT`] for a real model.
    pub fn set_record_limit(&self, limit: usize) {
        self.inner
            .record_limit
            .store(limit.max(1), Ordering::Relaxed);
        let mut requests = self.requests();
        while requests.len() > limit.max(1) {
            requests.pop_front();
        }
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.requests().clear();
    }

    /// Replaces the script, restarts it from its first reply and clears the
    /// recorded requests.
    pub fn set_script(&self, script: Script) -> Result<(), NotScripted> {
        let engine = self.scripted()?;
        let mut requests = self.requests();
        engine.set_script(script);
        requests.clear();
        Ok(())
    }

    /// Releases held streams (see [`crate::ScriptedEngine::release`]);
    /// returns the number of releases so far.
    pub fn release(&self) -> Result<u64, NotScripted> {
        Ok(self.scripted()?.release())
    }

    /// A fresh number for a response id.
    pub(crate) fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn scripted(&self) -> Result<&crate::ScriptedEngine, NotScripted> {
        let engine = &self.inner.engine;
        engine.as_scripted().ok_or(NotScripted(engine.mode()))
    }

    fn requests(&self) -> MutexGuard<'_, VecDeque<RecordedRequest>> {
        // A recording is a plain list, valid even after a panic elsewhere.
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}
