//! `agentc test [paths] [--url URL] [--format human|json|junit] [--filter NAME]`: check the
//! agents and the test files, build the Worker and run it locally (or use `--url`), run the
//! cases, report. Exit 0 when every case passed, 1 when one failed (or the run could not
//! start), 2 when an agent or test file is bad.

use super::client::{Client, Remote};
use super::local::{Local, LocalOptions};
use super::report::{self, Times};
use super::run::{self, Options, Target};
use super::{load, TestFile};
use crate::build::{self, BuildError, BuildOptions};
use crate::devserver::{self, Model};
use crate::project::{self, Checked};
use crate::{ir, pipeline};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `agentc test`.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Test files (`*.test.yaml`) or directories holding them (default: agents/ of the root).
    pub paths: Vec<PathBuf>,
    /// The project root (holds agents/).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Run against a running Worker, e.g. a deployment (`https://agents.example.com`), instead
    /// of building and running it locally. Cases with `replies` or `tool_results` are skipped.
    #[arg(long)]
    pub url: Option<String>,
    /// `human`, `json` (one document on stdout) or `junit` (XML on stdout, for CI systems).
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Only cases whose name contains this text (ignoring case).
    #[arg(long)]
    pub filter: Option<String>,
    /// The model of cases without `replies`: `default` (Qwen2.5-Coder-1.5B), `small`
    /// (Qwen2.5-Coder-0.5B, faster) or a GGUF file, as for `agentc dev`.
    #[arg(long, value_name = "default|small|PATH")]
    pub model: Option<String>,
    /// Use the last build instead of building first.
    #[arg(long)]
    pub no_build: bool,
}

/// How `agentc test` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
    Junit,
}

/// Runs `agentc test`.
pub fn run(args: TestArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

fn run_inner(args: &TestArgs) -> Result<ExitCode, String> {
    let opts = BuildOptions::for_root(&args.root);
    let Some(agents) = check_agents(&opts)? else {
        return Ok(ExitCode::from(2));
    };
    let paths = if args.paths.is_empty() {
        vec![opts.agents_dir.clone()]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for path in &paths {
        if path.is_dir() {
            files.extend(
                load::test_files(path)
                    .map_err(|err| format!("cannot list {}: {err}", path.display()))?,
            );
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        eprintln!(
            "error: no test files (*.test.yaml) in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    let sources = project::read_files(&files, &args.root).map_err(|diag| diag.message)?;
    let (tests, checked) = load::check_files(sources, &agents);
    eprint!("{}", checked.render());
    if checked.has_errors() {
        eprintln!("error: the test files have errors; nothing was run");
        return Ok(ExitCode::from(2));
    }
    let mut target: Box<dyn Target> = match &args.url {
        Some(url) => Box::new(Remote {
            client: Client::new(url),
        }),
        None => match local_target(args, &opts, agents)? {
            Some(local) => Box::new(local),
            None => return Ok(ExitCode::from(2)),
        },
    };
    let report = run_tests(&tests, target.as_mut(), args);
    drop(target);
    let counts = report.counts();
    match args.format {
        ReportFormat::Human => println!("{}", counts.summary()),
        ReportFormat::Json => println!("{}", report::json(&report)),
        ReportFormat::Junit => print!("{}", report::junit(&report, Times::Show)),
    }
    if args.format != ReportFormat::Human {
        eprintln!("{}", counts.summary());
    }
    Ok(if counts.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The project's agents (checked by the pipeline, Rust tools included), or `None` after
/// printing why they are invalid.
fn check_agents(opts: &BuildOptions) -> Result<Option<ir::Project>, String> {
    let dir = &opts.agents_dir;
    let input = pipeline::Input::project(&opts.root, dir)
        .map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    let output = pipeline::run(&input, None).map_err(|diag| diag.message)?;
    print_invalid(&output.checked);
    Ok(output.checked.project)
}

fn print_invalid(checked: &Checked) {
    if checked.has_errors() {
        eprint!("{}", checked.render());
        eprintln!("error: the agent files have errors; nothing was run");
    }
}

/// Builds the Worker (unless `--no-build`) and readies it to run locally.
fn local_target(
    args: &TestArgs,
    opts: &BuildOptions,
    agents: ir::Project,
) -> Result<Option<Local>, String> {
    if !args.no_build {
        match build::build(opts) {
            Ok(_) => {}
            Err(BuildError::Invalid(checked)) => {
                print_invalid(&checked);
                return Ok(None);
            }
            Err(err) => return Err(err.to_string()),
        }
    }
    let root = std::fs::canonicalize(&args.root)
        .map_err(|err| format!("{}: {err}", args.root.display()))?;
    let secrets = devserver::project_secrets(&root).map_err(|err| err.to_string())?;
    let fixtures = opts.agents_dir.join("fixtures");
    let local = Local::new(LocalOptions {
        worker_dir: opts.output_dir(),
        work_dir: root.join(".agentc/test"),
        fixtures_dir: fixtures.is_dir().then_some(fixtures),
        secrets,
        agents,
        model: args.model.clone().map_or(Model::Default, Model::Choice),
        root,
    })?;
    Ok(Some(local))
}

/// Runs the cases, printing each as it ends (the report itself for `human`, progress on stderr
/// otherwise).
fn run_tests(tests: &[TestFile], target: &mut dyn Target, args: &TestArgs) -> report::Report {
    let env = |name: &str| std::env::var(name).ok();
    let options = Options {
        filter: args.filter.as_deref(),
        env: &env,
    };
    let human = args.format == ReportFormat::Human;
    let mut last_file: Option<PathBuf> = None;
    let mut on_case = |file: &TestFile, case: &report::CaseReport| {
        let text = format!(
            "  {}\n{}",
            report::case_line(case, Times::Show),
            report::case_details(case, Times::Show)
        );
        let header = (last_file.as_ref() != Some(&file.path))
            .then(|| format!("{} (agent {})\n", file.path.display(), file.agent));
        last_file = Some(file.path.clone());
        let line = format!("{}{text}", header.unwrap_or_default());
        if human {
            print!("{line}");
            let _ = std::io::stdout().flush();
        } else {
            eprint!("{line}");
        }
    };
    run::run(tests, target, &options, &mut on_case)
}
