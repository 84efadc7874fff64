//! agentc compiles declarative AI agents into a Cloudflare Worker.
//!
//! The pipeline runs one way ([`pipeline::run`]): [`yaml`] loads an agent file keeping every position, [`check`]
//! validates it and lowers it to the [`ir`], [`rust_tool`] checks the project's Rust tools against
//! their source, [`codegen`] turns the IR into the files of a Rust
//! Worker crate (built on the `agentc-runtime` crate) and its `wrangler.toml`, and [`emit`]
//! writes what changed. [`build`] runs the pipeline and compiles the crate to wasm; [`devserver`]
//! runs the result locally on workerd with localai standing in for Workers AI; [`testing`] runs an
//! agent's `*.test.yaml` cases against it or a deployment. Nothing is written until every check
//! has passed.
//!
//! The binary needs no source checkout: [`embedded`] carries the runtime crate's sources (written
//! into the per-user cache), [`setup`] installs the pinned [`toolchain`] there, and [`init`]
//! creates new projects.

pub mod build;
pub mod check;
pub mod codegen;
pub mod dev;
pub mod devcache;
pub mod devserver;
pub mod diagnostic;
pub mod embedded;
pub mod emit;
pub mod fixtures;
pub mod init;
pub mod ir;
pub mod keys;
pub mod mcp_lock;
pub mod mcp_pull;
pub mod models;
pub mod pipeline;
pub mod project;
pub mod rust_tool;
pub mod schema;
pub mod setup;
pub mod span;
pub mod template;
pub mod testing;
pub mod toolchain;
pub mod yaml;
