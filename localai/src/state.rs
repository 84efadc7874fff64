//! The shared state of a running localai: its engine and the recording of
//! every model request.

use std::sync::atomic::{AtomicU64, Ordering};
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
    requests: Mutex<Vec<RecordedRequest>>,
    /// Numbers the responses that carry an id (the OpenAI ones).
    next_id: AtomicU64,
}

/// A script was given to an engine that does not run scripts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {0} engine does not take a script")]
pub struct NotScripted(pub &'static str);

impl LocalAi {
    /// A localai instance answering with `engine`.
    pub fn new(engine: Engine) -> Self {
        LocalAi {
            inner: Arc::new(Inner {
                engine,
                requests: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// The engine that answers requests.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Records a request and starts its generation. Both happen under one
    /// lock, so the recording order is the order in which replies are taken.
    pub fn run(&self, request: RecordedRequest) -> Result<Generation, EngineError> {
        let mut requests = self.requests();
        eprintln!(
            "localai: {} request for {} (stream: {})",
            request.endpoint.as_str(),
            request.model,
            request.stream()
        );
        let generation = self.inner.engine.generate(&request);
        requests.push(request);
        generation
    }

    /// Every model request received since the last clear, in arrival order.
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.requests().clone()
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

    fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        // A recording is a plain list, valid even after a panic elsewhere.
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}
