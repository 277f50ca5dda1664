//! Incidents, hand-off, detections and closures for the console: each reads or writes the
//! store on the blocking pool (or runs the engine) and reports back as an Action.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::alert::load::LoadedAlert;
use crate::detect::{self, sigma};
use crate::handoff::{Target, case, run};
use crate::store::Store;

use super::super::action::Action;
use super::super::state::SigmaDoc;
use super::Shared;

fn send(tx: &mpsc::Sender<Action>, a: Action) {
    let _ = tx.blocking_send(a);
}

/// Stores the queue alerts not stored yet (a stored one keeps its embedding and history).
fn store_new(st: &mut Store, alerts: &[Arc<LoadedAlert>]) -> Result<(), String> {
    for a in alerts {
        super::save::alert_row(st, a)?;
    }
    Ok(())
}

/// The incidents, regrouped, with their details.
fn read_incidents(s: &Shared) -> Result<Vec<crate::incident::IncidentDetail>, String> {
    let mut st = s.store()?;
    crate::incident::refresh(&mut st, s.cfg.config.incidents.settings())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in st.incidents(500).map_err(|e| e.to_string())? {
        if let Some(d) = crate::incident::detail(&st, &i.id).map_err(|e| e.to_string())? {
            out.push(d);
        }
    }
    Ok(out)
}

pub(super) fn load(s: &Shared, tx: &mpsc::Sender<Action>, alerts: &[Arc<LoadedAlert>]) {
    let r = s
        .store()
        .and_then(|mut st| store_new(&mut st, alerts))
        .and_then(|()| read_incidents(s));
    send(
        tx,
        match r {
            Ok(list) => Action::IncidentsLoaded(list),
            Err(e) => Action::Problem(format!("incidents could not be read: {e}")),
        },
    );
}

pub(super) fn decide(
    s: &Shared,
    tx: &mpsc::Sender<Action>,
    pairs: &[(i64, i64)],
    merge: bool,
    what: String,
) {
    let analyst = s.cfg.config.analyst_name();
    let r = s.store().and_then(|mut st| {
        st.record_incident_pairs(pairs, merge, &analyst)
            .map_err(|e| e.to_string())
    });
    send(
        tx,
        match r {
            Ok(()) => Action::IncidentsChanged(what),
            Err(e) => Action::Problem(format!("could not record that: {e}")),
        },
    );
}

pub(super) async fn triage_incident(shared: Arc<Shared>, tx: mpsc::Sender<Action>, id: String) {
    let result = match shared.pipeline().await {
        Ok(p) => crate::incident::triage(&p, &id, &mut crate::triage::events::Quiet)
            .await
            .map(|o| {
                format!(
                    "{} (confidence {:.2}) by {} — {}",
                    o.verdict.verdict,
                    o.verdict.confidence,
                    o.provenance.engine,
                    o.verdict
                        .recommended_actions
                        .first()
                        .cloned()
                        .unwrap_or_default()
                )
            })
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let _ = tx.send(Action::IncidentTriaged { id, result }).await;
}

pub(super) async fn handoff(
    shared: Arc<Shared>,
    tx: mpsc::Sender<Action>,
    reference: String,
    target: Target,
    alert: Option<Arc<LoadedAlert>>,
) {
    let s = shared.clone();
    let loaded = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let mut st = s.store()?;
        if let Some(a) = &alert {
            super::save::alert_row(&mut st, a)?;
        }
        crate::incident::refresh(&mut st, s.cfg.config.incidents.settings())
            .map_err(|e| e.to_string())?;
        case::load(&st, &reference)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{reference} is not stored"))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let case = match loaded {
        Ok(c) => c,
        Err(e) => {
            let _ = tx
                .send(Action::Problem(format!("hand-off failed: {e}")))
                .await;
            return;
        }
    };
    let cfg = &shared.cfg.config;
    let outcome = if target.pushable() {
        let privacy = crate::privacy::Privacy::from_config(cfg).map_err(|e| e.to_string());
        match privacy {
            Ok(p) => run::push(&cfg.handoff, target, &case, p.as_deref())
                .await
                .map(|(rec, created)| {
                    let note = format!(
                        "{} {} {} as {} on {}",
                        target.label(),
                        if created { "created" } else { "already had" },
                        case.reference,
                        rec.remote_id.as_deref().unwrap_or("?"),
                        rec.destination
                    );
                    (rec, note)
                })
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        }
    } else {
        let ext = match target {
            Target::Markdown => "md",
            Target::Stix => "stix.json",
            _ => "misp.json",
        };
        let path = shared
            .cfg
            .export_dir
            .join(super::save::stamped(&case.reference, ext));
        run::to_file(target, &case, &path)
            .map(|rec| {
                (
                    rec,
                    format!("{} written to {}", target.label(), path.display()),
                )
            })
            .map_err(|e| e.to_string())
    };
    let s = shared.clone();
    let action = match outcome {
        Ok((mut rec, note)) => {
            rec.analyst = cfg.analyst_name();
            let saved = tokio::task::spawn_blocking(move || {
                s.store()
                    .and_then(|mut st| st.record_export(&rec).map_err(|e| e.to_string()))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match saved {
                Ok(()) => Action::Notice(note),
                Err(e) => Action::Problem(format!("{note}, but the record failed: {e}")),
            }
        }
        Err(e) => Action::Problem(format!("hand-off to {} failed: {e}", target.label())),
    };
    let _ = tx.send(action).await;
}

pub(super) async fn draft(
    shared: Arc<Shared>,
    tx: mpsc::Sender<Action>,
    reference: String,
    alert: Option<Arc<LoadedAlert>>,
) {
    let s = shared.clone();
    let r = reference.clone();
    let source = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let mut st = s.store()?;
        if let Some(a) = &alert {
            super::save::alert_row(&mut st, a)?;
        }
        detect::confirmed_source(&st, &r).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let src = match source {
        Ok(src) => src,
        Err(e) => {
            let doc = SigmaDoc {
                reference,
                error: Some(e),
                ..SigmaDoc::default()
            };
            let _ = tx.send(Action::DetectionDrafted(Box::new(doc))).await;
            return;
        }
    };
    let offline = detect::offline_draft(&src);
    let engine = shared.cfg.engine.clone();
    let (yaml, from) = match (engine.model(), shared.pipeline().await) {
        (Some(_), Ok(p)) => {
            let loaded = LoadedAlert {
                alert: src.alert.clone(),
                raw: String::new(),
                origin: reference.clone(),
            };
            let answer = p
                .answer(&loaded, None, &[], &[], detect::MODEL_QUESTION, &mut |_| {})
                .await;
            match sigma::from_model_text(&answer.text) {
                Some(y) if answer.error.is_none() && sigma::validate(&y).is_empty() => {
                    (y, format!("by {}", engine.label()))
                }
                _ => (
                    offline,
                    format!(
                        "offline from the alert's fields ({} gave no valid rule)",
                        engine.label()
                    ),
                ),
            }
        }
        _ => (offline, "offline from the alert's fields".to_string()),
    };
    let s = shared.clone();
    let checked = tokio::task::spawn_blocking(move || {
        s.store()
            .and_then(|st| detect::check(&st, &yaml).map_err(|e| e.to_string()))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let doc = match checked {
        Ok(c) => SigmaDoc {
            reference,
            source: from,
            problems: c.problems.iter().map(ToString::to_string).collect(),
            history: c.history.map(|h| {
                (
                    h.matched,
                    h.scanned,
                    h.matched_false_positive,
                    h.matched_confirmed,
                )
            }),
            yaml: c.yaml,
            error: None,
        },
        Err(e) => SigmaDoc {
            reference,
            error: Some(e),
            ..SigmaDoc::default()
        },
    };
    let _ = tx.send(Action::DetectionDrafted(Box::new(doc))).await;
}

pub(super) fn save_detection(s: &Shared, tx: &mpsc::Sender<Action>, reference: &str, yaml: &str) {
    let dir = s.cfg.export_dir.join("detections");
    let path = dir.join(super::save::stamped(reference, "yml"));
    let r = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, yaml))
        .map_err(|e| format!("{}: {e}", path.display()));
    send(
        tx,
        match r {
            Ok(()) => Action::Notice(format!("Sigma rule saved to {}", path.display())),
            Err(e) => Action::Problem(format!("the rule could not be saved: {e}")),
        },
    );
}

pub(super) fn closures(s: &Shared, tx: &mpsc::Sender<Action>) {
    let r = s
        .store()
        .and_then(|st| st.closures(200).map_err(|e| e.to_string()));
    send(
        tx,
        match r {
            Ok(list) => Action::ClosuresLoaded(list),
            Err(e) => Action::Problem(format!("closures could not be read: {e}")),
        },
    );
}

pub(super) fn undo_closure(s: &Shared, tx: &mpsc::Sender<Action>, key: String) {
    let analyst = s.cfg.config.analyst_name();
    let r = s.store().and_then(|mut st| {
        let Some((id, _)) = st.open_closure(&key).map_err(|e| e.to_string())? else {
            return Err(format!("{key} has no standing closure"));
        };
        st.reverse_closure(id, &analyst).map_err(|e| e.to_string())
    });
    send(
        tx,
        match r {
            Ok(_) => Action::ClosureUndone { key },
            Err(e) => Action::Problem(format!("could not reopen {key}: {e}")),
        },
    );
}
