//! The pinned external tools agentc drives, and where they are found.
//!
//! This module is the one source of the pins: the wasm32 target, worker-build and wasm-bindgen-cli
//! (cargo-installed, versions from [`crate::codegen`], which the generated crate must match), and
//! the npm tools (esbuild, binaryen's wasm-opt, workerd, wrangler) at the versions of the
//! `package-lock.json` embedded in agentc. `agentc setup` ([`crate::setup`]) installs them into the
//! per-user cache ([`cache_dir`]); lookups try, in order, the tool's environment variable, the
//! cache, the project's `node_modules/.bin` (npm tools) and `PATH`. A tool that is not found is a
//! [`Missing`] error that names the command that installs it.

use crate::codegen::{WASM_BINDGEN_VERSION, WORKER_VERSION};
use std::path::{Path, PathBuf};

/// The per-user cache of version-keyed tool installs: `$AGENTC_CACHE`, else
/// `$XDG_CACHE_HOME/agentc`, else `~/.cache/agentc`.
pub fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("AGENTC_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("agentc");
    }
    let home = var("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/agentc")
}

/// The Rust target Workers are compiled to.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// How a pinned tool is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `cargo install <krate> --version <version>` into `<cache>/<krate>-<version>/`.
    Cargo {
        krate: &'static str,
        version: &'static str,
    },
    /// An npm package of the embedded lockfile, installed into `<cache>/npm-<lock hash>/`.
    Npm { package: &'static str },
}

/// A pinned tool: its binary, the variable that overrides where it is, and how it is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub bin: &'static str,
    pub env_var: &'static str,
    pub source: Source,
}

pub const WORKER_BUILD: Tool = Tool {
    bin: "worker-build",
    env_var: "WORKER_BUILD_BIN",
    source: Source::Cargo {
        krate: "worker-build",
        version: WORKER_VERSION,
    },
};
pub const WASM_BINDGEN: Tool = Tool {
    bin: "wasm-bindgen",
    env_var: "WASM_BINDGEN_BIN",
    source: Source::Cargo {
        krate: "wasm-bindgen-cli",
        version: WASM_BINDGEN_VERSION,
    },
};
pub const ESBUILD: Tool = Tool {
    bin: "esbuild",
    env_var: "ESBUILD_BIN",
    source: Source::Npm { package: "esbuild" },
};
pub const WASM_OPT: Tool = Tool {
    bin: "wasm-opt",
    env_var: "WASM_OPT_BIN",
    source: Source::Npm {
        package: "binaryen",
    },
};
pub const WORKERD: Tool = Tool {
    bin: "workerd",
    env_var: "WORKERD_BIN",
    source: Source::Npm { package: "workerd" },
};
pub const WRANGLER: Tool = Tool {
    bin: "wrangler",
    env_var: "WRANGLER_BIN",
    source: Source::Npm {
        package: "wrangler",
    },
};

/// Every pinned tool, in the order `agentc setup` installs and `agentc doctor` lists them.
pub const TOOLS: [Tool; 6] = [
    WORKER_BUILD,
    WASM_BINDGEN,
    ESBUILD,
    WASM_OPT,
    WORKERD,
    WRANGLER,
];

impl Tool {
    /// Where `agentc setup` puts the tool.
    pub fn cached(&self, cache: &Path) -> PathBuf {
        match self.source {
            Source::Cargo { krate, version } => {
                cache.join(format!("{krate}-{version}/bin/{}", self.bin))
            }
            Source::Npm { .. } => npm_dir(cache).join("node_modules/.bin").join(self.bin),
        }
    }

    /// The pinned version: the crate's, or the npm lockfile's.
    pub fn version(&self) -> String {
        match self.source {
            Source::Cargo { version, .. } => version.to_owned(),
            Source::Npm { package } => npm_version(package).unwrap_or_else(|| "?".into()),
        }
    }

    /// The command that installs just this tool where agentc finds it.
    pub fn install_command(&self) -> String {
        match self.source {
            Source::Cargo { krate, version } => format!(
                "`agentc setup` (or `cargo install {krate} --version {version} --root {}`)",
                cache_dir().join(format!("{krate}-{version}")).display()
            ),
            Source::Npm { .. } => "`agentc setup`".into(),
        }
    }

    /// Finds the tool: its environment variable, the cache, `<project>/node_modules/.bin` for npm
    /// tools, then `PATH`.
    pub fn find(&self, project: &Path) -> Result<PathBuf, Missing> {
        let mut candidates = vec![self.cached(&cache_dir())];
        if matches!(self.source, Source::Npm { .. }) {
            candidates.push(project.join("node_modules/.bin").join(self.bin));
        }
        find(self.bin, self.env_var, &candidates).map_err(|mut missing| {
            missing.install = self.install_command();
            missing
        })
    }
}

/// The npm tools' directory in the cache: keyed by the hash of the embedded lockfile, so a new
/// pin installs beside the old one.
pub fn npm_dir(cache: &Path) -> PathBuf {
    cache.join(format!("npm-{}", npm_lock_hash()))
}

/// The first 12 hex digits of the SHA-256 of the embedded `package-lock.json`.
pub fn npm_lock_hash() -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(crate::embedded::PACKAGE_LOCK);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The version of an npm package in the embedded lockfile.
pub fn npm_version(package: &str) -> Option<String> {
    let lock: serde_json::Value = serde_json::from_slice(crate::embedded::PACKAGE_LOCK).ok()?;
    lock["packages"][format!("node_modules/{package}")]["version"]
        .as_str()
        .map(str::to_owned)
}

/// A tool that could not be found, with what to run to get it.
#[derive(Debug, thiserror::Error)]
#[error("{tool} not found (looked in {looked}); install it with {install}")]
pub struct Missing {
    pub tool: &'static str,
    pub looked: String,
    /// The command that installs it.
    pub install: String,
}

/// Locates a tool: an explicit environment variable wins, then the candidates in order, then
/// `PATH`.
pub fn find(tool: &'static str, env_var: &str, candidates: &[PathBuf]) -> Result<PathBuf, Missing> {
    if let Some(path) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
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
        install: "`agentc setup`".into(),
    })
}

/// A program on `PATH`.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// Whether rustc has the wasm32 standard library (`rustup target add wasm32-unknown-unknown`).
pub fn wasm_target() -> Result<PathBuf, Missing> {
    let missing = |looked: String| Missing {
        tool: "the wasm32-unknown-unknown Rust target",
        looked,
        install: format!("`rustup target add {WASM_TARGET}` (or `agentc setup`)"),
    };
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = std::process::Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|err| missing(format!("{}: {err}", Path::new(&rustc).display())))?;
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let lib = Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET);
    if lib.is_dir() {
        Ok(lib)
    } else {
        Err(missing(lib.display().to_string()))
    }
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
    /// Finds every build tool (and the wasm32 target) for a project rooted at `project`.
    pub fn find(project: &Path) -> Result<Self, Missing> {
        wasm_target()?;
        Ok(BuildTools {
            worker_build: WORKER_BUILD.find(project)?,
            wasm_bindgen: WASM_BINDGEN.find(project)?,
            esbuild: ESBUILD.find(project)?,
            wasm_opt: WASM_OPT.find(project)?,
        })
    }
}

/// The local Workers runtime.
pub fn workerd(project: &Path) -> Result<PathBuf, Missing> {
    WORKERD.find(project)
}

/// Cloudflare's deploy tool.
pub fn wrangler(project: &Path) -> Result<PathBuf, Missing> {
    WRANGLER.find(project)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_pins_come_from_the_embedded_lockfile() {
        for tool in [ESBUILD, WASM_OPT, WORKERD, WRANGLER] {
            assert_ne!(tool.version(), "?", "{} has no pin", tool.bin);
        }
        let cache = Path::new("/c");
        assert_eq!(
            WORKER_BUILD.cached(cache),
            Path::new("/c/worker-build-0.8.7/bin/worker-build")
        );
        assert!(WORKERD
            .cached(cache)
            .starts_with(format!("/c/npm-{}", npm_lock_hash())));
    }
}
