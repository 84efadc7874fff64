//! What the `agentc` binary carries from the repository it was built from (see `compiler/build.rs`):
//! the runtime crate's sources, the lockfile they are tested with, the npm tool pins and the model
//! set-up. [`runtime_crate`] writes the runtime into the per-user cache, version- and hash-stamped
//! (`runtime-<version>-<hash>/`), so generated Worker crates depend on it there and never on a
//! source checkout.

use std::io;
use std::path::{Path, PathBuf};

mod files {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

pub use files::{
    CARGO_LOCK, MODEL_SETUP_FILES, PACKAGE_JSON, PACKAGE_LOCK, RUNTIME_FILES, RUNTIME_HASH,
    RUNTIME_VERSION,
};

/// The directory name of the embedded runtime in the cache: `runtime-<version>-<hash>`.
pub fn runtime_dir_name() -> String {
    format!("runtime-{RUNTIME_VERSION}-{RUNTIME_HASH}")
}

/// Writes the embedded runtime crate into `cache` (once; later calls only check it) and returns
/// its directory. Files whose bytes differ from the embedded ones (say, edited by hand) are
/// written again; files that match keep their timestamps, so builds stay incremental. A fresh
/// directory is assembled under a temporary name and renamed into place, so a crash never leaves
/// half a runtime behind.
pub fn runtime_crate(cache: &Path) -> io::Result<PathBuf> {
    let dir = cache.join(runtime_dir_name());
    if dir.is_dir() {
        write_files(&dir, RUNTIME_FILES)?;
        return Ok(dir);
    }
    std::fs::create_dir_all(cache)?;
    let tmp = cache.join(format!(".{}.{}", runtime_dir_name(), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    write_files(&tmp, RUNTIME_FILES)?;
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another agentc got there first: its copy is the same bytes.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            write_files(&dir, RUNTIME_FILES)?;
            Ok(dir)
        }
        Err(err) => Err(err),
    }
}

/// Writes `files` under `dir`, skipping those already byte-identical.
pub fn write_files(dir: &Path, files: &[(&str, &[u8])]) -> io::Result<()> {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if std::fs::read(&path).ok().as_deref() == Some(*bytes) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_is_written_byte_identical_and_left_alone_after() {
        let cache = std::env::temp_dir().join(format!("agentc-embedded-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let dir = runtime_crate(&cache).unwrap();
        assert!(dir.ends_with(runtime_dir_name()));
        for (rel, bytes) in RUNTIME_FILES {
            assert_eq!(std::fs::read(dir.join(rel)).unwrap(), *bytes, "{rel}");
        }
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"agentc-runtime\""));
        assert!(!manifest.contains(".workspace"), "{manifest}");
        let lib = dir.join("src/lib.rs");
        let before = std::fs::metadata(&lib).unwrap().modified().unwrap();
        std::fs::write(dir.join("src/turn.rs"), "edited").unwrap();
        assert_eq!(runtime_crate(&cache).unwrap(), dir);
        assert_eq!(std::fs::metadata(&lib).unwrap().modified().unwrap(), before);
        let turn = RUNTIME_FILES
            .iter()
            .find(|(p, _)| *p == "src/turn.rs")
            .unwrap();
        assert_eq!(std::fs::read(dir.join("src/turn.rs")).unwrap(), turn.1);
        std::fs::remove_dir_all(&cache).unwrap();
    }
}
