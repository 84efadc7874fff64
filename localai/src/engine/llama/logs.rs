//! llama.cpp's own log. It is chatty, so it is kept quiet: warnings and
//! errors are remembered (the last few are quoted when a model fails to
//! load) and everything goes to stderr only when `LOCALAI_LLAMA_LOG` is set.

use std::collections::VecDeque;
use std::ffi::{c_char, c_void, CStr};
use std::sync::{Mutex, Once};

use llama_cpp_sys_2::{ggml_log_level, GGML_LOG_LEVEL_CONT, GGML_LOG_LEVEL_WARN};

/// How many recent warning and error lines are kept.
const KEPT: usize = 8;

static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
static INSTALL: Once = Once::new();

/// Routes llama.cpp's and ggml's log through [`log_line`]; idempotent.
pub fn install() {
    INSTALL.call_once(|| {
        // SAFETY: the callback is a plain function that stays valid for the
        // life of the process and ignores its user data.
        unsafe {
            llama_cpp_sys_2::llama_log_set(Some(log_line), std::ptr::null_mut());
            llama_cpp_sys_2::ggml_log_set(Some(log_line), std::ptr::null_mut());
        }
    });
}

/// The warnings and errors logged since the last call, oldest first.
pub fn take_recent() -> Vec<String> {
    let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    recent.drain(..).collect()
}

unsafe extern "C" fn log_line(level: ggml_log_level, text: *const c_char, _data: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a valid NUL-terminated string.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    if std::env::var_os("LOCALAI_LLAMA_LOG").is_some() {
        eprint!("{text}");
    }
    if level >= GGML_LOG_LEVEL_WARN && level != GGML_LOG_LEVEL_CONT {
        let line = text.trim();
        if !line.is_empty() {
            let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == KEPT {
                recent.pop_front();
            }
            recent.push_back(line.to_string());
        }
    }
}
