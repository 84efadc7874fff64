//! agentc as a user outside this repository gets it: `cargo install --path compiler --root <tmp>`,
//! then in a directory outside the checkout `agentc init demo`, and in `demo/` `agentc check`,
//! `agentc build`, `wrangler deploy --dry-run` (network cut off, as in `deploy.rs`) and
//! `agentc dev` streaming `POST /agents/assistant/chat`.
//!
//! The checkout's `runtime/` is out of reach: no file of the project, its build output included,
//! nor of the runtime agentc wrote into the cache, names the checkout; and every path in the
//! files agentc generates stays in the project or points into the per-user cache.
//!
//! Cost: `cargo install` shares the target directory (`CARGO_TARGET_DIR`) with the other release
//! builds, so it is incremental; the project lives under the target directory (outside the
//! checkout when `CARGO_TARGET_DIR` is, as the scripts set it) and keeps its Worker build between
//! runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("in the repo");
    std::fs::canonicalize(root).expect("repo root")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Where the test's install and project live: under the target directory when that is outside
/// the checkout (so the Worker build is kept between runs), else in the system's temp dir.
fn work_dir() -> PathBuf {
    let target = agentc::build::absolute(&target_dir());
    let base = if target.starts_with(repo_root()) {
        std::env::temp_dir()
    } else {
        target
    };
    let dir = agentc::build::absolute(&base.join("install-e2e"));
    assert!(!dir.starts_with(repo_root()));
    dir
}

fn run(what: &str, command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: {err}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every file under `dir`, except the generated crate's cargo target directory (whose
/// fingerprints name the registry and the cache) and `node_modules`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.ends_with(".agentc/worker/target") || path.ends_with("node_modules") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `path` with `.` and `..` removed lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every quoted string of a text file that looks like a path: absolute, or with `..` in it.
fn quoted_paths(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.contains("://") && !s.contains(char::is_whitespace))
        .filter(|s| s.starts_with('/') || s.split('/').any(|p| p == ".."))
        // workerd's own schema, built into workerd: an import name, not a file.
        .filter(|s| *s != "/workerd/workerd.capnp")
        .map(str::to_owned)
        .collect()
}

/// The files agentc writes into a project: what `init`, `build` and `dev` generate.
fn generated_files(demo: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = [
        "wrangler.toml",
        ".agentc/worker/Cargo.toml",
        ".agentc/worker/src/lib.rs",
        ".agentc/dev/workerd.capnp",
        ".gitignore",
        ".dev.vars.example",
        "README.md",
        ".github/workflows/agents.yml",
        "agents/assistant.yaml",
    ]
    .iter()
    .map(|f| demo.join(f))
    .collect();
    out.retain(|f| f.is_file());
    out
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// Stops `agentc dev` as Ctrl-C would (SIGTERM), so it stops workerd too.
struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads an HTTP/1.1 response with a chunked body as it streams, returning the status line and
/// the server-sent events (`(event, data)`) in the order they arrived.
fn chat(addr: SocketAddr, body: &str) -> (String, Vec<(String, String)>) {
    let mut stream = TcpStream::connect(addr).expect("connect to agentc dev");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "POST /agents/assistant/chat HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        if line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).expect("chunk");
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut body).expect("body");
    }
    let text = String::from_utf8(body).expect("UTF-8 events");
    let events = text
        .split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let mut event = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_owned();
                }
            }
            (event, data)
        })
        .collect();
    (status.trim().to_owned(), events)
}

#[test]
fn an_installed_agentc_inits_checks_builds_deploys_and_serves_outside_the_repository() {
    let repo = repo_root();
    let work = work_dir();
    let install_root = work.join("root");
    std::fs::create_dir_all(&work).expect("work dir");

    // 1. Install, as the README says.
    run(
        "cargo install --path compiler",
        Command::new(env!("CARGO"))
            .args(["install", "--quiet", "--locked", "--force", "--path"])
            .arg(repo.join("compiler"))
            .arg("--root")
            .arg(&install_root)
            .env("CARGO_TARGET_DIR", target_dir()),
    );
    let bin = install_root.join("bin");
    let agentc = bin.join("agentc");
    let version = run("agentc --version", Command::new(&agentc).arg("--version"));
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    let carried = agentc::setup::version_line();
    assert!(
        version.contains(&format!("runtime agentc-runtime {carried}")),
        "{version}"
    );
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    // Every command runs the installed agentc, outside the checkout, with no tool variables.
    let user = |args: &[&str], dir: &Path| {
        let mut command = Command::new(&agentc);
        command
            .args(args)
            .current_dir(dir)
            .env("PATH", &path)
            .env_remove("CARGO_TARGET_DIR");
        for tool in agentc::toolchain::TOOLS {
            command.env_remove(tool.env_var);
        }
        command
    };
    run("agentc setup", &mut user(&["setup"], &work));
    run("agentc doctor", &mut user(&["doctor"], &work));

    // 2. A new project. Only the generated crate's build is kept from an earlier run.
    let demo = work.join("demo");
    if demo.is_dir() {
        for entry in std::fs::read_dir(&demo).expect("demo") {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|n| n == ".agentc") {
                let _ = std::fs::remove_dir_all(path.join("dev"));
                let _ = std::fs::remove_dir_all(path.join("state"));
                continue;
            }
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("clean");
            } else {
                std::fs::remove_file(&path).expect("clean");
            }
        }
    }
    run("agentc init demo", &mut user(&["init", "demo"], &work));
    run("agentc check", &mut user(&["check"], &demo));
    run(
        "agentc check --format github",
        &mut user(&["check", "--format", "github"], &demo),
    );
    run("agentc build", &mut user(&["build"], &demo));
    let wasm = demo.join(".agentc/worker/build/index_bg.wasm");
    assert!(wasm.is_file(), "no {}", wasm.display());

    // 3. Deploy, dry run, with no account and no network.
    let outdir = work.join("dist");
    let _ = std::fs::remove_dir_all(&outdir);
    let wrangler = agentc::toolchain::wrangler(&demo).expect("wrangler (agentc setup)");
    let no_network = "http://127.0.0.1:9";
    let deploy = run(
        "wrangler deploy --dry-run",
        Command::new(wrangler)
            .args(["deploy", "--dry-run", "--outdir"])
            .arg(&outdir)
            .current_dir(&demo)
            .env("PATH", &path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("XDG_CONFIG_HOME", work.join(".config"))
            .env("HTTP_PROXY", no_network)
            .env("HTTPS_PROXY", no_network)
            .env("https_proxy", no_network)
            .env("http_proxy", no_network)
            .env_remove("CLOUDFLARE_API_TOKEN")
            .env_remove("CLOUDFLARE_ACCOUNT_ID")
            .env_remove("CARGO_TARGET_DIR"),
    );
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&deploy.stdout),
        String::from_utf8_lossy(&deploy.stderr)
    );
    assert!(all.contains("Running: agentc build"), "{all}");
    assert!(all.contains("worker-build skipped"), "{all}");
    assert!(all.contains("--dry-run: exiting now."), "{all}");

    // 4. Serve it and talk to the assistant: a scripted model that calls the weather tool, which
    // the project's offline fixture answers.
    let script = work.join("script.json");
    std::fs::write(
        &script,
        r#"{"replies": [
            {"tool_calls": [{"name": "get_weather", "arguments": {"location": "Paris"}}]},
            {"chunks": ["Partly ", "cloudy, ", "18 °C."]}
        ]}"#,
    )
    .expect("script");
    let listen = free_addr();
    let dev = user(
        &[
            "dev",
            "--no-build",
            "--listen",
            &listen.to_string(),
            "--script",
            &script.display().to_string(),
        ],
        &demo,
    )
    .stdout(Stdio::null())
    .spawn()
    .expect("agentc dev starts");
    let mut dev = Dev(dev);
    let started = Instant::now();
    while TcpStream::connect(listen).is_err() {
        if let Ok(Some(status)) = dev.0.try_wait() {
            panic!("agentc dev exited: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "agentc dev does not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, events) = chat(listen, r#"{"message":"What is the weather in Paris?"}"#);
    assert!(status.ends_with("200 OK"), "{status}");
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names[..2], ["tool_call", "tool_result"], "{events:?}");
    assert_eq!(names.last(), Some(&"done"), "{events:?}");
    // The tool's answer came from agents/fixtures/wttr.in.json, offline.
    assert!(events[1].1.contains("Partly cloudy"), "{events:?}");
    let deltas = events.iter().filter(|(e, _)| e == "delta").count();
    assert_eq!(deltas, 3, "the answer streams chunk by chunk: {events:?}");
    drop(dev);

    // 5. The project's own tests (`agents/assistant.test.yaml`, written by init), as its CI
    // would run them: on the default local model, the weather tool answered by the project's
    // fixture or a case's `tool_results`, one case on a scripted model, one on the input limit.
    let tested = run(
        "agentc test",
        &mut user(&["test", "--no-build", "--format", "json"], &demo),
    );
    let report: serde_json::Value =
        serde_json::from_slice(&tested.stdout).expect("agentc test --format json");
    eprintln!("agentc test: {report}");
    assert_eq!(report["passed"], 4, "{report}");
    assert_eq!(report["failed"], 0, "{report}");

    // 6. Nothing names the checkout, and generated paths stay in the project or the cache.
    let cache = agentc::build::absolute(&agentc::toolchain::cache_dir());
    let runtime = cache.join(agentc::embedded::runtime_dir_name());
    let checkout = repo.display().to_string();
    for file in files(&demo).iter().chain(files(&runtime).iter()) {
        let bytes = std::fs::read(file).expect("read");
        assert!(
            !contains(&bytes, checkout.as_bytes()),
            "{} names the checkout {checkout}",
            file.display()
        );
    }
    let generated = generated_files(&demo);
    assert!(generated.len() >= 8, "{generated:?}");
    for file in generated {
        let text = std::fs::read_to_string(&file).expect("text");
        for path in quoted_paths(&text) {
            let resolved = normalize(&file.parent().expect("dir").join(&path));
            assert!(
                resolved.starts_with(&demo) || resolved.starts_with(&cache),
                "{} refers to {path}, outside the project and the cache",
                file.display()
            );
        }
    }
    let manifest = std::fs::read_to_string(demo.join(".agentc/worker/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("path = \"{}\"", runtime.display())),
        "{manifest}"
    );
}
