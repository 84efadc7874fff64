//! `agentc build` through the library, without compiling: what it writes and what it leaves alone.
//! Unchanged agents rewrite no file (so cargo rebuilds nothing); `wrangler.toml` keeps everything
//! outside agentc's block; and the compiled Worker counts as up to date only when it is newer
//! than every input.

use agentc::build::{self, BuildError, BuildOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compiler/ is in the repo")
        .to_path_buf()
}

/// A fresh project directory under the target directory with the example agents and tools.
fn project(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("agents")).expect("agents dir");
    std::fs::create_dir_all(dir.join("tools")).expect("tools dir");
    for file in agentc::project::agent_files(&repo_root().join("agents")).expect("agents") {
        std::fs::copy(
            &file,
            dir.join("agents").join(file.file_name().expect("name")),
        )
        .expect("copy agent");
    }
    for entry in std::fs::read_dir(repo_root().join("tools")).expect("tools") {
        let path = entry.expect("entry").path();
        std::fs::copy(
            &path,
            dir.join("tools").join(path.file_name().expect("name")),
        )
        .expect("copy tool");
    }
    dir
}

fn generate(root: &Path) -> build::BuildReport {
    let opts = BuildOptions {
        generate_only: true,
        ..BuildOptions::for_root(root)
    };
    build::build(&opts).unwrap_or_else(|err| panic!("build failed: {err:?}"))
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime")
}

#[test]
fn unchanged_agents_rewrite_no_file() {
    let root = project("build-incremental");
    let first = generate(&root);
    assert_eq!(first.emitted.written.len(), 3, "{:?}", first.emitted);
    let lib = root.join(".agentc/worker/src/lib.rs");
    let before = modified(&lib);
    let again = generate(&root);
    assert!(again.emitted.written.is_empty(), "{:?}", again.emitted);
    assert_eq!(again.emitted.unchanged, 3);
    assert_eq!(modified(&lib), before, "lib.rs was not touched");

    // A changed agent rewrites lib.rs only.
    let weather = root.join("agents/weather.yaml");
    let text = std::fs::read_to_string(&weather).expect("weather.yaml");
    std::fs::write(&weather, text.replace("max_steps: 4", "max_steps: 3")).expect("edit");
    let changed = generate(&root);
    assert_eq!(
        changed.emitted.written,
        vec![PathBuf::from("src/lib.rs")],
        "only the crate's source changes"
    );
}

fn parse(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).expect("wrangler.toml");
    text.parse()
        .unwrap_or_else(|err| panic!("wrangler.toml is not TOML: {err}\n{text}"))
}

#[test]
fn wrangler_toml_is_valid_and_keeps_what_the_user_added() {
    let root = project("build-wrangler");
    generate(&root);
    let path = root.join("wrangler.toml");
    let first = parse(&path);
    assert_eq!(first["name"].as_str(), Some("agentc-agents"));
    assert_eq!(
        first["main"].as_str(),
        Some(".agentc/worker/build/index.js")
    );
    assert_eq!(first["build"]["command"].as_str(), Some("agentc build"));
    assert_eq!(first["ai"]["binding"].as_str(), Some("AI"));
    let binding = &first["durable_objects"]["bindings"][0];
    assert_eq!(binding["name"].as_str(), Some("SESSIONS"));
    assert_eq!(binding["class_name"].as_str(), Some("Session"));
    assert_eq!(
        first["migrations"][0]["new_sqlite_classes"][0].as_str(),
        Some("Session")
    );

    // The user adds a top-level key above the block and tables below it.
    let text = std::fs::read_to_string(&path).expect("read");
    let text = text.replacen(
        "\n# >>> agentc",
        "\nworkers_dev = false\nroutes = [\"agents.example.com/*\"]\n\n# >>> agentc",
        1,
    );
    let text = format!(
        "{text}\n# Mine.\n[vars]\nGREETING = \"hello\"\n\n[[kv_namespaces]]\nbinding = \"NOTES\"\nid = \"0f2a\"\n"
    );
    std::fs::write(&path, &text).expect("edit");

    // A new agent that needs secrets changes agentc's block.
    std::fs::write(
        root.join("agents/private.yaml"),
        "name: private\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\nsystem: Hi.\nauth: { api_keys_secret: PRIVATE_KEYS }\n",
    )
    .expect("new agent");
    let report = generate(&root);
    assert!(report
        .emitted
        .written
        .contains(&PathBuf::from("wrangler.toml")));
    let after = std::fs::read_to_string(&path).expect("read");
    assert!(after.starts_with(&text[..text.find("\n# >>> agentc").expect("block")]));
    assert!(after.ends_with(&text[text.find("\n# <<< agentc").expect("end")..]));
    assert!(
        after.contains("#   PRIVATE_KEYS: private (API keys)"),
        "{after}"
    );
    let merged = parse(&path);
    assert_eq!(merged["workers_dev"].as_bool(), Some(false));
    assert_eq!(merged["routes"][0].as_str(), Some("agents.example.com/*"));
    assert_eq!(merged["vars"]["GREETING"].as_str(), Some("hello"));
    assert_eq!(
        merged["kv_namespaces"][0]["binding"].as_str(),
        Some("NOTES")
    );
    assert_eq!(merged["name"].as_str(), Some("agentc-agents"));
}

#[test]
fn a_wrangler_toml_without_the_block_is_left_alone() {
    let root = project("build-wrangler-foreign");
    let path = root.join("wrangler.toml");
    let mine = "name = \"mine\"\nmain = \"src/index.js\"\n";
    std::fs::write(&path, mine).expect("write");
    match build::build(&BuildOptions {
        generate_only: true,
        ..BuildOptions::for_root(&root)
    }) {
        Err(err @ BuildError::Wrangler { .. }) => {
            assert!(err.to_string().contains("# >>> agentc"), "{err}");
        }
        other => panic!("expected the file to be refused, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&path).expect("read"), mine);
    assert!(!root.join(".agentc/worker/src/lib.rs").exists());
}

fn touch(path: &Path, time: SystemTime) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("dir");
    }
    if !path.exists() {
        std::fs::write(path, "").expect("write");
    }
    // A directory opens read-only; setting its times needs only ownership.
    let file = if path.is_dir() {
        std::fs::File::open(path)
    } else {
        std::fs::File::options().write(true).open(path)
    };
    file.and_then(|f| f.set_modified(time)).expect("set mtime");
}

#[test]
fn the_worker_is_up_to_date_only_when_newer_than_every_input() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-up-to-date");
    let _ = std::fs::remove_dir_all(&dir);
    let (crate_dir, runtime, tools, out) = (
        dir.join("worker"),
        dir.join("runtime"),
        dir.join("tools"),
        dir.join("worker/build"),
    );
    let old = SystemTime::now() - Duration::from_secs(3600);
    let new = SystemTime::now() - Duration::from_secs(60);
    let inputs = [
        crate_dir.join("Cargo.toml"),
        crate_dir.join("Cargo.lock"),
        crate_dir.join("src/lib.rs"),
        runtime.join("Cargo.toml"),
        runtime.join("src/platform/http.rs"),
        tools.join("orders.rs"),
    ];
    for input in &inputs {
        touch(input, old);
    }
    for dir in [
        crate_dir.join("src"),
        runtime.join("src/platform"),
        runtime.join("src"),
        tools.clone(),
    ] {
        touch(&dir, old);
    }
    let fresh = || build::up_to_date(&crate_dir, &runtime, std::slice::from_ref(&tools), &out);
    assert!(!fresh(), "nothing built yet");
    touch(&out.join("index.js"), new);
    touch(&out.join("index_bg.wasm"), new);
    assert!(fresh());
    for input in &inputs {
        touch(input, SystemTime::now());
        assert!(!fresh(), "{} is newer than the Worker", input.display());
        touch(input, old);
    }
    assert!(fresh());
}
