//! The runner: every selected case of every file, `repeat` times, each run on fresh sessions,
//! through a [`Target`] that sends the requests. A run stops at its first failing turn (later
//! turns build on it); a case passes when at least `pass_rate` of its runs passed.

use super::assert::{self, Failure};
use super::outcome::{summarize, Outcome, Request};
use super::report::{CaseOutcome, CaseReport, FileReport, Report, RunFailure, Slow};
use super::{Body, Case, TestFile, Turn};
use std::time::{Duration, Instant};

/// Where a run's requests go: the local Worker or a deployment.
pub trait Target {
    /// Why this target cannot run a case, if it cannot.
    fn skip_reason(&self, case: &Case) -> Option<String>;
    /// Readies the target for run `run` (from 1) of `case` of agent `agent`: its model and tool
    /// results. Scripted replies are set at the first run and consumed across all runs.
    fn prepare(&mut self, agent: &str, case: &Case, run: u32) -> Result<(), String>;
    /// Sends one request and reads the whole answer.
    fn send(&mut self, request: &Request) -> Result<Outcome, String>;
}

/// What to run, and the outside world the runner reads.
pub struct Options<'a> {
    /// Only cases whose name contains this (ignoring case).
    pub filter: Option<&'a str>,
    /// Environment variables, for `${NAME}` in header values.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Runs the files' cases; `on_case` hears of each case as it ends.
pub fn run(
    files: &[TestFile],
    target: &mut dyn Target,
    options: &Options<'_>,
    on_case: &mut dyn FnMut(&TestFile, &CaseReport),
) -> Report {
    let started = Instant::now();
    let mut report = Report::default();
    for file in files {
        let mut file_report = FileReport {
            path: file.path.clone(),
            agent: file.agent.clone(),
            cases: Vec::new(),
        };
        for case in &file.cases {
            if let Some(filter) = options.filter {
                if !case.name.to_lowercase().contains(&filter.to_lowercase()) {
                    continue;
                }
            }
            let case_report = run_case(file, case, target, options);
            on_case(file, &case_report);
            file_report.cases.push(case_report);
        }
        if !file_report.cases.is_empty() {
            report.files.push(file_report);
        }
    }
    report.duration = started.elapsed();
    report
}

/// The least number of passing runs out of `runs` that meets `pass_rate`.
pub fn required_runs(runs: u32, pass_rate: f64) -> u32 {
    ((pass_rate * f64::from(runs)) - 1e-9).ceil().max(0.0) as u32
}

fn run_case(
    file: &TestFile,
    case: &Case,
    target: &mut dyn Target,
    options: &Options<'_>,
) -> CaseReport {
    let mut report = CaseReport {
        name: case.name.clone(),
        line: case.line,
        outcome: CaseOutcome::Passed,
        runs: case.repeat,
        passed_runs: 0,
        required_runs: required_runs(case.repeat, case.pass_rate),
        pass_rate: case.pass_rate,
        duration: Duration::ZERO,
        failure: None,
        slow: Vec::new(),
        latencies: Vec::new(),
    };
    if let Some(reason) = target.skip_reason(case) {
        report.outcome = CaseOutcome::Skipped(reason);
        report.runs = 0;
        return report;
    }
    let started = Instant::now();
    for run in 1..=case.repeat {
        match run_once(file, case, run, target, options, &mut report) {
            Ok(()) => report.passed_runs += 1,
            Err(failure) => {
                if report.failure.is_none() {
                    report.failure = Some(*failure);
                }
            }
        }
    }
    report.duration = started.elapsed();
    if report.passed_runs < report.required_runs {
        report.outcome = CaseOutcome::Failed;
    }
    report
}

fn run_once(
    file: &TestFile,
    case: &Case,
    run: u32,
    target: &mut dyn Target,
    options: &Options<'_>,
    report: &mut CaseReport,
) -> Result<(), Box<RunFailure>> {
    let failure =
        |turn: Option<(usize, &Turn)>, failures: Vec<Failure>, outcome: Option<&Outcome>| {
            run_failure(case, run, turn, failures, outcome)
        };
    target
        .prepare(&file.agent, case, run)
        .map_err(|err| failure(None, vec![setup_failure(err)], None))?;
    let mut session: Option<String> = None;
    for (index, turn) in case.turns.iter().enumerate() {
        if turn.new_session {
            session = None;
        }
        let here = Some((index, turn));
        let request = build_request(&file.agent, turn, session.as_deref(), options.env)
            .map_err(|err| failure(here, vec![setup_failure(err)], None))?;
        let sent = |request: &Request, target: &mut dyn Target| {
            target.send(request).map_err(|err| {
                let sent = Failure {
                    check: "request".into(),
                    expected: "an answer".into(),
                    actual: err,
                    took: None,
                };
                failure(here, vec![sent], None)
            })
        };
        let outcome = sent(&request, &mut *target)?;
        report.latencies.push(outcome.latency);
        // Sessions are the Worker's to name (issue 11): a case's first message sends no id, and
        // the next ones send the id it answered with (`x-agentc-session`, the `done` event).
        if let Some(id) = outcome.session_id() {
            session = Some(id);
        }
        let verdict = assert::evaluate(&turn.expect, &outcome);
        if let Some((limit_ms, took)) = verdict.slow {
            report.slow.push(Slow {
                run,
                turn: index + 1,
                limit_ms,
                took,
            });
        }
        if !verdict.failures.is_empty() {
            return Err(failure(
                Some((index, turn)),
                verdict.failures,
                Some(&outcome),
            ));
        }
    }
    Ok(())
}

fn run_failure(
    case: &Case,
    run: u32,
    turn: Option<(usize, &Turn)>,
    failures: Vec<Failure>,
    outcome: Option<&Outcome>,
) -> Box<RunFailure> {
    Box::new(RunFailure {
        run,
        turn: turn.map(|(i, _)| i + 1),
        line: turn.map_or(case.line, |(_, t)| t.line),
        user: turn.and_then(|(_, t)| t.user.clone()),
        failures,
        answer: outcome.map(Outcome::answer).unwrap_or_default(),
        stream: outcome.is_some_and(Outcome::is_stream),
        events: outcome.map(|o| summarize(&o.events)).unwrap_or_default(),
    })
}

fn setup_failure(err: String) -> Failure {
    Failure {
        check: "setup".into(),
        expected: "the case to start".into(),
        actual: err,
        took: None,
    }
}

/// The request of a turn, on its session (`None`: the turn starts one).
pub fn build_request(
    agent: &str,
    turn: &Turn,
    session: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Request, String> {
    let spec = &turn.request;
    let body = match (&spec.body, &turn.user) {
        (Some(Body::Text(text)), _) => Some(text.clone().into_bytes()),
        (Some(Body::Json(json)), _) => Some(json.to_string().into_bytes()),
        (None, Some(user)) if spec.method != "GET" && spec.method != "HEAD" => {
            let mut chat = serde_json::json!({ "message": user });
            if let Some(id) = session {
                chat["session_id"] = id.into();
            }
            Some(chat.to_string().into_bytes())
        }
        (None, _) => None,
    };
    let path = if spec.path.contains("{session}") {
        let id = session.ok_or(
            "the path uses {session}, but the case has no session yet (a turn with a `user` message starts one)",
        )?;
        spec.path.replace("{session}", id)
    } else {
        spec.path.clone()
    };
    let mut headers = Vec::new();
    if body.is_some() && !spec.headers.iter().any(|(n, _)| n == "content-type") {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    for (name, value) in &spec.headers {
        if let Some(value) = value {
            headers.push((name.clone(), expand(value, env)?));
        }
    }
    Ok(Request {
        method: spec.method.clone(),
        path: path.replace("{agent}", agent),
        headers,
        body,
    })
}

/// Replaces `${NAME}` by the environment variable NAME; an unset one is an error.
pub fn expand(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        let found = env(name).ok_or_else(|| {
            format!("the environment variable {name} is not set (a header value uses ${{{name}}})")
        })?;
        out.push_str(&found);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_rates_round_up_to_whole_runs() {
        assert_eq!(required_runs(1, 1.0), 1);
        assert_eq!(required_runs(5, 0.8), 4);
        assert_eq!(required_runs(5, 0.7), 4);
        assert_eq!(required_runs(3, 0.0), 0);
        assert_eq!(required_runs(10, 0.3), 3);
    }

    #[test]
    fn header_values_read_the_environment() {
        let env = |name: &str| (name == "KEY").then(|| "k1".to_owned());
        assert_eq!(expand("Bearer ${KEY}", &env).unwrap(), "Bearer k1");
        assert_eq!(expand("plain $KEY {x}", &env).unwrap(), "plain $KEY {x}");
        assert!(expand("${MISSING}", &env)
            .unwrap_err()
            .contains("MISSING is not set"));
    }
}
