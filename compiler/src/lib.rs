//! agentc compiles declarative AI agents into a Cloudflare Worker.
//!
//! The pipeline runs one way: [`yaml`] loads an agent file keeping every position, [`check`]
//! validates it and lowers it to the [`ir`], [`rust_tool`] checks the project's Rust tools against
//! their source, [`codegen`] turns the IR into the files of a Rust
//! Worker crate (built on the `agentc-runtime` crate) and its `wrangler.toml`, and [`emit`]
//! writes what changed. [`build`] runs the pipeline and compiles the crate to wasm; [`dev`] runs
//! the result locally on workerd with localai standing in for Workers AI; [`testing`] runs an
//! agent's `*.test.yaml` cases against it or a deployment. Nothing is written until every check
//! has passed.

pub mod build;
pub mod check;
pub mod codegen;
pub mod dev;
pub mod devcache;
pub mod diagnostic;
pub mod emit;
pub mod fixtures;
pub mod ir;
pub mod keys;
pub mod models;
pub mod project;
pub mod rust_tool;
pub mod schema;
pub mod span;
pub mod testing;
pub mod toolchain;
pub mod yaml;
