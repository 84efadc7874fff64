//! The compiled Worker deploys: `wrangler deploy --dry-run` accepts the build output and the
//! `wrangler.toml` agentc wrote, with no Cloudflare account and no network.
//!
//! wrangler 4 runs the `[build] command` of `wrangler.toml` (`agentc build`) before every deploy,
//! dry runs included; there is no flag to skip it. So the test does what a user does: it builds
//! the example agents (through the library, into a project under the target directory), then runs
//! wrangler there with this test's `agentc` binary first on `PATH`. That nested `agentc build` finds
//! nothing changed and skips worker-build, which the test checks too, and wrangler bundles the
//! result. Network access is cut off with a proxy that does not exist, so a deploy that needed the
//! network would fail.

use agentc::build::{self, BuildOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compiler/ is in the repo")
        .to_path_buf()
}

/// Copies `from` into `to`, writing only files whose bytes differ, so an unchanged project keeps
/// its timestamps (and its compiled Worker stays up to date between test runs).
fn sync(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            sync(&path, &target);
        } else {
            let bytes = std::fs::read(&path).expect("read");
            if std::fs::read(&target).ok().as_deref() != Some(bytes.as_slice()) {
                std::fs::write(&target, bytes).expect("write");
            }
        }
    }
}

#[test]
fn wrangler_dry_run_deploys_the_build_output_without_an_account() {
    let root = repo_root();
    let project = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deploy-project");
    sync(&root.join("agents"), &project.join("agents"));
    sync(&root.join("tools"), &project.join("tools"));
    let _ = std::fs::remove_file(project.join("wrangler.toml"));

    let opts = BuildOptions::for_root(&project);
    let first = build::build(&opts).unwrap_or_else(|err| panic!("build failed: {err}"));
    let wasm = first.wasm.expect("compiled");
    assert!(wasm.is_file());
    let again = build::build(&opts).unwrap_or_else(|err| panic!("rebuild failed: {err}"));
    assert!(
        again.up_to_date,
        "a build with nothing changed skips worker-build"
    );
    assert!(again.emitted.written.is_empty());

    let outdir = project.join("dist");
    let _ = std::fs::remove_dir_all(&outdir);
    let agentc = Path::new(env!("CARGO_BIN_EXE_agentc"));
    let path = std::env::join_paths(
        std::iter::once(agentc.parent().expect("bin dir").to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ),
    )
    .expect("PATH");
    let no_network = "http://127.0.0.1:9";
    let wrangler = agentc::toolchain::wrangler(&project).expect("wrangler (agentc setup)");
    let output = Command::new(wrangler)
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(&outdir)
        .current_dir(&project)
        .env("PATH", path)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("XDG_CONFIG_HOME", project.join(".config"))
        .env("HTTP_PROXY", no_network)
        .env("HTTPS_PROXY", no_network)
        .env("https_proxy", no_network)
        .env("http_proxy", no_network)
        .env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("wrangler runs (scripts/setup installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all = format!("{stdout}\n{stderr}");
    assert!(output.status.success(), "wrangler failed:\n{all}");
    assert!(all.contains("Running: agentc build"), "{all}");
    assert!(all.contains("worker-build skipped"), "{all}");
    assert!(all.contains("--dry-run: exiting now."), "{all}");
    for binding in ["env.SESSIONS (Session)", "env.AI"] {
        assert!(all.contains(binding), "binding {binding} missing:\n{all}");
    }
    let bundled: Vec<String> = std::fs::read_dir(&outdir)
        .expect("outdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(bundled.iter().any(|f| f == "index.js"), "{bundled:?}");
    assert!(bundled.iter().any(|f| f.ends_with(".wasm")), "{bundled:?}");
}
