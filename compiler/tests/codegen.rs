//! Golden tests of code generation: each project below becomes a Worker crate whose `Cargo.toml`,
//! `src/lib.rs` and `wrangler.toml` are committed under `tests/codegen/<case>/`. A test fails on
//! any difference; `AGENTC_BLESS=1` rewrites the goldens from the current output (review the diff
//! like source). The goldens are then compiled for `wasm32-unknown-unknown` and linted with
//! `clippy -D warnings`, all in one throwaway workspace, so every golden must build.
//!
//! Cases: every file of `tests/fixtures/good/` alone (its directory as the project root), the
//! example agents of `agents/` together (the repository root as the project root), and each
//! project of `tests/fixtures/codegen/`.

use agentc::codegen::{Generated, Layout};
use agentc::pipeline;
use agentc::project;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    name: String,
    root: PathBuf,
    agents: Vec<PathBuf>,
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn repo_root() -> PathBuf {
    crate_dir()
        .parent()
        .expect("compiler/ is in the repo")
        .to_path_buf()
}

fn cases() -> Vec<Case> {
    let fixtures = crate_dir().join("tests/fixtures");
    let good = fixtures.join("good");
    let mut cases: Vec<Case> = project::agent_files(&good)
        .expect("good fixtures")
        .into_iter()
        .map(|file| Case {
            name: file
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned(),
            root: good.clone(),
            agents: vec![file],
        })
        .collect();
    cases.push(Case {
        name: "examples".into(),
        root: repo_root(),
        agents: project::agent_files(&repo_root().join("agents")).expect("agents/"),
    });
    let mut projects: Vec<PathBuf> = std::fs::read_dir(fixtures.join("codegen"))
        .expect("codegen fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    projects.sort();
    for root in projects {
        cases.push(Case {
            name: root
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned(),
            agents: project::agent_files(&root.join("agents")).expect("fixture agents"),
            root,
        });
    }
    cases
}

/// The layout of a project's default build: the crate in `.agentc/worker/` of the project root,
/// `wrangler.toml` at the root, and the runtime as it is in this repository.
fn layout() -> Layout {
    Layout {
        runtime_path: "../../runtime".into(),
        project_path: "../../..".into(),
        main_path: ".agentc/worker/build/index.js".into(),
        worker_name: "agentc-agents".into(),
    }
}

/// Checks a case's agent files (in the given order) and its Rust tools, and generates its crate:
/// the compiler's one pipeline, as `agentc build` runs it.
fn generate(case: &Case, agents: &[PathBuf]) -> Generated {
    let input = pipeline::Input {
        files: agents.to_vec(),
        root: case.root.clone(),
        display_root: case.root.clone(),
        page_for_every_agent: false,
    };
    let output = pipeline::run(&input, Some(&layout())).expect("fixtures are readable");
    output.generated.unwrap_or_else(|| {
        panic!(
            "case {} does not check:\n{}",
            case.name,
            output.checked.render()
        )
    })
}

/// A case's generated files, relative to its golden directory.
fn golden_files(generated: &Generated) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = generated
        .crate_files
        .iter()
        .map(|f| (f.path.clone(), f.contents.clone()))
        .collect();
    files.push((
        PathBuf::from("wrangler.toml"),
        generated.fresh_wrangler_toml(),
    ));
    files
}

fn goldens_dir() -> PathBuf {
    crate_dir().join("tests/codegen")
}

#[test]
fn generated_crates_match_their_goldens() {
    let bless = std::env::var_os("AGENTC_BLESS").is_some();
    let mut mismatches = Vec::new();
    for case in cases() {
        let generated = generate(&case, &case.agents);
        for (path, contents) in golden_files(&generated) {
            let golden = goldens_dir().join(&case.name).join(&path);
            if bless {
                std::fs::create_dir_all(golden.parent().expect("parent")).expect("golden dir");
                std::fs::write(&golden, &contents).expect("golden is writable");
                continue;
            }
            let expected = std::fs::read_to_string(&golden).unwrap_or_default();
            if expected != contents {
                mismatches.push(format!("--- {}\n{contents}", golden.display()));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "generated files differ from the goldens (AGENTC_BLESS=1 rewrites them):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_golden_has_its_case() {
    let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    for entry in std::fs::read_dir(goldens_dir()).expect("goldens") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(names.contains(&name), "tests/codegen/{name} has no case");
    }
}

#[test]
fn output_does_not_depend_on_the_order_of_files() {
    for case in cases().into_iter().filter(|c| c.agents.len() > 1) {
        let mut reversed = case.agents.clone();
        reversed.reverse();
        assert_eq!(
            generate(&case, &case.agents),
            generate(&case, &reversed),
            "case {}",
            case.name
        );
    }
}

#[test]
fn generated_code_has_a_header_and_no_absolute_paths() {
    for case in cases() {
        let generated = generate(&case, &case.agents);
        let lib = &generated.crate_files[1].contents;
        let first = lib.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("//! Generated by agentc from ") && first.contains("Do not edit"),
            "case {}: {first}",
            case.name
        );
        for (path, contents) in golden_files(&generated) {
            let root = repo_root().display().to_string();
            assert!(
                !contents.contains(&root),
                "case {}: {} holds the absolute path {root}",
                case.name,
                path.display()
            );
        }
    }
}

/// The target directory tests may use (`CARGO_TARGET_TMPDIR`, under the target directory).
fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Writes every golden crate into one workspace (each at `<case>/.agentc/worker/`, next to a
/// copy of its project's Rust tools, so its `#[path]`s resolve as in a real project), then runs
/// `cargo clippy --target wasm32-unknown-unknown -- -D warnings` on all of them at once. The
/// workspace's target directory persists, so a warm run takes seconds.
#[test]
fn goldens_compile_for_wasm32_without_warnings() {
    let workspace = scratch("codegen-goldens");
    // The runtime as agentc carries it, written into the cache as builds use it.
    let runtime = agentc::embedded::runtime_crate(&agentc::toolchain::cache_dir())
        .expect("the embedded runtime is written");
    let mut members = Vec::new();
    for case in cases() {
        let project = workspace.join(&case.name);
        let _ = std::fs::remove_dir_all(&project);
        let member = project.join(".agentc/worker");
        std::fs::create_dir_all(member.join("src")).expect("member dir");
        let golden = goldens_dir().join(&case.name);
        std::fs::copy(golden.join("src/lib.rs"), member.join("src/lib.rs")).expect("lib.rs");
        let manifest = std::fs::read_to_string(golden.join("Cargo.toml")).expect("Cargo.toml");
        let mut manifest: toml::Table = manifest.parse().expect("the golden Cargo.toml is TOML");
        // One workspace for all: a name per member, the real runtime path, no own workspace or
        // profile.
        manifest["package"]["name"] = format!("golden-{}", case.name).into();
        manifest["dependencies"]["agentc-runtime"]["path"] = runtime.display().to_string().into();
        manifest.remove("workspace");
        manifest.remove("profile");
        std::fs::write(member.join("Cargo.toml"), manifest.to_string()).expect("Cargo.toml");
        if case.root.join("tools").is_dir() {
            copy_tree(&case.root.join("tools"), &project.join("tools"));
        }
        members.push(format!("\"{}/.agentc/worker\"", case.name));
    }
    std::fs::write(
        workspace.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"2\"\nmembers = [{}]\n",
            members.join(", ")
        ),
    )
    .expect("workspace manifest");
    // The versions the runtime is tested with.
    std::fs::copy(repo_root().join("Cargo.lock"), workspace.join("Cargo.lock")).expect("lock");
    let output = Command::new("cargo")
        .args([
            "clippy",
            "--quiet",
            "--workspace",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ])
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", workspace.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the golden crates do not compile cleanly for wasm32:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Rust tool code of a golden `lib.rs` alone: its tool modules and `agents` module, without
/// the Worker's entry points (which need the wasm target).
fn tool_items(lib_rs: &str) -> String {
    let mut file = syn::parse_file(lib_rs).expect("the golden is Rust");
    file.items.retain(|item| matches!(item, syn::Item::Mod(_)));
    prettyplease::unparse(&file)
}

/// Runs the generated Rust tool wrappers of the `examples` and `shop` goldens on the host, with
/// the projects' real tool functions: arguments decode into the generated types, results come
/// back as JSON, and bad arguments or a failing function are an `Err` for the model, never a
/// panic.
#[test]
fn generated_rust_tool_wrappers_decode_call_and_encode() {
    const TESTS: &[(&str, &str)] = &[
        (
            "examples",
            r#"
use super::agents::orders::lookup_order;
use serde_json::json;

fn run(args: serde_json::Value) -> Result<serde_json::Value, String> {
    futures_executor::block_on(lookup_order(args))
}

#[test]
fn arguments_decode_and_results_encode() {
    let order = run(json!({"order_id": "100234"})).unwrap();
    assert_eq!(order["status"], "shipped");
    assert!(order.get("items").is_none(), "include_items defaults to false");
    let order = run(json!({"order_id": "100587", "include_items": true})).unwrap();
    assert_eq!(order["items"][1]["name"], "filters");
}

#[test]
fn bad_arguments_and_tool_errors_are_errors_for_the_model() {
    for bad in [json!({}), json!({"order_id": 100234}), json!([]), json!(null),
                json!({"order_id": "100234", "include_items": "yes"})] {
        let err = run(bad.clone()).unwrap_err();
        assert!(err.starts_with("invalid arguments: "), "{bad}: {err}");
    }
    assert_eq!(run(json!({"order_id": "999999"})).unwrap_err(), "there is no order 999999");
}
"#,
        ),
        (
            "shop",
            r#"
use super::agents::{catalog, help_desk};
use serde_json::json;

#[test]
fn shared_functions_enums_and_error_types() {
    let block_on = futures_executor::block_on;
    let once = block_on(catalog::reorder(json!({"order_id": "7"}))).unwrap();
    let again = block_on(help_desk::reorder_again(json!({"order_id": "7"}))).unwrap();
    assert_eq!(once, again);
    let refund = block_on(help_desk::refund(json!({"order_id": "7", "reason": "late"}))).unwrap();
    assert_eq!(refund, json!({"order_id": "7", "cents": 2500}));
    let err = block_on(help_desk::refund(json!({"order_id": "7", "reason": "bored"}))).unwrap_err();
    assert!(err.contains("unknown variant `bored`"), "{err}");
    let err = block_on(help_desk::refund(json!({"order_id": "7", "reason": "other", "amount_cents": 20000})))
        .unwrap_err();
    assert_eq!(err, "20000 cents is more than a desk may refund");
    assert_eq!(block_on(help_desk::no_args(json!({}))).unwrap(), json!(true));
}

#[test]
fn defaults_renames_and_nested_types_decode() {
    let args: catalog::SearchProductsArgs = serde_json::from_value(json!({
        "query": "mugs", "orderId": "1", "type": "gift", "category": "home & garden",
        "filters": {"size": {"width": 2.5, "unit": "cm"}}, "lines": [{"sku": "a", "qty": 2}]
    })).unwrap();
    assert_eq!(args.page, 1);
    assert!(args.in_stock);
    assert_eq!(args.sort, catalog::SearchProductsSort::Relevance);
    assert_eq!(args.order_id.as_deref(), Some("1"));
    assert_eq!(args.type_.as_deref(), Some("gift"));
    assert_eq!(args.category, Some(catalog::SearchProductsCategory::HomeGarden));
    let size = args.filters.unwrap().size.unwrap();
    assert_eq!((size.width, size.unit), (2.5, Some(catalog::SearchProductsFiltersSizeUnit::Cm)));
    assert_eq!(args.lines.unwrap()[0].qty, Some(2));
}
"#,
        ),
    ];
    let workspace = scratch("codegen-host");
    // The runtime as agentc carries it, written into the cache as builds use it.
    let runtime = agentc::embedded::runtime_crate(&agentc::toolchain::cache_dir())
        .expect("the embedded runtime is written");
    let mut members = Vec::new();
    for (name, tests) in TESTS {
        let case = cases().into_iter().find(|c| c.name == *name).expect("case");
        let project = workspace.join(name);
        let _ = std::fs::remove_dir_all(&project);
        let member = project.join(".agentc/worker");
        std::fs::create_dir_all(member.join("src")).expect("member dir");
        let golden =
            std::fs::read_to_string(goldens_dir().join(name).join("src/lib.rs")).expect("golden");
        std::fs::write(
            member.join("src/lib.rs"),
            format!(
                "{}\n#[cfg(test)]\nmod tests {{{tests}}}\n",
                tool_items(&golden)
            ),
        )
        .expect("lib.rs");
        std::fs::write(
            member.join("Cargo.toml"),
            format!(
                "[package]\nname = \"host-{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
                 [dependencies]\nagentc-runtime = {{ path = \"{}\" }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n\n\
                 [dev-dependencies]\nfutures-executor = \"0.3\"\n",
                runtime.display()
            ),
        )
        .expect("Cargo.toml");
        copy_tree(&case.root.join("tools"), &project.join("tools"));
        members.push(format!("\"{name}/.agentc/worker\""));
    }
    std::fs::write(
        workspace.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"2\"\nmembers = [{}]\n",
            members.join(", ")
        ),
    )
    .expect("workspace manifest");
    std::fs::copy(repo_root().join("Cargo.lock"), workspace.join("Cargo.lock")).expect("lock");
    let output = Command::new("cargo")
        .args(["test", "--quiet", "--workspace"])
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", workspace.join("target"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the generated wrappers fail on the host:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
