//! The `localai` binary: start-up line, exit codes and signals.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use serde_json::{json, Value};

fn localai() -> Command {
    Command::new(env!("CARGO_BIN_EXE_localai"))
}

/// Writes a file under the test's scratch directory.
fn scratch_file(name: &str, contents: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

/// A `localai` process started with `args`, and the URL it announced.
struct Running {
    child: Child,
    url: String,
}

impl Running {
    fn start(args: &[&OsStr]) -> Self {
        let mut child = localai()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim_end()
            .strip_prefix("localai listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let port: u16 = url
            .strip_prefix("http://127.0.0.1:")
            .unwrap()
            .parse()
            .unwrap();
        assert_ne!(port, 0);
        Running { child, url }
    }

    async fn run_model(&self) -> Value {
        reqwest::Client::new()
            .post(format!("{}/run?version=3", self.url))
            .header("cf-consn-model-id", "@cf/meta/llama-3.1-8b-instruct")
            .json(&json!({"inputs": {"prompt": "hi"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Sends `signal` and asserts a clean exit.
    fn stop_with(mut self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{signal}: {status}");
    }
}

#[tokio::test]
async fn it_serves_a_script_file_and_stops_on_sigterm() {
    let script = scratch_file(
        "binary-script.json",
        &json!({"replies": [{"text": "from the file"}]}).to_string(),
    );
    let running = Running::start(&[OsStr::new("--script"), script.as_os_str()]);
    let health: Value = reqwest::Client::new()
        .get(format!("{}/_localai/health", running.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"ok": true, "mode": "scripted"}));
    assert_eq!(running.run_model().await["response"], "from the file");
    running.stop_with("-TERM");
}

#[tokio::test]
async fn scripted_starts_empty_until_a_script_is_put_and_stops_on_sigint() {
    let running = Running::start(&[OsStr::new("--scripted")]);
    assert_eq!(running.run_model().await["internalCode"], 5000);
    let script = json!({"replies": [{"chunks": ["put"]}]});
    let status = reqwest::Client::new()
        .put(format!("{}/_localai/script", running.url))
        .body(script.to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert_eq!(running.run_model().await["response"], "put");
    running.stop_with("-INT");
}

#[test]
fn script_and_scripted_conflict() {
    let output = run(localai().args(["--scripted", "--script", "x.json"]));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn it_refuses_to_start_without_an_engine() {
    let output = run(localai().args(["--listen", "127.0.0.1:0"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: no model engine selected: pass --script FILE or --scripted \
         (the real model engine is not built yet)\n"
    );
}

#[test]
fn a_bad_script_file_exits_with_code_2_and_the_position() {
    let malformed = scratch_file(
        "binary-malformed.json",
        "{\"replies\": [\n  {\"chunks\": 3}\n]}",
    );
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("binary-missing.json");
    let cases = [
        (
            malformed,
            "invalid type: integer `3`, expected a sequence at line 2",
        ),
        (missing, "No such file or directory"),
    ];
    for (path, expected) in cases {
        let output = run(localai()
            .arg("--script")
            .arg(&path)
            .args(["--listen", "127.0.0.1:0"]));
        assert_eq!(output.status.code(), Some(2), "{}", path.display());
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let prefix = format!("error: {}: ", path.display());
        assert!(stderr.starts_with(&prefix), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}
