//! Subcommands: parsing arguments, rendering diagnostics, exit codes (0 ok, 1 failure, 2 bad
//! input).

use agentc::build::{self, BuildError, BuildOptions};
use agentc::dev::{self, RuntimeConfig};
use agentc::project::{self, Checked};
use agentc::toolchain;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "agentc",
    version,
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
        /// `human` (rendered on stderr) or `json` (one JSON document on stdout, for CI and editors).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Fail (exit 2) on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the JSON Schema of agent files (`--test`: of test files).
    Schema {
        /// Print the schema of test files (`*.test.yaml`) instead.
        #[arg(long)]
        test: bool,
    },
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
        /// The GGUF model localai runs (default: the one scripts/setup-model fetches).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Let HTTP tools reach the internet instead of the fixtures in agents/fixtures/.
        #[arg(long)]
        online: bool,
        /// The localai binary (default: next to agentc, then PATH).
        #[arg(long)]
        localai: Option<PathBuf>,
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
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Check {
            paths,
            format,
            deny_warnings,
        } => check(paths, format, deny_warnings),
        Command::Schema { test } => {
            if test {
                print!("{}", agentc::testing::SCHEMA);
            } else {
                print!("{}", agentc::schema::SCHEMA);
            }
            ExitCode::SUCCESS
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
            localai,
            no_build,
        } => {
            let model = match (script, model) {
                (Some(script), _) => vec!["--script".into(), script.display().to_string()],
                (None, Some(model)) => vec!["--model".into(), model.display().to_string()],
                (None, None) => Vec::new(),
            };
            dev(&root, listen, state, model, online, localai, no_build)
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
    }
}

fn print_diagnostics(checked: &Checked) {
    eprint!("{}", checked.render());
}

fn check(paths: Vec<PathBuf>, format: Format, deny_warnings: bool) -> ExitCode {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("agents")]
    } else {
        paths
    };
    let mut files = Vec::new();
    for path in &paths {
        if path.is_dir() {
            match project::agent_files(path) {
                Ok(found) => files.extend(found),
                Err(err) => {
                    eprintln!("error: cannot list {}: {err}", path.display());
                    return ExitCode::from(1);
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    let sources = match project::read_files(&files, Path::new(".")) {
        Ok(sources) => sources,
        Err(diag) => {
            eprintln!("error: {}", diag.message);
            return ExitCode::from(1);
        }
    };
    let checked = project::check_files(sources);
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
    model_args: Vec<String>,
    online: bool,
    localai: Option<PathBuf>,
    no_build: bool,
) -> ExitCode {
    let opts = BuildOptions::for_root(root);
    if !no_build {
        if let Err(code) = run_build(&opts) {
            return code;
        }
    }
    let result = (|| -> Result<(), String> {
        let root =
            std::fs::canonicalize(root).map_err(|err| format!("{}: {err}", root.display()))?;
        let localai_bin = match localai {
            Some(bin) => bin,
            None => sibling_binary("localai").map_err(|err| err.to_string())?,
        };
        let workerd_bin = toolchain::workerd(&opts.tools_root).map_err(|err| err.to_string())?;
        let mut localai =
            dev::start_localai(&localai_bin, &model_args).map_err(|err| err.to_string())?;
        let fixtures_dir = opts.agents_dir.join("fixtures");
        let outbound = if online || !fixtures_dir.is_dir() {
            None
        } else {
            let addr = agentc::fixtures::start(&fixtures_dir)
                .map_err(|err| format!("cannot start the fixture server: {err}"))?;
            eprintln!(
                "HTTP tools are offline: answered from {} (--online to reach the internet)",
                fixtures_dir.display()
            );
            Some(addr)
        };
        // Secrets, as `wrangler dev` reads them: `.dev.vars` in the project root.
        let dev_vars = root.join(".dev.vars");
        let secrets = dev::read_dev_vars(&dev_vars)
            .map_err(|err| format!("{}: {err}", dev_vars.display()))?;
        if !secrets.is_empty() {
            eprintln!("secrets: {} from {}", secrets.len(), dev_vars.display());
        }
        let cache = agentc::devcache::start()
            .map_err(|err| format!("cannot start the local cache: {err}"))?;
        let dev_dir = root.join(".agentc/dev");
        let cfg = RuntimeConfig {
            worker_dir: std::fs::canonicalize(opts.output_dir())
                .map_err(|err| format!("no build output: {err}"))?,
            state_dir: state.unwrap_or_else(|| root.join(".agentc/state")),
            listen,
            localai: localai.addr,
            outbound,
            secrets,
            cache: Some(cache),
            log_copy: None,
        };
        let mut workerd = dev::start_workerd(&workerd_bin, &cfg, &dev_dir.join("workerd.capnp"))
            .map_err(|err| err.to_string())?;
        eprintln!(
            "serving agents on http://{listen} (model: localai at {}); Ctrl-C stops",
            localai.addr
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .map_err(|err| err.to_string())?;
        while !stop.load(Ordering::SeqCst) {
            for service in [&mut localai, &mut workerd] {
                if let Some(status) = service.exited() {
                    return Err(format!("{} exited ({status})", service.name));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("stopping");
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

/// A binary built alongside agentc (same target directory), else one on PATH.
fn sibling_binary(name: &'static str) -> Result<PathBuf, toolchain::Missing> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    toolchain::find(name, "LOCALAI_BIN", beside.as_slice())
}
