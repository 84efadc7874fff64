//! Writing generated files: only what changed, so unchanged agents trigger no rebuild.

use crate::codegen::File;
use std::io;
use std::path::Path;

/// What writing the files did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub written: Vec<std::path::PathBuf>,
    pub unchanged: usize,
}

/// Writes each file under `root` whose contents differ from what is on disk. A file is written
/// to a temporary sibling and renamed, so a crash never leaves a half-written file.
pub fn emit(root: &Path, files: &[File]) -> io::Result<Emitted> {
    let mut emitted = Emitted::default();
    for file in files {
        let path = root.join(&file.path);
        if std::fs::read(&path).is_ok_and(|old| old == file.contents.as_bytes()) {
            emitted.unchanged += 1;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension("agentc-tmp");
        std::fs::write(&tmp, &file.contents)?;
        std::fs::rename(&tmp, &path)?;
        emitted.written.push(file.path.clone());
    }
    Ok(emitted)
}
