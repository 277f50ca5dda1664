//! Where the three external assets are looked for — the ATT&CK bundle, the embedding model
//! and ONNX Runtime — in order: flag, config file, environment, data dir, system. Every
//! place looked at is recorded so `doctor` can say what it found and what is missing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, env};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    AttackBundle,
    EmbeddingModel,
    OnnxRuntime,
}

impl AssetKind {
    pub fn label(self) -> &'static str {
        match self {
            AssetKind::AttackBundle => "ATT&CK bundle",
            AssetKind::EmbeddingModel => "embedding model",
            AssetKind::OnnxRuntime => "ONNX Runtime",
        }
    }

    /// How to supply the asset when it is missing.
    pub fn remedy(self) -> &'static str {
        match self {
            AssetKind::AttackBundle => {
                "pass `ingest --from FILE_OR_URL`, set SOC_COPILOT_ATTACK_BUNDLE or [paths] attack_bundle, \
                 or let ingest download it from MITRE's attack-stix-data repository ([attack] url)"
            }
            AssetKind::EmbeddingModel => {
                "set SOC_COPILOT_MODEL_DIR or [paths] model_dir to a directory holding model.onnx and the \
                 tokenizer files of all-MiniLM-L6-v2, or copy it to <data dir>/models/; without it retrieval \
                 runs on BM25 alone"
            }
            AssetKind::OnnxRuntime => {
                "set ORT_DYLIB_PATH or [paths] ort_dylib to libonnxruntime.so (from the onnxruntime Python \
                 wheel or a release archive), or copy it to <data dir>/runtime/; without it retrieval runs \
                 on BM25 alone"
            }
        }
    }
}

/// One place an asset was looked for.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// `flag`, `config file`, `env SOC_COPILOT_MODEL_DIR`, `data dir`, `system`.
    pub origin: String,
    pub location: String,
    pub found: bool,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    pub kind: AssetKind,
    pub probes: Vec<Probe>,
    /// The first usable location, if any.
    pub chosen: Option<String>,
}

impl Discovery {
    fn new(kind: AssetKind) -> Self {
        Discovery {
            kind,
            probes: Vec::new(),
            chosen: None,
        }
    }

    fn probe(
        &mut self,
        origin: &str,
        location: String,
        check: impl Fn(&str) -> Result<(), String>,
    ) {
        let outcome = check(&location);
        let found = outcome.is_ok();
        if found && self.chosen.is_none() {
            self.chosen = Some(location.clone());
        }
        self.probes.push(Probe {
            origin: origin.to_string(),
            location,
            found,
            note: outcome.err(),
        });
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.chosen.as_ref().map(PathBuf::from)
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn check_file(loc: &str) -> Result<(), String> {
    if is_url(loc) {
        return Ok(());
    }
    let p = Path::new(loc);
    if p.is_file() {
        Ok(())
    } else if p.exists() {
        Err("not a file".into())
    } else {
        Err("does not exist".into())
    }
}

fn check_model_dir(loc: &str) -> Result<(), String> {
    let p = Path::new(loc);
    if !p.is_dir() {
        return Err("no such directory".into());
    }
    for f in ["model.onnx", "tokenizer.json"] {
        if !p.join(f).is_file() {
            return Err(format!("no {f} in it"));
        }
    }
    Ok(())
}

/// The ATT&CK bundle: `--from`, config, env, `<data>/attack/`. None found → the caller
/// downloads `[attack] url`.
pub fn attack_bundle(config: &Config, flag: Option<&str>, data_dir: &Path) -> Discovery {
    let mut d = Discovery::new(AssetKind::AttackBundle);
    if let Some(f) = flag {
        d.probe("flag --from", f.to_string(), check_file);
    }
    if let Some(c) = &config.paths.attack_bundle {
        d.probe("config file", c.clone(), check_file);
    }
    if let Ok(e) = std::env::var(env::ATTACK_BUNDLE) {
        d.probe(&format!("env {}", env::ATTACK_BUNDLE), e, check_file);
    }
    for name in ["enterprise-attack.json", "enterprise-attack.json.gz"] {
        d.probe(
            "data dir",
            data_dir.join("attack").join(name).display().to_string(),
            check_file,
        );
    }
    d
}

pub fn embedding_model(config: &Config, data_dir: &Path) -> Discovery {
    let mut d = Discovery::new(AssetKind::EmbeddingModel);
    if let Some(c) = &config.paths.model_dir {
        d.probe("config file", c.display().to_string(), check_model_dir);
    }
    if let Ok(e) = std::env::var(env::MODEL_DIR) {
        d.probe(&format!("env {}", env::MODEL_DIR), e, check_model_dir);
    }
    let models = data_dir.join("models");
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&models)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    subdirs.sort();
    if subdirs.is_empty() {
        d.probe(
            "data dir",
            models.join("<model>").display().to_string(),
            check_model_dir,
        );
    }
    for s in subdirs {
        d.probe("data dir", s.display().to_string(), check_model_dir);
    }
    d
}

pub fn onnx_runtime(config: &Config, data_dir: &Path) -> Discovery {
    let mut d = Discovery::new(AssetKind::OnnxRuntime);
    if let Some(c) = &config.paths.ort_dylib {
        d.probe("config file", c.display().to_string(), check_file);
    }
    if let Ok(e) = std::env::var(env::ORT_DYLIB) {
        d.probe(&format!("env {}", env::ORT_DYLIB), e, check_file);
    }
    let runtime = data_dir.join("runtime");
    let mut libs: Vec<PathBuf> = std::fs::read_dir(&runtime)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so"))
                })
                .collect()
        })
        .unwrap_or_default();
    libs.sort();
    if libs.is_empty() {
        d.probe(
            "data dir",
            runtime.join("libonnxruntime.so").display().to_string(),
            check_file,
        );
    }
    for l in libs {
        d.probe("data dir", l.display().to_string(), check_file);
    }
    for sys in [
        "/usr/lib/libonnxruntime.so",
        "/usr/local/lib/libonnxruntime.so",
        "/usr/lib/x86_64-linux-gnu/libonnxruntime.so",
    ] {
        d.probe("system", sys.to_string(), check_file);
    }
    d
}
