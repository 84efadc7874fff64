//! Embeds into the `agentc` binary what a project needs from this repository at run time, so an
//! installed agentc works with no checkout: the runtime crate's sources (its manifest with the
//! workspace-inherited keys filled in), the workspace lockfile the runtime is tested with, the
//! npm tool pins (`package.json`, `package-lock.json`) and the model set-up (`scripts/setup-model`
//! and the requirement files it reads). Writes `$OUT_DIR/embedded.rs`: a list of
//! `(relative path, bytes)` per group and a hash of the runtime's files.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let repo = manifest_dir
        .parent()
        .expect("compiler/ is in the workspace")
        .to_path_buf();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));

    let runtime = repo.join("runtime");
    let mut runtime_files = Vec::new();
    collect(&runtime.join("src"), &runtime, &mut runtime_files);
    // Files the runtime's sources include (the chat page).
    if runtime.join("assets").is_dir() {
        collect(&runtime.join("assets"), &runtime, &mut runtime_files);
    }
    runtime_files.sort();
    let workspace_toml = read(&repo.join("Cargo.toml"));
    let manifest = resolve_workspace_keys(&read(&runtime.join("Cargo.toml")), &workspace_toml);

    let mut hasher = Sha256::new();
    let mut code = String::from("/// The runtime crate's files: (path in the crate, bytes).\n");
    code.push_str("pub static RUNTIME_FILES: &[(&str, &[u8])] = &[\n");
    hasher.update(b"Cargo.toml\0");
    hasher.update(manifest.as_bytes());
    let manifest_path = out.join("runtime-Cargo.toml");
    std::fs::write(&manifest_path, &manifest).expect("write the runtime manifest");
    let _ = writeln!(
        code,
        "    (\"Cargo.toml\", include_bytes!({:?})),",
        manifest_path
    );
    for (rel, abs) in &runtime_files {
        hasher.update(rel.as_bytes());
        hasher.update(b"\0");
        hasher.update(std::fs::read(abs).expect("read a runtime file"));
        let _ = writeln!(code, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    code.push_str("];\n");
    let hash = hasher.finalize();
    let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let _ = writeln!(
        code,
        "/// The first 12 hex digits of the SHA-256 of the runtime's files.\npub const RUNTIME_HASH: &str = {hex:?};"
    );
    let version = manifest_value(&manifest, "version").unwrap_or_else(|| "0.0.0".into());
    let _ = writeln!(
        code,
        "/// The runtime crate's version.\npub const RUNTIME_VERSION: &str = {version:?};"
    );

    println!("cargo:rustc-env=AGENTC_RUNTIME={version}-{hex}");

    let embed = |name: &str, path: &Path, code: &mut String| {
        let _ = writeln!(code, "pub static {name}: &[u8] = include_bytes!({path:?});");
        println!("cargo:rerun-if-changed={}", path.display());
    };
    embed("CARGO_LOCK", &repo.join("Cargo.lock"), &mut code);
    embed("PACKAGE_JSON", &repo.join("package.json"), &mut code);
    embed("PACKAGE_LOCK", &repo.join("package-lock.json"), &mut code);

    // The model set-up as its owner keeps it: the script and the data files beside localai's
    // manifest (requirement lists, the model catalogue), written back under the same relative
    // paths to run.
    let mut model_files = vec![(
        "scripts/setup-model".to_owned(),
        repo.join("scripts/setup-model"),
    )];
    for entry in std::fs::read_dir(repo.join("localai")).expect("read localai/") {
        let path = entry.expect("a localai/ entry").path();
        if path.extension().is_some_and(|e| e == "txt" || e == "json") && path.is_file() {
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            model_files.push((format!("localai/{name}"), path));
        }
    }
    model_files.sort();
    code.push_str("/// The model set-up: (path in the repository, bytes).\n");
    code.push_str("pub static MODEL_SETUP_FILES: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &model_files {
        let _ = writeln!(code, "    ({rel:?}, include_bytes!({abs:?})),");
        println!("cargo:rerun-if-changed={}", abs.display());
    }
    code.push_str("];\n");

    std::fs::write(out.join("embedded.rs"), code).expect("write embedded.rs");
    println!("cargo:rerun-if-changed={}", runtime.display());
    println!(
        "cargo:rerun-if-changed={}",
        repo.join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-changed={}", repo.join("localai").display());
    // Clones that share a target directory (scripts/env.sh) build the same unit, and the paths
    // above name the clone that built it last: scripts/env.sh names the clone building now.
    println!("cargo:rerun-if-env-changed=AGENTC_CHECKOUT");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Every file under `dir`, as (path relative to `base` with `/` separators, absolute path).
fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, base, out);
        } else {
            let rel = path.strip_prefix(base).expect("under base");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let abs = std::fs::canonicalize(&path).expect("canonical path");
            out.push((rel, abs));
        }
    }
}

/// The runtime's manifest with each `key.workspace = true` replaced by the workspace's value from
/// `[workspace.package]`, so the crate builds outside this workspace.
fn resolve_workspace_keys(manifest: &str, workspace: &str) -> String {
    let mut values = Vec::new();
    let mut in_package = false;
    for line in workspace.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_package = trimmed == "[workspace.package]";
        } else if in_package {
            if let Some((key, value)) = trimmed.split_once('=') {
                values.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
    }
    let mut out = String::new();
    for line in manifest.lines() {
        let replaced =
            line.split_once('=')
                .and_then(|(key, value)| {
                    let key = key.trim().strip_suffix(".workspace")?;
                    (value.trim() == "true").then_some(key)
                })
                .map(|key| {
                    let value = values.iter().find(|(k, _)| k == key).unwrap_or_else(|| {
                        panic!("`{key}.workspace` is not in [workspace.package]")
                    });
                    format!("{key} = {}", value.1)
                });
        out.push_str(replaced.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// A top-level string value of a manifest's `[package]` table.
fn manifest_value(manifest: &str, key: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    })
}
