//! Loading the queue, with what the store holds for each alert (verdict, feedback, notes,
//! chat), so alerts triaged before come back as they were left.

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::alert::load::Loaded;
use crate::store::Store;

use super::super::action::Action;
use super::super::state::{Failure, History, Judgement, LoadedItem};
use super::{Shared, Workers};

/// Where the queue comes from.
pub enum Source {
    Paths(Vec<PathBuf>),
    Loaded(Loaded),
}

impl Workers {
    /// Loads the queue and what the store holds for each alert. It starts once the
    /// embedding model is set up (or after a few seconds at most): creating the ONNX session
    /// briefly needs far more memory than it keeps, and a large queue loading at the same
    /// moment would stack on that peak.
    pub fn load(&self, source: Source) {
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        let rt = self.rt.clone();
        self.rt.spawn(async move {
            let mut kb = shared.kb.subscribe();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(3),
                kb.wait_for(Option::is_some),
            )
            .await;
            drop(kb);
            rt.spawn_blocking(move || load_queue(&shared, &tx, source));
        });
    }
}

fn load_queue(shared: &Shared, tx: &mpsc::Sender<Action>, source: Source) {
    let loaded = match source {
        Source::Paths(p) => crate::alert::load_paths(&p),
        Source::Loaded(l) => l,
    };
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    let store = shared.store();
    let mut alerts = loaded.alerts;
    if let Ok(st) = &store {
        // The feed is followed from here on, so nothing recorded while the queue loads is
        // missed.
        match st.last_event() {
            Ok(w) => shared
                .watermark
                .store(w, std::sync::atomic::Ordering::SeqCst),
            Err(e) => tracing::warn!("could not read the change feed's position: {e}"),
        }
        if shared.cfg.database.is_some() {
            alerts.extend(team_alerts(st, &alerts));
        }
    }
    let items = alerts
        .into_iter()
        .map(|alert| {
            let history = match &store {
                Ok(s) => history(s, &alert.alert).unwrap_or_else(|e| {
                    tracing::warn!(alert = alert.alert.id, "could not read its history: {e}");
                    History::default()
                }),
                Err(_) => History::default(),
            };
            LoadedItem { alert, history }
        })
        .collect();
    if let Err(e) = &store {
        let _ = tx.blocking_send(Action::Notice(format!(
            "the store could not be opened, history is not shown: {e}"
        )));
    }
    let _ = tx.blocking_send(Action::QueueLoaded { items, errors });
}

/// How many of the team's latest alerts a console joining the shift starts with.
pub const TEAM_RECENT: usize = 200;

/// The team's latest stored alerts that the loaded queue does not have, oldest first.
fn team_alerts(
    store: &Store,
    loaded: &[crate::alert::load::LoadedAlert],
) -> Vec<crate::alert::load::LoadedAlert> {
    let known: std::collections::HashSet<&str> =
        loaded.iter().map(|a| a.alert.id.as_str()).collect();
    let recent = match store.recent_alerts(TEAM_RECENT) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("could not read the team's recent alerts: {e}");
            return Vec::new();
        }
    };
    let mut out: Vec<_> = recent
        .into_iter()
        .filter(|a| !known.contains(a.alert.id.as_str()))
        .map(|a| crate::alert::load::LoadedAlert {
            alert: a.alert,
            raw: a.raw,
            origin: super::team::ORIGIN.to_string(),
        })
        .collect();
    out.reverse();
    out
}

pub(super) fn history(
    store: &Store,
    alert: &crate::alert::Alert,
) -> Result<History, crate::store::StoreError> {
    // An alert not stored yet may still share indicators with stored ones.
    let seen_before = crate::intel::enrich::seen_before(store, alert, 10)?;
    let Some(sa) = store.alert_by_key(&alert.id)? else {
        return Ok(History {
            seen_before,
            ..History::default()
        });
    };
    let mut h = History {
        seen_before,
        chat: store.chat_for(sa.row)?,
        notes: store
            .notes_for(sa.row)?
            .into_iter()
            .map(|n| n.text)
            .collect(),
        closed: store.open_closure(&sa.alert.id)?,
        // Names come from other consoles and API callers: text like any other.
        holder: store.claim_of(sa.row)?.map(|c| crate::store::team::Claim {
            analyst: crate::alert::sanitize::sanitize(&c.analyst),
            at: c.at,
        }),
        ..History::default()
    };
    // The latest run decides what the alert shows: a failure (with what the model said),
    // or else the latest verdict.
    let latest = store.latest_triage_for(sa.row)?;
    let failed = latest.filter(|t| t.status == crate::store::triages::TriageStatus::Failed);
    let shown = match failed {
        Some(t) => {
            h.failure = Some(Failure::new(
                crate::alert::sanitize::sanitize(t.error.as_deref().unwrap_or("the run failed")),
                t.raw_output
                    .as_deref()
                    .map(crate::alert::sanitize::sanitize),
            ));
            Some(t)
        }
        None => store.latest_complete_triage_for(sa.row)?,
    };
    if let Some(t) = shown {
        if h.failure.is_none() {
            h.verdict = t
                .verdict_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok());
            h.provenance = t
                .provenance_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok());
        }
        if let Some(fb) = store.feedback_for(&t.id)?.last() {
            h.judgement = Judgement {
                thumbs: Some(fb.thumbs),
                reason: fb.reason.as_deref().and_then(|r| {
                    crate::store::feedback::DownReason::ALL
                        .into_iter()
                        .find(|d| d.as_str() == r)
                }),
                analyst_verdict: fb
                    .analyst_verdict
                    .as_deref()
                    .and_then(crate::triage::Level::parse),
            };
        }
        h.triage_id = Some(t.id);
    }
    Ok(h)
}
