//! The local models: the catalogue in `localai/models.json` (the one list of names, files,
//! sizes, hashes and the PyPI wheels they ship in, which `scripts/setup-model` reads too), where
//! they live in the per-user cache, and how a `--model` choice (`default`, `small` or a path)
//! resolves to a file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

/// The catalogue's JSON, compiled in.
pub const CATALOGUE_JSON: &str = include_str!("../models.json");

/// The command that fetches the catalogue's models.
pub const SETUP_COMMAND: &str = "scripts/setup-model";

/// All local models.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalogue {
    /// The name of the model `agentc dev` and `agentc test` run when none is chosen.
    pub default: String,
    pub models: Vec<Model>,
}

/// One model of the catalogue.
#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    /// What `--model` calls it: `default`, `small`.
    pub name: String,
    /// The upstream model, e.g. `Qwen2.5-Coder-1.5B-Instruct`.
    pub title: String,
    pub quantization: String,
    pub licence: String,
    /// The file name in `<cache>/models/`.
    pub file: String,
    /// The size of the joined file in bytes.
    pub size: u64,
    /// The sha256 of the joined file, hex.
    pub sha256: String,
    /// The wheels holding its parts, in joining order.
    pub wheels: Vec<Wheel>,
    /// What localai tells this model when tools are on offer, when it needs other words than
    /// the default guidance (`engine::llama::template::TOOL_GUIDANCE`).
    #[serde(default)]
    pub tool_guidance: Option<String>,
}

/// A PyPI wheel holding one part of a model file.
#[derive(Debug, Clone, Deserialize)]
pub struct Wheel {
    /// `name==version`.
    pub requirement: String,
    /// The wheel's sha256, hex, for `pip download --require-hashes`.
    pub sha256: String,
}

/// The catalogue, parsed once.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        serde_json::from_str(CATALOGUE_JSON).expect("localai/models.json is checked by its tests")
    })
}

/// The model called `name`.
pub fn named(name: &str) -> Option<&'static Model> {
    catalogue().models.iter().find(|model| model.name == name)
}

/// The default model.
pub fn default_model() -> &'static Model {
    named(&catalogue().default).expect("the default model is in the catalogue")
}

/// The catalogue model stored under this file name, if any.
pub fn by_file(path: &Path) -> Option<&'static Model> {
    let file = path.file_name()?.to_str()?;
    catalogue().models.iter().find(|model| model.file == file)
}

/// The per-user cache of agentc: `$AGENTC_CACHE`, else `$XDG_CACHE_HOME/agentc`, else
/// `$HOME/.cache/agentc`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("AGENTC_CACHE") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("agentc"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache").join("agentc"))
}

impl Model {
    /// Where `scripts/setup-model` puts this model.
    pub fn path(&self) -> Option<PathBuf> {
        cache_dir().map(|dir| dir.join("models").join(&self.file))
    }

    /// The command that fetches this model.
    pub fn setup_command(&self) -> String {
        format!("{SETUP_COMMAND} {}", self.name)
    }
}

/// A `--model` value that names no model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChoiceError {
    #[error(
        "no cache directory for the local models: set AGENTC_CACHE or HOME, or pass --model PATH"
    )]
    NoCacheDir,
    #[error("--model is empty: give {}, or the path of a GGUF file", names())]
    Empty,
}

fn names() -> String {
    let names: Vec<String> = catalogue()
        .models
        .iter()
        .map(|m| format!("`{}`", m.name))
        .collect();
    names.join(" or ")
}

/// Resolves a `--model` choice to a model file: a catalogue name (`default`, `small`) is that
/// model in the cache; anything else is a path (write `./small` for a file called `small`).
/// `None` is the default model.
pub fn resolve(choice: Option<&str>) -> Result<PathBuf, ChoiceError> {
    let model = match choice {
        None => default_model(),
        Some("") => return Err(ChoiceError::Empty),
        Some(choice) => match named(choice) {
            Some(model) => model,
            None => return Ok(PathBuf::from(choice)),
        },
    };
    model.path().ok_or(ChoiceError::NoCacheDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_consistent() {
        let catalogue = catalogue();
        assert_eq!(default_model().name, catalogue.default);
        assert_eq!(default_model().title, "Qwen2.5-Coder-1.5B-Instruct");
        assert_eq!(named("small").unwrap().title, "Qwen2.5-Coder-0.5B-Instruct");
        for model in &catalogue.models {
            assert_eq!(model.sha256.len(), 64, "{}", model.name);
            assert!(model.file.ends_with(".gguf"), "{}", model.name);
            assert!(!model.wheels.is_empty(), "{}", model.name);
            for wheel in &model.wheels {
                assert!(wheel.requirement.contains("=="), "{}", wheel.requirement);
                assert_eq!(wheel.sha256.len(), 64, "{}", wheel.requirement);
            }
        }
        assert_eq!(default_model().wheels.len(), 22);
        assert_eq!(named("small").unwrap().wheels.len(), 6);
    }

    #[test]
    fn choices_resolve_to_files() {
        let default = resolve(None).unwrap();
        assert_eq!(resolve(Some("default")).unwrap(), default);
        assert!(default.ends_with("models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"));
        let small = resolve(Some("small")).unwrap();
        assert!(small.ends_with("models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
        assert_eq!(by_file(&small).unwrap().name, "small");
        assert_eq!(resolve(Some("./small")).unwrap(), PathBuf::from("./small"));
        assert_eq!(
            resolve(Some("/m/x.gguf")).unwrap(),
            PathBuf::from("/m/x.gguf")
        );
        assert!(by_file(Path::new("/m/x.gguf")).is_none());
        assert_eq!(resolve(Some("")), Err(ChoiceError::Empty));
    }
}
