//! Finding the pinned external tools agentc drives: worker-build and wasm-bindgen (installed by
//! `scripts/setup` into a per-user cache), and workerd, esbuild and wasm-opt (npm packages).

use std::path::{Path, PathBuf};

/// The per-user cache of version-keyed tool installs: `$AGENTC_CACHE`, else
/// `$XDG_CACHE_HOME/agentc`, else `~/.cache/agentc`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AGENTC_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("agentc");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/agentc")
}

/// A tool that could not be found, with what to run to get it.
#[derive(Debug, thiserror::Error)]
#[error(
    "{tool} not found (looked in {looked}); run `scripts/setup` to install the pinned toolchain"
)]
pub struct Missing {
    pub tool: &'static str,
    pub looked: String,
}

/// Locates a tool: an explicit environment variable wins, then the candidates in order, then
/// `PATH`.
pub fn find(tool: &'static str, env_var: &str, candidates: &[PathBuf]) -> Result<PathBuf, Missing> {
    if let Some(path) = std::env::var_os(env_var) {
        return Ok(PathBuf::from(path));
    }
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    if let Some(found) = which(tool) {
        return Ok(found);
    }
    let mut looked: Vec<String> = vec![format!("${env_var}")];
    looked.extend(candidates.iter().map(|p| p.display().to_string()));
    looked.push("PATH".into());
    Err(Missing {
        tool,
        looked: looked.join(", "),
    })
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// The tools a build needs.
#[derive(Debug, Clone)]
pub struct BuildTools {
    pub worker_build: PathBuf,
    pub wasm_bindgen: PathBuf,
    pub esbuild: PathBuf,
    pub wasm_opt: PathBuf,
}

impl BuildTools {
    /// Finds every build tool, for a project whose npm tools are under `tools_root/node_modules`.
    pub fn find(tools_root: &Path) -> Result<Self, Missing> {
        let cache = cache_dir();
        let bin = tools_root.join("node_modules/.bin");
        Ok(BuildTools {
            worker_build: find(
                "worker-build",
                "WORKER_BUILD_BIN",
                &[cache.join("worker-build-0.8.7/bin/worker-build")],
            )?,
            wasm_bindgen: find(
                "wasm-bindgen",
                "WASM_BINDGEN_BIN",
                &[cache.join("wasm-bindgen-cli-0.2.130/bin/wasm-bindgen")],
            )?,
            esbuild: find("esbuild", "ESBUILD_BIN", &[bin.join("esbuild")])?,
            wasm_opt: find("wasm-opt", "WASM_OPT_BIN", &[bin.join("wasm-opt")])?,
        })
    }
}

/// The local Workers runtime.
pub fn workerd(tools_root: &Path) -> Result<PathBuf, Missing> {
    find(
        "workerd",
        "WORKERD_BIN",
        &[tools_root.join("node_modules/.bin/workerd")],
    )
}
