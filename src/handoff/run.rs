//! One export, whatever the front end: the case is rendered to a file, or pseudonymised,
//! leak-checked and pushed to the configured case system; either way it is recorded with
//! the triage, with the id the remote system returned.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Case, HandoffError, Target};
use crate::config::{HandoffConfig, HandoffTarget};
use crate::privacy::{Kind, Leak, Privacy};
use crate::store::exports::ExportRecord;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{0} is not configured: set [handoff.{1}] base_url and key (or SOC_COPILOT_HANDOFF_{2}_URL / _KEY), or export to a file with --out"
    )]
    NotConfigured(&'static str, &'static str, String),
    #[error(
        "DFIR-IRIS alerts carry the instance's own severity, status and type ids, so they can only be pushed: configure [handoff.iris], or export misp, stix or markdown to a file"
    )]
    IrisFile,
    #[error("{0} is a file format: give --out FILE (or - for standard output)")]
    NeedsFile(&'static str),
    #[error(transparent)]
    Leak(#[from] Leak),
    #[error(transparent)]
    Remote(#[from] HandoffError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot render the case: {0}")]
    Render(#[from] serde_json::Error),
}

/// The case as a document of `target`'s format (TheHive's alert body, MISP event JSON,
/// a STIX bundle, Markdown).
pub fn render(target: Target, case: &Case) -> Result<String, ExportError> {
    Ok(match target {
        Target::TheHive => serde_json::to_string_pretty(&super::thehive::render(case))?,
        Target::Iris => return Err(ExportError::IrisFile),
        Target::Misp => serde_json::to_string_pretty(&super::misp::render(case))?,
        Target::Stix => serde_json::to_string_pretty(&super::stix::render(case))?,
        Target::Markdown => super::markdown::render(case),
    })
}

/// Writes the rendered case to `path` (created or replaced whole).
pub fn to_file(target: Target, case: &Case, path: &Path) -> Result<ExportRecord, ExportError> {
    let text = render(target, case)?;
    let write_err = |source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    // Written beside and renamed: a reader never sees half a file.
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text).map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)?;
    Ok(record(target, case, None, path.display().to_string()))
}

fn record(
    target: Target,
    case: &Case,
    remote_id: Option<String>,
    destination: String,
) -> ExportRecord {
    ExportRecord {
        target: target.name().into(),
        object_kind: case.kind.clone(),
        reference: case.reference.clone(),
        triage_id: case.triage_id.clone(),
        remote_id,
        destination,
        analyst: String::new(),
        at: String::new(),
    }
}

/// The case as it may leave: every configured entity replaced by its token, then checked
/// that none escaped (an error names the kinds, never the values).
pub fn pseudonymised(
    case: &Case,
    privacy: &Privacy,
    destination: &str,
) -> Result<Case, ExportError> {
    for a in &case.alerts {
        privacy.learn_entity(Kind::Host, a.host.as_deref());
        privacy.learn_entity(Kind::User, a.user.as_deref());
    }
    for h in &case.hosts {
        privacy.learn_entity(Kind::Host, Some(h));
    }
    for u in &case.users {
        privacy.learn_entity(Kind::User, Some(u));
    }
    let text = serde_json::to_string(case)?;
    privacy.learn_text(&text);
    if let Err(e) = privacy.persist() {
        tracing::warn!("the pseudonym map could not be stored: {e}");
    }
    let out = crate::privacy::map_json_strings(&text, |s| privacy.apply(s));
    let kinds = privacy.leaks([out.as_str()]);
    if !kinds.is_empty() {
        return Err(Leak {
            destination: destination.into(),
            kinds,
        }
        .into());
    }
    Ok(serde_json::from_str(&out)?)
}

fn endpoint(c: &HandoffConfig, target: Target) -> Result<&HandoffTarget, ExportError> {
    let (t, name) = match target {
        Target::TheHive => (&c.thehive, "thehive"),
        Target::Iris => (&c.iris, "iris"),
        other => return Err(ExportError::NeedsFile(other.label())),
    };
    let key_set = t.key.as_ref().is_some_and(|k| !k.0.trim().is_empty());
    if !t.configured() || !key_set {
        return Err(ExportError::NotConfigured(
            target.label(),
            name,
            name.to_ascii_uppercase(),
        ));
    }
    Ok(t)
}

/// Pushes the case to the configured instance of `target` (pseudonymised first when
/// `privacy` is on) and returns what to record.
pub async fn push(
    c: &HandoffConfig,
    target: Target,
    case: &Case,
    privacy: Option<&Privacy>,
) -> Result<(ExportRecord, bool), ExportError> {
    let t = endpoint(c, target)?;
    let key = t.key.as_ref().map(|k| k.0.as_str()).unwrap_or_default();
    let outbound = match privacy {
        Some(p) => pseudonymised(case, p, target.label())?,
        None => case.clone(),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(c.timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| HandoffError::Transport {
            target: target.label(),
            what: "building the HTTP client".into(),
            reason: e.to_string(),
        })?;
    let pushed = match target {
        Target::TheHive => super::thehive::push(&client, &t.base_url, key, &outbound).await?,
        _ => super::iris::push(&client, &t.base_url, key, t.customer_id, &outbound).await?,
    };
    Ok((
        record(target, case, Some(pushed.remote_id), t.base_url.clone()),
        pushed.created,
    ))
}
