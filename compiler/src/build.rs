//! `agentc build`: check, generate, write what changed, compile to wasm.

use crate::codegen::{self, Layout};
use crate::embedded;
use crate::emit::{self, Emitted};
use crate::pipeline;
use crate::project::Checked;
use crate::toolchain::{self, BuildTools};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// Where a build reads from and writes to.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The project root: paths in diagnostics and generated headers are relative to it.
    pub root: PathBuf,
    /// The directory of agent files.
    pub agents_dir: PathBuf,
    /// The generated crate's directory.
    pub crate_dir: PathBuf,
    /// Where `wrangler.toml` is written.
    pub wrangler_toml: PathBuf,
    /// Generate only; do not compile.
    pub generate_only: bool,
    /// List every agent in the chat page at `/`, whatever its `page` says (`agentc dev`).
    pub page_for_every_agent: bool,
}

impl BuildOptions {
    /// The defaults for a project root: `agents/` in, `.agentc/worker/` and `wrangler.toml` out.
    pub fn for_root(root: &Path) -> Self {
        BuildOptions {
            root: root.to_path_buf(),
            agents_dir: root.join("agents"),
            crate_dir: root.join(".agentc/worker"),
            wrangler_toml: root.join("wrangler.toml"),
            generate_only: false,
            page_for_every_agent: false,
        }
    }

    /// The directory the compiled Worker (JS shim and wasm) lands in.
    pub fn output_dir(&self) -> PathBuf {
        self.crate_dir.join("build")
    }
}

/// What a successful build did.
#[derive(Debug)]
pub struct BuildReport {
    pub checked: Checked,
    pub emitted: Emitted,
    /// How long worker-build ran; `None` when it did not run.
    pub compile_time: Option<Duration>,
    /// Whether worker-build was skipped because the compiled Worker is newer than every input
    /// (see [`up_to_date`]).
    pub up_to_date: bool,
    /// The compiled module, when compiled or up to date.
    pub wasm: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The agent files (or the Rust tools they name) have errors; nothing was written.
    #[error("the agent files have errors; nothing was written")]
    Invalid(Box<Checked>),
    #[error(transparent)]
    Missing(#[from] toolchain::Missing),
    #[error("{0}")]
    Io(String),
    /// agentc will not update an existing `wrangler.toml`; nothing was written.
    #[error("{path} {error}; nothing was written")]
    Wrangler {
        path: String,
        error: codegen::WranglerError,
    },
    #[error("compiling the Worker failed ({0}); see the compiler output above")]
    Compile(String),
}

/// Runs the whole pipeline ([`pipeline::run`]), then writes and compiles. Everything that can
/// fail without writing (the agent files, the Rust tools, `wrangler.toml`, the toolchain) is
/// settled before the first file is written.
pub fn build(opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    let root = std::fs::canonicalize(&opts.root)
        .map_err(|err| BuildError::Io(format!("{}: {err}", opts.root.display())))?;
    let mut input = pipeline::Input::project(&opts.root, &opts.agents_dir).map_err(|err| {
        BuildError::Io(format!("cannot list {}: {err}", opts.agents_dir.display()))
    })?;
    input.page_for_every_agent = opts.page_for_every_agent;
    if input.files.is_empty() {
        return Err(BuildError::Io(format!(
            "no agent files (*.yaml) in {}",
            opts.agents_dir.display()
        )));
    }
    let cache = toolchain::cache_dir();
    let runtime = absolute(&cache.join(embedded::runtime_dir_name()));
    let crate_abs = absolute(&opts.crate_dir);
    let wrangler_dir = absolute(opts.wrangler_toml.parent().unwrap_or(Path::new(".")));
    let layout = Layout {
        runtime_path: runtime_path(&crate_abs, &root, &runtime),
        project_path: relative_path(&crate_abs.join("src"), &root),
        main_path: relative_path(&wrangler_dir, &crate_abs.join("build/index.js")),
        worker_name: "agentc-agents".into(),
    };
    let output = pipeline::run(&input, Some(&layout)).map_err(|d| BuildError::Io(d.message))?;
    let (Some(project), Some(generated)) = (output.checked.project.clone(), output.generated)
    else {
        return Err(BuildError::Invalid(Box::new(output.checked)));
    };
    let checked = output.checked;
    let wrangler_name = opts
        .wrangler_toml
        .file_name()
        .map_or("wrangler.toml".into(), PathBuf::from);
    let existing = match std::fs::read_to_string(wrangler_dir.join(&wrangler_name)) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            return Err(BuildError::Io(format!(
                "cannot read {}: {err}",
                opts.wrangler_toml.display()
            )))
        }
    };
    let wrangler_toml =
        codegen::merge_wrangler_toml(existing.as_deref(), &generated.wrangler_block).map_err(
            |error| BuildError::Wrangler {
                path: opts.wrangler_toml.display().to_string(),
                error,
            },
        )?;
    // A missing tool stops the build here, before anything is written.
    let tools = if opts.generate_only {
        None
    } else {
        Some(BuildTools::find(&root)?)
    };
    let runtime = embedded::runtime_crate(&cache).map_err(|err| {
        BuildError::Io(format!(
            "cannot write the runtime crate into {}: {err}",
            cache.display()
        ))
    })?;
    make_dir(&crate_abs)?;
    make_dir(&wrangler_dir)?;
    let write_error =
        |err: std::io::Error| BuildError::Io(format!("writing generated files: {err}"));
    let mut emitted = emit::emit(&crate_abs, &generated.crate_files).map_err(write_error)?;
    seed_lockfile(&crate_abs).map_err(write_error)?;
    let wrangler = codegen::File {
        path: wrangler_name,
        contents: wrangler_toml,
    };
    let more = emit::emit(&wrangler_dir, &[wrangler]).map_err(write_error)?;
    emitted.written.extend(more.written);
    emitted.unchanged += more.unchanged;
    let mut report = BuildReport {
        checked,
        emitted,
        compile_time: None,
        up_to_date: false,
        wasm: None,
    };
    let Some(tools) = tools else {
        return Ok(report);
    };
    let wasm = opts.output_dir().join("index_bg.wasm");
    let tool_dirs = project
        .names()
        .rust_modules
        .children
        .keys()
        .map(|dir| root.join(dir))
        .collect::<Vec<_>>();
    if up_to_date(&crate_abs, &runtime, &tool_dirs, &opts.output_dir()) {
        report.up_to_date = true;
        report.wasm = Some(wasm);
        return Ok(report);
    }
    let started = Instant::now();
    compile(&crate_abs, &tools)?;
    report.compile_time = Some(started.elapsed());
    report.wasm = Some(wasm);
    Ok(report)
}

/// How the generated crate refers to the runtime: relative when the cache is inside the project
/// (then the project moves as a whole), else the cache's absolute path. Never a source checkout.
fn runtime_path(crate_dir: &Path, root: &Path, runtime: &Path) -> String {
    if runtime.starts_with(root) {
        relative_path(crate_dir, runtime)
    } else {
        runtime.display().to_string()
    }
}

/// Gives a new generated crate the lockfile agentc's workspace is tested with (embedded in
/// agentc), so the Worker is built with the dependency versions the runtime is tested with (and
/// without asking the registry for the newest ones). Cargo drops what the crate does not use.
fn seed_lockfile(crate_dir: &Path) -> std::io::Result<()> {
    let lockfile = crate_dir.join("Cargo.lock");
    if lockfile.exists() {
        return Ok(());
    }
    std::fs::write(lockfile, embedded::CARGO_LOCK)
}

/// An absolute path for `path` without requiring it to exist: its longest existing ancestor
/// canonicalised (symlinks resolved, as in the paths the build compares it with), the rest
/// appended.
pub fn absolute(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut rest = Vec::new();
    let mut base = path.as_path();
    loop {
        if let Ok(found) = std::fs::canonicalize(base) {
            return rest
                .iter()
                .rev()
                .fold(found, |acc: PathBuf, part| acc.join(part));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                base = parent;
            }
            _ => return path,
        }
    }
}

/// Whether the compiled Worker in `output_dir` is newer than everything it is built from: the
/// generated crate's manifest, lockfile and sources, the runtime crate's manifest and sources,
/// and the directories of the project's Rust tools. Then worker-build would only repeat itself
/// (it takes seconds even when cargo has nothing to do), so the build skips it.
pub fn up_to_date(
    crate_dir: &Path,
    runtime: &Path,
    tool_dirs: &[PathBuf],
    output_dir: &Path,
) -> bool {
    let built = ["index.js", "index_bg.wasm"]
        .iter()
        .map(|f| modified(&output_dir.join(f)))
        .collect::<Option<Vec<_>>>()
        .and_then(|times| times.into_iter().min());
    let Some(built) = built else {
        return false;
    };
    let mut inputs = vec![
        crate_dir.join("Cargo.toml"),
        crate_dir.join("Cargo.lock"),
        crate_dir.join("src"),
        runtime.join("Cargo.toml"),
        runtime.join("src"),
    ];
    inputs.extend(tool_dirs.iter().cloned());
    inputs
        .iter()
        .all(|input| newest(input).is_some_and(|t| t < built))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file, or of a directory and everything in it.
fn newest(path: &Path) -> Option<SystemTime> {
    let mut time = modified(path)?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path).ok()? {
            time = time.max(newest(&entry.ok()?.path())?);
        }
    }
    Some(time)
}

/// Creates a directory if needed.
fn make_dir(dir: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(dir)
        .map_err(|err| BuildError::Io(format!("cannot create {}: {err}", dir.display())))
}

/// Compiles the generated crate with worker-build, pointing it at the pinned tools so it never
/// tries to download its own.
fn compile(crate_dir: &Path, tools: &BuildTools) -> Result<(), BuildError> {
    let status = Command::new(&tools.worker_build)
        .arg("--release")
        .current_dir(crate_dir)
        // The generated crate always builds into its own target directory: an inherited
        // CARGO_TARGET_DIR may be locked by the cargo that runs us (tests).
        .env("CARGO_TARGET_DIR", crate_dir.join("target"))
        .env("WASM_BINDGEN_BIN", &tools.wasm_bindgen)
        .env("WASM_OPT_BIN", &tools.wasm_opt)
        .env("ESBUILD_BIN", &tools.esbuild)
        .status()
        .map_err(|err| {
            BuildError::Io(format!(
                "cannot run {}: {err}",
                tools.worker_build.display()
            ))
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Compile(status.to_string()))
    }
}

/// `to` relative to the directory `from`, with `/` separators. Both must be absolute.
pub fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}
