//! Reading a STIX bundle (2.0 or 2.1, plain or gzip) into typed objects.
//!
//! Only the fields the catalog needs are typed; everything else in an object is ignored,
//! so newer ATT&CK releases with extra properties still load.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What went wrong reading a bundle; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StixError {
    #[error("cannot read the ATT&CK bundle {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the ATT&CK bundle {path} is not valid JSON (line {line}, column {column}: {message}); \
         re-download it or point --from at an intact enterprise-attack.json"
    )]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path} is not a STIX bundle: {what}; expected an object with \"type\": \"bundle\" and \
         an \"objects\" array, such as MITRE's enterprise-attack.json"
    )]
    NotABundle { path: PathBuf, what: String },
    #[error(
        "the ATT&CK bundle {path} holds no active techniques (attack-pattern objects); is it \
         the Enterprise ATT&CK bundle?"
    )]
    NoTechniques { path: PathBuf },
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExternalReference {
    pub source_name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KillChainPhase {
    pub kill_chain_name: String,
    pub phase_name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSourceReference {
    #[serde(default)]
    pub x_mitre_data_component_ref: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

/// One STIX object with the union of the properties the catalog reads.
#[derive(Debug, Clone, Deserialize)]
pub struct StixObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    pub spec_version: Option<String>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub x_mitre_deprecated: bool,
    #[serde(default)]
    pub external_references: Vec<ExternalReference>,
    #[serde(default)]
    pub kill_chain_phases: Vec<KillChainPhase>,
    #[serde(default)]
    pub x_mitre_platforms: Vec<String>,
    #[serde(default)]
    pub x_mitre_is_subtechnique: bool,
    #[serde(default)]
    pub x_mitre_shortname: Option<String>,
    #[serde(default)]
    pub x_mitre_version: Option<String>,
    #[serde(default)]
    pub x_mitre_attack_spec_version: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub x_mitre_aliases: Vec<String>,
    #[serde(default)]
    pub tactic_refs: Vec<String>,
    #[serde(default)]
    pub x_mitre_analytic_refs: Vec<String>,
    #[serde(default)]
    pub x_mitre_log_source_references: Vec<LogSourceReference>,
    #[serde(default)]
    pub relationship_type: Option<String>,
    #[serde(default)]
    pub source_ref: Option<String>,
    #[serde(default)]
    pub target_ref: Option<String>,
}

impl StixObject {
    /// The ATT&CK id (`T1059.001`, `TA0002`, `M1038`, `G0007`, `S0154`, `DET0103`…).
    pub fn attack_id(&self) -> Option<&str> {
        self.external_references
            .iter()
            .find(|r| r.source_name == "mitre-attack")
            .and_then(|r| r.external_id.as_deref())
    }

    pub fn attack_url(&self) -> Option<&str> {
        self.external_references
            .iter()
            .find(|r| r.source_name == "mitre-attack")
            .and_then(|r| r.url.as_deref())
    }

    pub fn is_active(&self) -> bool {
        !self.revoked && !self.x_mitre_deprecated
    }
}

#[derive(Debug, Deserialize)]
struct RawBundle {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    spec_version: Option<String>,
    objects: Option<Vec<serde_json::Value>>,
}

/// A parsed bundle: its STIX version and the objects we could type.
#[derive(Debug)]
pub struct Bundle {
    pub path: PathBuf,
    pub spec_version: String,
    pub objects: Vec<StixObject>,
    /// SHA-256 of the file as read (before gunzip), to tell bundles apart.
    pub sha256: String,
    /// Objects that were present but not shaped like STIX objects (missing `type`/`id`).
    pub skipped: usize,
}

/// Reads a bundle file, gunzipping it when it starts with the gzip magic bytes
/// (whatever its extension says).
pub fn read_bundle(path: &Path) -> Result<Bundle, StixError> {
    let io = |source| StixError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let sha256 = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&bytes))
    };
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 8);
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(io)?;
        out
    } else {
        bytes
    };
    let mut bundle = parse_bundle(path, &bytes)?;
    bundle.sha256 = sha256;
    Ok(bundle)
}

/// Parses bundle bytes; `path` is only used to name the source in errors.
pub fn parse_bundle(path: &Path, bytes: &[u8]) -> Result<Bundle, StixError> {
    let raw: RawBundle = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            StixError::NotABundle {
                path: path.to_path_buf(),
                what: e.to_string(),
            }
        } else {
            StixError::Json {
                path: path.to_path_buf(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            }
        }
    })?;
    if raw.kind.as_deref() != Some("bundle") {
        return Err(StixError::NotABundle {
            path: path.to_path_buf(),
            what: format!("its \"type\" is {:?}", raw.kind.unwrap_or_default()),
        });
    }
    let Some(values) = raw.objects else {
        return Err(StixError::NotABundle {
            path: path.to_path_buf(),
            what: "it has no \"objects\" array".into(),
        });
    };
    let mut objects = Vec::with_capacity(values.len());
    let mut skipped = 0;
    for value in values {
        match serde_json::from_value::<StixObject>(value) {
            Ok(obj) => objects.push(obj),
            Err(_) => skipped += 1,
        }
    }
    // STIX 2.0 puts spec_version on the bundle, 2.1 on every object.
    let spec_version = raw
        .spec_version
        .or_else(|| objects.iter().find_map(|o| o.spec_version.clone()))
        .unwrap_or_else(|| "unknown".into());
    Ok(Bundle {
        path: path.to_path_buf(),
        spec_version,
        objects,
        sha256: String::new(),
        skipped,
    })
}
