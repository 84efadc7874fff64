//! The tools an agent's model can call, and the checks that run before them.

pub mod args;
pub mod builtin;
pub mod calculator;
pub mod segment;
pub mod ssrf;
pub mod template;
