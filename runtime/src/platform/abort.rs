//! A fetch that stops when its call is given up: the abort signal of a controller that aborts
//! when dropped, so a tool call dropped by its timeout (or by the client leaving) closes its
//! request instead of letting it go on in the background. Aborting a finished fetch does
//! nothing.

use worker::{AbortController, AbortSignal};

/// Aborts its fetch when dropped; keep it alive until the response has been read.
pub struct AbortOnDrop(Option<AbortController>);

impl AbortOnDrop {
    pub fn new() -> Self {
        AbortOnDrop(Some(AbortController::default()))
    }

    /// The signal to send the fetch with.
    pub fn signal(&self) -> AbortSignal {
        self.0.as_ref().expect("aborted only on drop").signal()
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}
