//! `agentc setup`: installs the pinned toolchain ([`crate::toolchain`]) and the default local
//! model into the per-user cache, skipping whatever is already there at the right version, and
//! `agentc doctor`: what is installed, where, at which version, and what is missing.
//!
//! Steps, each skipped when done: the wasm32 target (`rustup target add`), worker-build and
//! wasm-bindgen-cli (`cargo install --root <cache>/<crate>-<version>`), the npm tools (`npm ci`
//! of the embedded `package.json` and `package-lock.json` in `<cache>/npm-<lock hash>/`), and
//! the model: the embedded model set-up (`scripts/setup-model` and its requirement files, kept
//! by their owner in the repository) is written to a temporary directory and run there. Nothing
//! is written into the user's project.

use crate::embedded;
use crate::toolchain::{self, Source, Tool, TOOLS, WASM_TARGET};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `agentc setup` installs.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// The per-user cache to install into.
    pub cache: PathBuf,
    /// Also fetch the default model.
    pub model: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{program} is required but not installed: {how}")]
    Prerequisite {
        program: &'static str,
        how: &'static str,
    },
    #[error("{step} failed: {detail}")]
    Step { step: String, detail: String },
}

fn step(what: &str) {
    eprintln!("\x1b[1m==> {what}\x1b[0m");
}

fn skip(what: &str) {
    eprintln!("    {what}");
}

/// Runs a command, failing with what it was for.
fn run(what: &str, command: &mut Command) -> Result<(), SetupError> {
    let status = command.status().map_err(|err| SetupError::Step {
        step: what.to_owned(),
        detail: format!("cannot run {:?}: {err}", command.get_program()),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(SetupError::Step {
            step: what.to_owned(),
            detail: status.to_string(),
        })
    }
}

fn need(program: &'static str, how: &'static str) -> Result<(), SetupError> {
    toolchain::which(program)
        .map(drop)
        .ok_or(SetupError::Prerequisite { program, how })
}

/// Installs what is missing. Safe to run again and again.
pub fn setup(opts: &SetupOptions) -> Result<(), SetupError> {
    need("cargo", "install Rust with rustup (https://rustup.rs)")?;
    need("rustup", "install Rust with rustup (https://rustup.rs)")?;
    need("npm", "install Node.js 20 or later")?;
    std::fs::create_dir_all(&opts.cache).map_err(|err| SetupError::Step {
        step: format!("creating {}", opts.cache.display()),
        detail: err.to_string(),
    })?;
    if toolchain::wasm_target().is_ok() {
        skip(&format!("{WASM_TARGET} target: installed"));
    } else {
        step(&format!("adding the {WASM_TARGET} target"));
        run(
            "rustup target add",
            Command::new("rustup").args(["target", "add", WASM_TARGET]),
        )?;
    }
    for tool in TOOLS {
        if let Source::Cargo { krate, version } = tool.source {
            cargo_tool(&opts.cache, tool, krate, version)?;
        }
    }
    npm_tools(&opts.cache)?;
    link_wrangler(&opts.cache)?;
    if opts.model {
        model(&opts.cache)?;
    }
    Ok(())
}

/// Whether `bin --version` runs and mentions `version`.
fn reports_version(bin: &Path, version: &str) -> bool {
    tool_version(bin).is_some_and(|v| v.contains(version))
}

/// The first line `bin --version` prints.
pub fn tool_version(bin: &Path) -> Option<String> {
    let output = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next()?.trim();
    (output.status.success() && !line.is_empty()).then(|| line.to_owned())
}

fn cargo_tool(cache: &Path, tool: Tool, krate: &str, version: &str) -> Result<(), SetupError> {
    let root = cache.join(format!("{krate}-{version}"));
    if reports_version(&tool.cached(cache), version) {
        skip(&format!(
            "{krate} {version}: installed in {}",
            root.display()
        ));
        return Ok(());
    }
    step(&format!(
        "installing {krate} {version} into {} (a few minutes, once per machine)",
        root.display()
    ));
    // Not --locked: the locked webpki-roots release of wasm-bindgen-cli is not served.
    run(
        &format!("cargo install {krate}"),
        Command::new("cargo")
            .args(["install", "--quiet", "--root"])
            .arg(&root)
            .args(["--version", version, krate])
            // An inherited target directory (scripts, tests) would be locked by our own cargo.
            .env_remove("CARGO_TARGET_DIR"),
    )
}

/// The stamp file that records which lockfile the npm tools were installed from.
const NPM_STAMP: &str = ".agentc-lock-sha256";

fn npm_tools(cache: &Path) -> Result<(), SetupError> {
    let dir = toolchain::npm_dir(cache);
    let hash = toolchain::npm_lock_hash();
    let stamp = dir.join(NPM_STAMP);
    let all_there = TOOLS
        .iter()
        .filter(|t| matches!(t.source, Source::Npm { .. }))
        .all(|t| t.cached(cache).is_file());
    if all_there && std::fs::read_to_string(&stamp).ok().as_deref() == Some(hash.as_str()) {
        skip(&format!("npm tools: installed in {}", dir.display()));
        return Ok(());
    }
    step(&format!("installing the npm tools into {}", dir.display()));
    let io = |err: std::io::Error| SetupError::Step {
        step: format!("writing {}", dir.display()),
        detail: err.to_string(),
    };
    embedded::write_files(
        &dir,
        &[
            ("package.json", embedded::PACKAGE_JSON),
            ("package-lock.json", embedded::PACKAGE_LOCK),
        ],
    )
    .map_err(io)?;
    run(
        "npm ci",
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefer-offline"])
            .args(["--loglevel=error"])
            .current_dir(&dir),
    )?;
    std::fs::write(&stamp, hash).map_err(io)
}

/// Links `<cache>/bin/wrangler` to the pinned wrangler, so `wrangler deploy` works with the cache's
/// `bin/` on `PATH` (where `scripts/setup` also installs agentc), and says how to get it there.
fn link_wrangler(cache: &Path) -> Result<(), SetupError> {
    let bin = cache.join("bin");
    let link = bin.join("wrangler");
    let target = toolchain::WRANGLER.cached(cache);
    let fail = |err: std::io::Error| SetupError::Step {
        step: format!("linking {}", link.display()),
        detail: err.to_string(),
    };
    if std::fs::read_link(&link).ok().as_deref() != Some(target.as_path()) {
        std::fs::create_dir_all(&bin).map_err(fail)?;
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).map_err(fail)?;
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir == bin));
    if !on_path {
        skip(&format!(
            "wrangler is linked in {0}; to run it from anywhere: export PATH=\"{0}:$PATH\"",
            bin.display()
        ));
    }
    Ok(())
}

fn model(cache: &Path) -> Result<(), SetupError> {
    let dir = cache.join(format!(".model-setup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = embedded::write_files(&dir, embedded::MODEL_SETUP_FILES)
        .map_err(|err| SetupError::Step {
            step: "writing the model set-up".into(),
            detail: err.to_string(),
        })
        .and_then(|()| {
            let script = dir.join("scripts/setup-model");
            make_executable(&script).map_err(|err| SetupError::Step {
                step: "writing the model set-up".into(),
                detail: err.to_string(),
            })?;
            run(
                "the model set-up",
                Command::new(&script).env("AGENTC_CACHE", cache),
            )
        });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// One line of `agentc doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub name: String,
    pub pinned: String,
    /// Where it is and what it says its version is, or what is missing and how to install it.
    pub found: Result<(PathBuf, String), String>,
}

/// Everything agentc needs, found or not, for a project at `project`.
pub fn doctor(project: &Path) -> Vec<Finding> {
    let mut findings = vec![Finding {
        name: WASM_TARGET.into(),
        pinned: "rustup target".into(),
        found: toolchain::wasm_target()
            .map(|lib| (lib, "installed".into()))
            .map_err(|m| m.to_string()),
    }];
    for tool in TOOLS {
        let found = tool.find(project).map_err(|m| m.to_string()).map(|path| {
            let version = tool_version(&path).unwrap_or_else(|| "(no --version)".into());
            (path, version)
        });
        findings.push(Finding {
            name: tool.bin.into(),
            pinned: tool.version(),
            found,
        });
    }
    let model = localai::LlamaOptions::default_model().map(|options| options.model);
    let pinned = model
        .as_ref()
        .ok()
        .and_then(|path| path.file_name())
        .map_or("?".into(), |name| name.to_string_lossy().into_owned());
    findings.push(Finding {
        name: "default model".into(),
        pinned,
        found: match model {
            Ok(path) if path.is_file() => {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                Ok((path, format!("{size} bytes")))
            }
            Ok(path) => Err(format!(
                "{} not found; install it with `agentc setup`",
                path.display()
            )),
            Err(err) => Err(err.to_string()),
        },
    });
    findings
}

/// `agentc doctor`'s report: one line per finding.
pub fn render_doctor(findings: &[Finding]) -> String {
    let mut out = format!(
        "agentc {} (runtime {}, in {})\n",
        env!("CARGO_PKG_VERSION"),
        version_line(),
        toolchain::cache_dir()
            .join(embedded::runtime_dir_name())
            .display()
    );
    for f in findings {
        match &f.found {
            Ok((path, version)) => out.push_str(&format!(
                "ok       {:<24} {:<16} {version} at {}\n",
                f.name,
                f.pinned,
                path.display()
            )),
            Err(why) => out.push_str(&format!("missing  {:<24} {:<16} {why}\n", f.name, f.pinned)),
        }
    }
    out
}

/// The runtime this agentc carries: `<version>-<hash>`.
pub fn version_line() -> String {
    format!("{}-{}", embedded::RUNTIME_VERSION, embedded::RUNTIME_HASH)
}
