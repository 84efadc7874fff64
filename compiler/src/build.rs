//! `agentc build`: check, generate, write what changed, compile to wasm.

use crate::codegen::{self, names, Layout};
use crate::emit::{self, Emitted};
use crate::project::{self, Checked};
use crate::rust_tool;
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
    /// Where `node_modules/` with the pinned npm tools is.
    pub tools_root: PathBuf,
    /// Generate only; do not compile.
    pub generate_only: bool,
}

impl BuildOptions {
    /// The defaults for a project root: `agents/` in, `.agentc/worker/` and `wrangler.toml` out.
    pub fn for_root(root: &Path) -> Self {
        BuildOptions {
            root: root.to_path_buf(),
            agents_dir: root.join("agents"),
            crate_dir: root.join(".agentc/worker"),
            wrangler_toml: root.join("wrangler.toml"),
            tools_root: root.to_path_buf(),
            generate_only: false,
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

/// The runtime crate this compiler was built with.
pub fn runtime_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime")
}

/// Runs the whole pipeline.
pub fn build(opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    let paths = project::agent_files(&opts.agents_dir).map_err(|err| {
        BuildError::Io(format!("cannot list {}: {err}", opts.agents_dir.display()))
    })?;
    let files = project::read_files(&paths, &opts.root).map_err(|d| BuildError::Io(d.message))?;
    let mut checked = project::check_files(files);
    crate::mcp_lock::apply(&mut checked, &opts.root);
    let Some(project) = checked.project.clone().filter(|_| !checked.has_errors()) else {
        return Err(BuildError::Invalid(Box::new(checked)));
    };
    if project.agents.is_empty() {
        return Err(BuildError::Io(format!(
            "no agent files (*.yaml) in {}",
            opts.agents_dir.display()
        )));
    }
    let rust_problems = rust_tool::check(&project, &checked.files, &opts.root);
    if !rust_problems.is_empty() {
        checked.diagnostics.extend(rust_problems);
        return Err(BuildError::Invalid(Box::new(checked)));
    }
    let runtime = std::fs::canonicalize(runtime_dir())
        .map_err(|err| BuildError::Io(format!("cannot find the runtime crate: {err}")))?;
    let root = std::fs::canonicalize(&opts.root)
        .map_err(|err| BuildError::Io(format!("{}: {err}", opts.root.display())))?;
    let crate_abs = make_dir(&opts.crate_dir)?;
    let wrangler_dir = make_dir(opts.wrangler_toml.parent().unwrap_or(Path::new(".")))?;
    let layout = Layout {
        runtime_path: relative_path(&crate_abs, &runtime),
        project_path: relative_path(&crate_abs.join("src"), &root),
        main_path: relative_path(&wrangler_dir, &crate_abs.join("build/index.js")),
        worker_name: "agentc-agents".into(),
    };
    let generated = codegen::generate(&project, &layout);
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
    let write_error =
        |err: std::io::Error| BuildError::Io(format!("writing generated files: {err}"));
    let mut emitted = emit::emit(&crate_abs, &generated.crate_files).map_err(write_error)?;
    seed_lockfile(&crate_abs, &runtime).map_err(write_error)?;
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
    if opts.generate_only {
        return Ok(report);
    }
    let wasm = opts.output_dir().join("index_bg.wasm");
    let tool_dirs = names::plan(&project)
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
    let tools_root =
        std::fs::canonicalize(&opts.tools_root).unwrap_or_else(|_| opts.tools_root.clone());
    let tools = BuildTools::find(&tools_root)?;
    let started = Instant::now();
    compile(&crate_abs, &tools)?;
    report.compile_time = Some(started.elapsed());
    report.wasm = Some(wasm);
    Ok(report)
}

/// Gives a new generated crate the lockfile of the workspace agentc was built in, so the Worker
/// is built with the dependency versions the runtime is tested with (and without asking the
/// registry for the newest ones). Cargo drops what the crate does not use.
fn seed_lockfile(crate_dir: &Path, runtime: &Path) -> std::io::Result<()> {
    let lockfile = crate_dir.join("Cargo.lock");
    let workspace_lock = runtime.join("../Cargo.lock");
    if lockfile.exists() || !workspace_lock.is_file() {
        return Ok(());
    }
    std::fs::copy(workspace_lock, lockfile).map(drop)
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

/// Creates a directory if needed and returns its absolute path.
fn make_dir(dir: &Path) -> Result<PathBuf, BuildError> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::canonicalize(dir))
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
