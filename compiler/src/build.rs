//! `agentc build`: check, generate, write what changed, compile to wasm.

use crate::codegen::{self, Layout};
use crate::emit::{self, Emitted};
use crate::project::{self, Checked};
use crate::toolchain::{self, BuildTools};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
    pub compile_time: Option<Duration>,
    /// The compiled module, when compiled.
    pub wasm: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The agent files have errors; nothing was written.
    #[error("the agent files have errors; nothing was written")]
    Invalid(Box<Checked>),
    #[error(transparent)]
    Missing(#[from] toolchain::Missing),
    #[error("{0}")]
    Io(String),
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
    let checked = project::check_files(files);
    let Some(project) = checked.project.as_ref().filter(|_| !checked.has_errors()) else {
        return Err(BuildError::Invalid(Box::new(checked)));
    };
    if project.agents.is_empty() {
        return Err(BuildError::Io(format!(
            "no agent files (*.yaml) in {}",
            opts.agents_dir.display()
        )));
    }
    let runtime = std::fs::canonicalize(runtime_dir())
        .map_err(|err| BuildError::Io(format!("cannot find the runtime crate: {err}")))?;
    let unsupported = codegen::unsupported(project);
    if !unsupported.is_empty() {
        return Err(BuildError::Io(unsupported.join("\n")));
    }
    let crate_abs = make_dir(&opts.crate_dir)?;
    let wrangler_dir = make_dir(opts.wrangler_toml.parent().unwrap_or(Path::new(".")))?;
    let layout = Layout {
        runtime_path: relative_path(&crate_abs, &runtime),
        main_path: relative_path(&wrangler_dir, &crate_abs.join("build/index.js")),
        worker_name: "agentc-agents".into(),
    };
    let generated = codegen::generate(project, &layout);
    let write_error =
        |err: std::io::Error| BuildError::Io(format!("writing generated files: {err}"));
    let mut emitted = emit::emit(&crate_abs, &generated.crate_files).map_err(write_error)?;
    let wrangler = codegen::File {
        path: opts
            .wrangler_toml
            .file_name()
            .map_or("wrangler.toml".into(), PathBuf::from),
        contents: generated.wrangler_toml,
    };
    let more = emit::emit(&wrangler_dir, &[wrangler]).map_err(write_error)?;
    emitted.written.extend(more.written);
    emitted.unchanged += more.unchanged;
    if opts.generate_only {
        return Ok(BuildReport {
            checked,
            emitted,
            compile_time: None,
            wasm: None,
        });
    }
    let tools_root =
        std::fs::canonicalize(&opts.tools_root).unwrap_or_else(|_| opts.tools_root.clone());
    let tools = BuildTools::find(&tools_root)?;
    let started = Instant::now();
    compile(&crate_abs, &tools)?;
    Ok(BuildReport {
        checked,
        emitted,
        compile_time: Some(started.elapsed()),
        wasm: Some(opts.output_dir().join("index_bg.wasm")),
    })
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
