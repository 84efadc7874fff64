//! Subcommands: parsing arguments, rendering diagnostics, exit codes (0 ok, 1 failure, 2 bad
//! input).

use agentc::build::{self, BuildError, BuildOptions};
use agentc::devserver::{DevOptions, DevServer, Model, Outbound};
use agentc::pipeline;
use agentc::project::Checked;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `agentc --version`: agentc's version and the runtime it carries.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (runtime agentc-runtime ",
    env!("AGENTC_RUNTIME"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "agentc",
    version = VERSION,
    about = "Compile declarative AI agents into Cloudflare Workers"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check agent files without writing anything (exit 0 valid, 2 invalid, 1 internal failure).
    Check {
        /// Agent files or directories (default: agents/).
        paths: Vec<PathBuf>,
        /// `human` (rendered on stderr), `json` (one JSON document on stdout, for CI and editors)
        /// or `github` (GitHub Actions annotations on stdout).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Fail (exit 2) on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the JSON Schema of agent files (`--test`: of test files), or write it to a file.
    Schema {
        /// Write the schema here instead of printing it (e.g. schema/agent.schema.json).
        #[arg(long, value_name = "PATH")]
        write: Option<PathBuf>,
        /// The schema of test files (`*.test.yaml`) instead.
        #[arg(long)]
        test: bool,
    },
    /// Create a project: agents/, wrangler.toml, .gitignore, .dev.vars.example, the schema, a CI
    /// workflow and a README (exit 2, writing nothing, when files conflict).
    Init {
        /// The project directory (created if missing).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// `basic`: the assistant agent; `full`: also an agent using every feature, commented.
        #[arg(long, value_enum, default_value_t = TemplateArg::Basic)]
        template: TemplateArg,
    },
    /// Install the pinned toolchain and the default model into the per-user cache (idempotent).
    Setup {
        /// Skip the model (agentc dev then needs --model or --script).
        #[arg(long)]
        no_model: bool,
    },
    /// Show each tool agentc uses, its version and path, and what is missing (exit 1 if any).
    Doctor,
    /// Check, generate the Worker crate, compile it to wasm and write wrangler.toml.
    Build {
        /// The project root (holds agents/).
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Generate the crate and wrangler.toml, but do not compile.
        #[arg(long)]
        generate_only: bool,
    },
    /// Build, then serve every agent locally on workerd with localai as Workers AI.
    Dev {
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Where the Worker listens.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Durable Object storage (default: .agentc/state under the root).
        #[arg(long)]
        state: Option<PathBuf>,
        /// Answer with a localai script of model replies instead of the local model.
        #[arg(long, conflicts_with = "model")]
        script: Option<PathBuf>,
        /// The model localai runs: `default` (Qwen2.5-Coder-1.5B), `small` (Qwen2.5-Coder-0.5B,
        /// faster) or a GGUF file (the models are fetched by scripts/setup-model).
        #[arg(long, value_name = "default|small|PATH")]
        model: Option<String>,
        /// Let HTTP tools reach the internet instead of the fixtures in agents/fixtures/.
        #[arg(long)]
        online: bool,
        /// Serve the last build instead of building first.
        #[arg(long)]
        no_build: bool,
    },
    /// Run the agents' test files (`agents/*.test.yaml`) on the local Worker or a deployment
    /// (exit 0 all passed, 1 a case failed, 2 a bad file).
    Test(agentc::testing::cli::TestArgs),
    /// API keys for agents with `auth`.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// The tools of the agents' MCP servers.
    Mcp {
        #[command(subcommand)]
        command: McpCommand,
    },
}

#[derive(Subcommand)]
pub enum McpCommand {
    /// Ask each MCP server for its tools and write `agents/<agent>.mcp-lock.json`, which
    /// `agentc check` and codegen then use (header secrets from the environment or .dev.vars).
    Pull {
        /// The project root (holds agents/).
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Mint a random API key and print it with the SHA-256 digest to add to the secret.
    New {
        /// The secret the agent's `auth.api_keys_secret` names.
        #[arg(long, default_value = "AGENT_API_KEYS")]
        secret: String,
    },
}

/// How `agentc check` reports.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TemplateArg {
    Basic,
    Full,
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Check {
            paths,
            format,
            deny_warnings,
        } => check(paths, format, deny_warnings),
        Command::Schema { write: None, test } => {
            print!("{}", schema_text(test));
            ExitCode::SUCCESS
        }
        Command::Schema {
            write: Some(path),
            test,
        } => match agentc::init::write_schema(&path, schema_text(test)) {
            Ok(()) => {
                eprintln!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: cannot write {}: {err}", path.display());
                ExitCode::from(1)
            }
        },
        Command::Init { dir, template } => init(&dir, template),
        Command::Setup { no_model } => {
            let opts = agentc::setup::SetupOptions {
                cache: agentc::toolchain::cache_dir(),
                model: !no_model,
            };
            match agentc::setup::setup(&opts) {
                Ok(()) => {
                    eprintln!(
                        "agentc's toolchain is ready in {} (`agentc doctor` lists it)",
                        opts.cache.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Doctor => {
            let findings = agentc::setup::doctor(Path::new("."));
            print!("{}", agentc::setup::render_doctor(&findings));
            if findings.iter().all(|f| f.found.is_ok()) {
                ExitCode::SUCCESS
            } else {
                println!("run `agentc setup` to install what is missing");
                ExitCode::from(1)
            }
        }
        Command::Test(args) => agentc::testing::cli::run(args),
        Command::Build {
            root,
            generate_only,
        } => {
            let mut opts = BuildOptions::for_root(&root);
            opts.generate_only = generate_only;
            match run_build(&opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(code) => code,
            }
        }
        Command::Dev {
            root,
            listen,
            state,
            script,
            model,
            online,
            no_build,
        } => {
            let model = match (script, model) {
                (Some(script), _) => Model::Script(script),
                (None, Some(model)) => Model::Choice(model),
                (None, None) => Model::Default,
            };
            dev(&root, listen, state, model, online, no_build)
        }
        Command::Key {
            command: KeyCommand::New { secret },
        } => match agentc::keys::new_key() {
            Ok(key) => {
                print!("{}", agentc::keys::render(&key, &secret));
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: no random source: {err}");
                ExitCode::from(1)
            }
        },
        Command::Mcp {
            command: McpCommand::Pull { root },
        } => mcp_pull(&root),
    }
}

/// `agentc mcp pull`: the lock files of the agents of `root/agents` (exit 2 when they do not
/// check, 1 when a server cannot be listed).
fn mcp_pull(root: &Path) -> ExitCode {
    let dir = root.join("agents");
    let sources = agentc::project::agent_files(&dir)
        .map_err(|err| format!("cannot list {}: {err}", dir.display()))
        .and_then(|paths| agentc::project::read_files(&paths, root).map_err(|d| d.message));
    let sources = match sources {
        Ok(sources) => sources,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(1);
        }
    };
    // Not checked against the old lock files: the allow-lists may name tools they lack.
    let checked = agentc::project::check_files(sources);
    print_diagnostics(&checked);
    let Some(project) = checked.project.as_ref().filter(|_| !checked.has_errors()) else {
        return ExitCode::from(2);
    };
    match agentc::mcp_pull::pull(project, root) {
        Ok(pulled) => {
            for (path, tools) in &pulled.written {
                eprintln!("wrote {} ({tools} tool(s))", path.display());
            }
            eprintln!(
                "ok: {} lock file(s) written, {} unchanged",
                pulled.written.len(),
                pulled.unchanged
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

/// The JSON Schema `agentc schema` prints or writes: of agent files, or of test files.
fn schema_text(test: bool) -> &'static str {
    if test {
        agentc::testing::SCHEMA
    } else {
        agentc::schema::SCHEMA
    }
}

fn print_diagnostics(checked: &Checked) {
    eprint!("{}", checked.render());
}

fn init(dir: &Path, template: TemplateArg) -> ExitCode {
    let template = match template {
        TemplateArg::Basic => agentc::init::Template::Basic,
        TemplateArg::Full => agentc::init::Template::Full,
    };
    match agentc::init::init(dir, template) {
        Ok(report) => {
            for path in &report.written {
                eprintln!("wrote {}", dir.join(path).display());
            }
            eprintln!(
                "project ready in {} ({} file(s) written, {} already there); next: `agentc dev`",
                dir.display(),
                report.written.len(),
                report.unchanged.len()
            );
            ExitCode::SUCCESS
        }
        Err(err @ agentc::init::InitError::Conflicts(_)) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

fn check(paths: Vec<PathBuf>, format: Format, deny_warnings: bool) -> ExitCode {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("agents")]
    } else {
        paths
    };
    // The files of each project root are checked together (with their Rust tools).
    let mut inputs: Vec<pipeline::Input> = Vec::new();
    for path in &paths {
        let root = pipeline::root_of(path);
        let files = if path.is_dir() {
            match agentc::project::agent_files(path) {
                Ok(found) => found,
                Err(err) => {
                    eprintln!("error: cannot list {}: {err}", path.display());
                    return ExitCode::from(1);
                }
            }
        } else {
            vec![path.clone()]
        };
        match inputs.iter_mut().find(|i| i.root == root) {
            Some(input) => input.files.extend(files),
            None => inputs.push(pipeline::Input {
                files,
                root,
                display_root: PathBuf::from("."),
                page_for_every_agent: false,
            }),
        }
    }
    let mut all = Checked::default();
    for input in &inputs {
        match pipeline::run(input, None) {
            Ok(output) => {
                all.diagnostics.extend(output.checked.diagnostics);
                all.files.extend(output.checked.files);
            }
            Err(diag) => {
                eprintln!("error: {}", diag.message);
                return ExitCode::from(1);
            }
        }
    }
    let checked = all;
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = checked.diagnostics.len() - errors;
    match format {
        Format::Human => {
            print_diagnostics(&checked);
            if errors == 0 && (warnings == 0 || !deny_warnings) {
                eprintln!("ok: {} agent file(s) checked", checked.files.len());
            }
        }
        Format::Json => {
            let report = serde_json::json!({
                "files": checked.files.len(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": checked.diagnostics.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
            });
            println!("{report}");
        }
        Format::Github => {
            for diag in &checked.diagnostics {
                println!("{}", diag.to_github());
            }
            eprintln!(
                "{} agent file(s) checked: {errors} error(s), {warnings} warning(s)",
                checked.files.len()
            );
        }
    }
    if checked.diagnostics.iter().any(|d| d.code == "E0999") {
        ExitCode::from(1)
    } else if errors > 0 || (deny_warnings && warnings > 0) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_build(opts: &BuildOptions) -> Result<(), ExitCode> {
    let started = Instant::now();
    match build::build(opts) {
        Ok(report) => {
            print_diagnostics(&report.checked);
            let agents = report
                .checked
                .project
                .as_ref()
                .map_or(0, |p| p.agents.len());
            eprintln!(
                "generated {agents} agent(s): {} file(s) written, {} unchanged",
                report.emitted.written.len(),
                report.emitted.unchanged
            );
            if let Some(wasm) = &report.wasm {
                let size = std::fs::metadata(wasm).map(|m| m.len()).unwrap_or(0);
                if report.up_to_date {
                    eprintln!(
                        "{} ({size} bytes) is up to date: newer than the generated crate, the runtime and the Rust tools; worker-build skipped",
                        wasm.display()
                    );
                } else {
                    eprintln!(
                        "built {} ({size} bytes) in {:.1?}",
                        wasm.display(),
                        started.elapsed()
                    );
                }
            }
            Ok(())
        }
        Err(BuildError::Invalid(checked)) => {
            print_diagnostics(&checked);
            eprintln!("error: the agent files have errors; nothing was written");
            Err(ExitCode::from(2))
        }
        Err(err) => {
            eprintln!("error: {err}");
            Err(ExitCode::from(1))
        }
    }
}

fn dev(
    root: &Path,
    listen: SocketAddr,
    state: Option<PathBuf>,
    model: Model,
    online: bool,
    no_build: bool,
) -> ExitCode {
    // Under `agentc dev` the chat page at `/` lists every agent.
    let opts = BuildOptions {
        page_for_every_agent: true,
        ..BuildOptions::for_root(root)
    };
    if !no_build {
        if let Err(code) = run_build(&opts) {
            return code;
        }
    }
    let result = (|| -> Result<(), String> {
        let mut opts = DevOptions::for_root(root, listen).map_err(|err| err.to_string())?;
        opts.model = model;
        if online {
            opts.outbound = Outbound::Online;
        }
        if let Some(state) = state {
            opts.state_dir = state;
        }
        if !opts.secrets.is_empty() {
            eprintln!("secrets: {} from .dev.vars", opts.secrets.len());
        }
        let runtime = tokio::runtime::Runtime::new().map_err(|err| err.to_string())?;
        let mut server = runtime
            .block_on(DevServer::start(opts))
            .map_err(|err| err.to_string())?;
        eprintln!(
            "serving agents on http://{listen} (model: localai at {}); Ctrl-C stops",
            server.localai.address()
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .map_err(|err| err.to_string())?;
        while !stop.load(Ordering::SeqCst) {
            if let Some(status) = server.workerd_exited() {
                return Err(format!("workerd exited ({status})"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("stopping");
        runtime.block_on(async move { drop(server) });
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}
