//! A streamed response body that the turn writes into: a JS `ReadableStream` whose controller
//! this side holds, so each frame is one `enqueue` call, made when the frame is ready.
//!
//! `Response::from_stream` over a Rust stream answers each read of the body with a promise made
//! from a Rust future (a task, a microtask, several crossings between JS and wasm per frame);
//! here the platform reads chunks that are already queued. The client going away cancels the
//! stream, after which `enqueue` throws: [`Frames::send`] then returns `false`, as a closed
//! channel did.

use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys::{Function, Object, Reflect, Uint8Array};
use worker::web_sys::ReadableStream;

/// The writing end of a response body. Clones write to the same body; the body ends when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Frames(Rc<Inner>);

struct Inner {
    controller: JsValue,
    enqueue: Function,
    close: Function,
    open: std::cell::Cell<bool>,
}

impl Frames {
    /// A body and its writing end.
    pub fn new() -> Result<(Frames, ReadableStream), String> {
        let slot: Rc<RefCell<Option<JsValue>>> = Rc::default();
        let start = {
            let slot = slot.clone();
            // Called once, while the stream is constructed.
            wasm_bindgen::closure::Closure::once_into_js(move |controller: JsValue| {
                *slot.borrow_mut() = Some(controller);
            })
        };
        let source = Object::new();
        Reflect::set(&source, &"start".into(), &start).map_err(js_error)?;
        let stream = ReadableStream::new_with_underlying_source(&source).map_err(js_error)?;
        let controller = slot
            .borrow_mut()
            .take()
            .ok_or("the stream's start was not called")?;
        let method = |name: &str| -> Result<Function, String> {
            Reflect::get(&controller, &name.into())
                .map_err(js_error)?
                .dyn_into()
                .map_err(|_| format!("the stream's controller has no {name}"))
        };
        let inner = Inner {
            enqueue: method("enqueue")?,
            close: method("close")?,
            controller,
            open: std::cell::Cell::new(true),
        };
        Ok((Frames(Rc::new(inner)), stream))
    }

    /// Queues one frame; `false` once the client has gone away (or the body was closed).
    pub fn send(&self, frame: &[u8]) -> bool {
        let inner = &self.0;
        if !inner.open.get() {
            return false;
        }
        let chunk = Uint8Array::from(frame);
        let sent = inner.enqueue.call1(&inner.controller, &chunk).is_ok();
        if !sent {
            inner.open.set(false);
        }
        sent
    }
}

impl Inner {
    fn close(&self) {
        if self.open.replace(false) {
            // Throws only when the client already cancelled the stream.
            let _ = self.close.call0(&self.controller);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

fn js_error(value: JsValue) -> String {
    value
        .dyn_ref::<worker::js_sys::Error>()
        .map(|err| String::from(err.message()))
        .unwrap_or_else(|| format!("{value:?}"))
}
