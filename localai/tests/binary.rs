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
fn model_options_conflict_with_scripts() {
    for args in [["--scripted", "--model"], ["--script", "--queue"]] {
        let output = run(localai().args([args[0], "x", args[1], "3"]));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn a_missing_default_model_names_the_setup_script() {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-agentc-cache");
    let output = run(localai()
        .args(["--listen", "127.0.0.1:0"])
        .env("AGENTC_CACHE", &cache));
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let model = cache
        .join("models")
        .join("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: model file {} not found: run scripts/setup-model default to fetch the \
             default model (Qwen2.5-Coder-1.5B-Instruct)\n",
            model.display()
        )
    );
    // The small model, by name.
    let output = run(localai()
        .args(["--listen", "127.0.0.1:0", "--model", "small"])
        .env("AGENTC_CACHE", &cache));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.ends_with(
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf not found: run scripts/setup-model small \
             to fetch the small model (Qwen2.5-Coder-0.5B-Instruct)\n"
        ),
        "{stderr}"
    );
}

#[test]
fn only_loopback_addresses_are_listened_on() {
    for address in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8788", "example.com:80"] {
        let output = run(localai().args(["--scripted", "--listen", address]));
        assert_eq!(output.status.code(), Some(2), "{address}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr,
            format!(
                "error: cannot listen on {address}: localai listens only on the loopback \
                 interface (127.0.0.1, [::1] or localhost with a port), because it has no \
                 authentication\n"
            )
        );
    }
}

#[test]
fn a_corrupt_model_file_is_refused_with_what_to_run() {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("corrupt-agentc-cache");
    std::fs::create_dir_all(cache.join("models")).unwrap();
    let default = cache
        .join("models")
        .join("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf");
    let cut_short = b"GGUF\x03\x00\x00\x00 cut short";
    for (contents, reason) in [
        (
            &b"<html>not a model</html>"[..],
            "it does not start like a GGUF file".to_string(),
        ),
        (
            &cut_short[..],
            format!("{} bytes instead of 1117320768", cut_short.len()),
        ),
    ] {
        std::fs::write(&default, contents).unwrap();
        let output = run(localai().env("AGENTC_CACHE", &cache));
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr,
            format!(
                "error: model file {} is corrupt or incomplete ({reason}): \
                 run scripts/setup-model default to fetch the default model \
                 (Qwen2.5-Coder-1.5B-Instruct)\n",
                default.display()
            )
        );
    }
    // Any other file: the same checks, and a hint about --model.
    let other = scratch_file("other.gguf", "GGUF but nothing else");
    let output = run(localai().arg("--model").arg(&other));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot load model file {}: ",
            other.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/setup-model"), "{stderr}");
    let missing = run(localai().args(["--model", "/nonexistent/model.gguf"]));
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr)
        .starts_with("error: model file /nonexistent/model.gguf not found: pass --model"),);
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
