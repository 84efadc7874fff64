//! The report of a test run, and its renderings: for people (each case with its time, each
//! failure with what was expected and what happened, the answer and its events, then
//! `N passed, M failed`), as JSON, and as JUnit XML for CI systems.

use super::assert::Failure;
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// Every file's cases, as run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: Vec<FileReport>,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub agent: String,
    pub cases: Vec<CaseReport>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CaseOutcome {
    Passed,
    Failed,
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct CaseReport {
    pub name: String,
    pub line: usize,
    pub outcome: CaseOutcome,
    /// How many runs were made.
    pub runs: u32,
    pub passed_runs: u32,
    /// How many had to pass.
    pub required_runs: u32,
    pub pass_rate: f64,
    /// All runs together.
    pub duration: Duration,
    /// The first run that failed.
    pub failure: Option<RunFailure>,
    /// Turns over a `max_latency_ms` that only reports.
    pub slow: Vec<Slow>,
    /// Every turn's latency, in order.
    pub latencies: Vec<Duration>,
}

/// A run that failed, at its first failing turn.
#[derive(Debug, Clone)]
pub struct RunFailure {
    pub run: u32,
    /// 1-based; `None` when the run failed before its first turn.
    pub turn: Option<usize>,
    pub line: usize,
    pub user: Option<String>,
    pub failures: Vec<Failure>,
    pub answer: String,
    /// Whether the answer was an event stream (else `answer` is the body).
    pub stream: bool,
    /// The answer's events, summarized.
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Slow {
    pub run: u32,
    pub turn: usize,
    pub limit_ms: u64,
    pub took: Duration,
}

/// Counts of cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Report {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for case in self.files.iter().flat_map(|f| &f.cases) {
            match case.outcome {
                CaseOutcome::Passed => counts.passed += 1,
                CaseOutcome::Failed => counts.failed += 1,
                CaseOutcome::Skipped(_) => counts.skipped += 1,
            }
        }
        counts
    }
}

impl Counts {
    /// `3 passed, 1 failed` (`, 2 skipped` when some were).
    pub fn summary(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            line.push_str(&format!(", {} skipped", self.skipped));
        }
        line
    }
}

/// How reports show times: golden tests leave the figures out, since they vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    Show,
    Hide,
}

fn ms(duration: Duration, times: Times) -> String {
    match times {
        Times::Show => format!("{} ms", duration.as_millis()),
        Times::Hide => "… ms".into(),
    }
}

fn seconds(duration: Duration, times: Times) -> String {
    match times {
        Times::Show => format!("{:.1} s", duration.as_secs_f64()),
        Times::Hide => "… s".into(),
    }
}

/// A failed assertion in one line: `contains: expected ..., got ...`.
pub fn failure_line(failure: &Failure, times: Times) -> String {
    let actual = match failure.took {
        Some(took) => format!("took {}", ms(took, times)),
        None => format!("got {}", failure.actual),
    };
    format!("{}: expected {}, {actual}", failure.check, failure.expected)
}

/// The line of one case, as printed when it ends: `ok    name  (1.2 s)`.
pub fn case_line(case: &CaseReport, times: Times) -> String {
    let runs = if case.runs > 1 {
        format!(
            ", {}/{} runs passed, {} needed",
            case.passed_runs, case.runs, case.required_runs
        )
    } else {
        String::new()
    };
    match &case.outcome {
        CaseOutcome::Passed => format!(
            "ok    {} ({}{runs})",
            case.name,
            seconds(case.duration, times)
        ),
        CaseOutcome::Failed => format!(
            "FAIL  {} ({}{runs})",
            case.name,
            seconds(case.duration, times)
        ),
        CaseOutcome::Skipped(reason) => format!("skip  {}: {reason}", case.name),
    }
}

/// The details under a case's line: its failure and slow turns, indented.
pub fn case_details(case: &CaseReport, times: Times) -> String {
    let mut out = String::new();
    if let (CaseOutcome::Failed, Some(failure)) = (&case.outcome, &case.failure) {
        let at = match (failure.turn, &failure.user) {
            (Some(turn), Some(user)) => {
                format!("turn {turn} (line {}, {})", failure.line, quote(user))
            }
            (Some(turn), None) => format!("turn {turn} (line {})", failure.line),
            (None, _) => format!("before the first turn (line {})", failure.line),
        };
        let run = if case.runs > 1 {
            format!("run {} of {}, ", failure.run, case.runs)
        } else {
            String::new()
        };
        let _ = writeln!(out, "      {run}{at}:");
        for f in &failure.failures {
            let _ = writeln!(out, "        {}", failure_line(f, times));
        }
        if failure.turn.is_some() {
            let label = if failure.stream { "answer" } else { "body" };
            let _ = writeln!(out, "        {label}: {}", quote(&failure.answer));
            if !failure.events.is_empty() {
                let _ = writeln!(out, "        events: {}", failure.events.join(" | "));
            }
        }
    }
    for slow in &case.slow {
        let _ = writeln!(
            out,
            "      note: run {} turn {} took {}, over max_latency_ms {} (reported only)",
            slow.run,
            slow.turn,
            ms(slow.took, times),
            slow.limit_ms
        );
    }
    out
}

/// A string quoted for a report line, cut at 300 characters.
fn quote(text: &str) -> String {
    const MAX: usize = 300;
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut:?}… ({} characters)", text.chars().count())
    } else {
        format!("{text:?}")
    }
}

/// The whole report for people.
pub fn human(report: &Report, times: Times) -> String {
    let mut out = String::new();
    for file in &report.files {
        let _ = writeln!(out, "{} (agent {})", file.path.display(), file.agent);
        for case in &file.cases {
            let _ = writeln!(out, "  {}", case_line(case, times));
            out.push_str(&case_details(case, times));
        }
    }
    let _ = writeln!(out, "{}", report.counts().summary());
    out
}

/// The report as one JSON document.
pub fn json(report: &Report) -> serde_json::Value {
    let counts = report.counts();
    let files: Vec<_> = report
        .files
        .iter()
        .map(|file| {
            let cases: Vec<_> = file.cases.iter().map(case_json).collect();
            json!({
                "path": file.path.display().to_string().replace('\\', "/"),
                "agent": file.agent,
                "cases": cases,
            })
        })
        .collect();
    json!({
        "passed": counts.passed,
        "failed": counts.failed,
        "skipped": counts.skipped,
        "duration_ms": report.duration.as_millis() as u64,
        "files": files,
    })
}

fn case_json(case: &CaseReport) -> serde_json::Value {
    let (outcome, reason) = match &case.outcome {
        CaseOutcome::Passed => ("passed", None),
        CaseOutcome::Failed => ("failed", None),
        CaseOutcome::Skipped(reason) => ("skipped", Some(reason.clone())),
    };
    let failure = case
        .failure
        .as_ref()
        .filter(|_| case.outcome == CaseOutcome::Failed)
        .map(|f| {
            json!({
                "run": f.run,
                "turn": f.turn,
                "line": f.line,
                "user": f.user,
                "failures": f.failures.iter().map(|x| json!({
                    "check": x.check,
                    "expected": x.expected,
                    "actual": match x.took {
                        Some(took) => format!("took {} ms", took.as_millis()),
                        None => x.actual.clone(),
                    },
                })).collect::<Vec<_>>(),
                "answer": f.answer,
                "events": f.events,
            })
        });
    json!({
        "name": case.name,
        "line": case.line,
        "outcome": outcome,
        "skip_reason": reason,
        "runs": case.runs,
        "passed_runs": case.passed_runs,
        "required_runs": case.required_runs,
        "duration_ms": case.duration.as_millis() as u64,
        "latencies_ms": case.latencies.iter().map(|l| l.as_millis() as u64).collect::<Vec<_>>(),
        "slow": case.slow.iter().map(|s| json!({
            "run": s.run, "turn": s.turn, "limit_ms": s.limit_ms, "took_ms": s.took.as_millis() as u64,
        })).collect::<Vec<_>>(),
        "failure": failure,
    })
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

fn xml_seconds(duration: Duration, times: Times) -> String {
    match times {
        Times::Show => format!("{:.3}", duration.as_secs_f64()),
        Times::Hide => "0".into(),
    }
}

/// The report as JUnit XML: a `testsuite` per file, a `testcase` per case.
pub fn junit(report: &Report, times: Times) -> String {
    let counts = report.counts();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"agentc test\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{}\">",
        counts.passed + counts.failed + counts.skipped,
        counts.failed,
        counts.skipped,
        xml_seconds(report.duration, times)
    );
    for file in &report.files {
        let file_counts = Report {
            files: vec![file.clone()],
            duration: Duration::ZERO,
        }
        .counts();
        let total: Duration = file.cases.iter().map(|c| c.duration).sum();
        let path = file.path.display().to_string().replace('\\', "/");
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{}\">",
            xml(&path),
            file.cases.len(),
            file_counts.failed,
            file_counts.skipped,
            xml_seconds(total, times)
        );
        for case in &file.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{}\"",
                xml(&file.agent),
                xml(&case.name),
                xml(&path),
                case.line,
                xml_seconds(case.duration, times)
            );
            match &case.outcome {
                CaseOutcome::Passed => out.push_str("/>\n"),
                CaseOutcome::Skipped(reason) => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(reason)
                    );
                }
                CaseOutcome::Failed => {
                    let message = case
                        .failure
                        .as_ref()
                        .and_then(|f| f.failures.first())
                        .map(|f| failure_line(f, times))
                        .unwrap_or_else(|| "failed".into());
                    let details = case_details(case, times);
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(&message),
                        xml(&details)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
