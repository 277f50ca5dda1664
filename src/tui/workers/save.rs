//! Store writes the analyst asks for — feedback, notes, closing runs — plus statistics and
//! Markdown exports. Each runs on the blocking pool and reports `Saved` or `SaveFailed`.

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::alert::load::LoadedAlert;
use crate::store::Store;
use crate::store::feedback::NewFeedback;

use super::super::action::{Action, ItemId};
use super::Shared;

pub(super) fn close_runs(s: &Shared, key: &str, why: &str) {
    if let Err(e) = s
        .store()
        .and_then(|mut st| st.cancel_running(key, why).map_err(|e| e.to_string()))
    {
        tracing::warn!(alert = key, "could not close its open runs: {e}");
    }
}

pub(super) fn alert_row(st: &mut Store, alert: &LoadedAlert) -> Result<i64, String> {
    match st
        .alert_by_key(&alert.alert.id)
        .map_err(|e| e.to_string())?
    {
        Some(a) => Ok(a.row),
        None => st
            .upsert_alert(&alert.alert, &alert.raw, None)
            .map_err(|e| e.to_string()),
    }
}

fn report(tx: &mpsc::Sender<Action>, item: ItemId, what: String, r: Result<(), String>) {
    let _ = tx.blocking_send(match r {
        Ok(()) => Action::Saved { item, what },
        Err(error) => Action::SaveFailed { item, what, error },
    });
}

pub(super) fn feedback(
    s: &Shared,
    tx: &mpsc::Sender<Action>,
    item: ItemId,
    f: &NewFeedback,
    what: String,
    claim: Option<&LoadedAlert>,
) {
    // Team mode: judging an alert claims it; another analyst's alert is not judged here.
    if let Some(alert) = claim {
        match super::team::claim_now(s, alert, false) {
            Ok(super::super::action::ClaimNews::HeldBy(c)) => {
                let error = super::super::state::held_line(&c);
                let _ = tx.blocking_send(Action::ClaimDone {
                    item,
                    result: Ok(super::super::action::ClaimNews::HeldBy(c)),
                });
                report(tx, item, what, Err(error));
                super::team::reload(s, tx, alert, true);
                return;
            }
            Ok(news) => {
                let _ = tx.blocking_send(Action::ClaimDone {
                    item,
                    result: Ok(news),
                });
            }
            Err(e) => {
                report(tx, item, what, Err(e));
                super::team::reload(s, tx, alert, true);
                return;
            }
        }
    }
    let r = s.store().and_then(|mut st| {
        st.add_feedback(f).map(|_| ()).map_err(|e| match e {
            // Taken over between the claim and the write: named like any holder.
            crate::store::StoreError::HeldBy { analyst, since } => {
                super::super::state::held_line(&super::team::clean(crate::store::team::Claim {
                    analyst,
                    at: since,
                }))
            }
            e => e.to_string(),
        })
    });
    let refused = r.is_err() && claim.is_some();
    report(tx, item, what, r);
    if let (true, Some(alert)) = (refused, claim) {
        super::team::reload(s, tx, alert, true);
    }
}

pub(super) fn note(
    s: &Shared,
    tx: &mpsc::Sender<Action>,
    item: ItemId,
    alert: &LoadedAlert,
    triage_id: Option<String>,
    text: &str,
) {
    let r = s.store().and_then(|mut st| {
        let row = alert_row(&mut st, alert)?;
        st.add_note(
            row,
            triage_id.as_deref(),
            text,
            &s.cfg.config.analyst_name(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    report(tx, item, "note".into(), r);
}

pub(super) fn stats(s: &Shared, tx: &mpsc::Sender<Action>, analyst: Option<&str>) {
    let r = s
        .store()
        .and_then(|st| st.accuracy_of(analyst).map_err(|e| e.to_string()));
    let _ = tx.blocking_send(match r {
        Ok(a) => Action::ScopedStats {
            analyst: analyst.map(str::to_string),
            stats: Box::new(a),
        },
        Err(e) => Action::StatsFailed(e),
    });
    // The file is ours, but it names paths and labels: clean them like any text on screen.
    let lab = crate::eval::lab::Lab::load(s.stores.dir());
    let clean = |l: &String| crate::alert::sanitize::sanitize(l);
    let _ = tx.blocking_send(Action::LabLoaded {
        lines: lab.lines().iter().map(clean).collect(),
        compact: lab.compact().as_ref().map(clean),
    });
}

pub(super) fn export(
    s: &Shared,
    tx: &mpsc::Sender<Action>,
    item: ItemId,
    name: &str,
    markdown: &str,
) {
    let _ = tx.blocking_send(match write_export(&s.cfg.export_dir, name, markdown) {
        Ok(path) => Action::Exported { item, path },
        Err(error) => Action::SaveFailed {
            item,
            what: "export".into(),
            error,
        },
    });
}

fn write_export(dir: &std::path::Path, name: &str, markdown: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(stamped(name, "md"));
    std::fs::write(&path, markdown).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// `name` made safe for a file name (alert text is hostile), with a time stamp and `ext`.
pub(super) fn stamped(name: &str, ext: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    format!("{safe}-{stamp}.{ext}")
}
