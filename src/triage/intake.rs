//! Alerts pushed by SIEMs: which of them are triaged (`[server] auto_triage`), the message
//! that carries one from the API to whoever triages it, and the bounded worker pool that
//! triages them under `serve` — first the ones a stopped process left queued, then new ones.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::alert::Severity;
use crate::alert::load::LoadedAlert;

use super::events::Quiet;
use super::pipeline::{Pipeline, Request};

/// One accepted alert on its way to triage.
#[derive(Debug)]
pub struct Intake {
    pub alert: LoadedAlert,
    /// `webhook`, `recovered`…
    pub source: String,
}

/// Which pushed alerts are triaged as they arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoTriage {
    All,
    Off,
    AtLeast(Severity),
}

impl AutoTriage {
    /// `all`, `off`/`none`, or a severity name.
    pub fn parse(s: &str) -> Result<AutoTriage, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(AutoTriage::All),
            "" | "off" | "none" => Ok(AutoTriage::Off),
            other => Severity::parse(other)
                .map(AutoTriage::AtLeast)
                .ok_or_else(|| {
                    format!(
                        "{other:?} is not all, off, informational, low, medium, high or critical"
                    )
                }),
        }
    }

    /// Whether an alert of this severity is triaged (an alert with none is treated as medium).
    pub fn wants(self, severity: Option<Severity>) -> bool {
        match self {
            AutoTriage::All => true,
            AutoTriage::Off => false,
            AutoTriage::AtLeast(min) => severity.unwrap_or(Severity::Medium) >= min,
        }
    }
}

/// How often a worker renews its leases and looks in the store for intake alerts nobody
/// holds (another replica's backlog, or alerts a stopped replica held).
pub const SWEEP: std::time::Duration = std::time::Duration::from_secs(2);
const RENEW: std::time::Duration = std::time::Duration::from_secs(10);

/// Triages intake alerts, `concurrency` at a time, until the channel closes: the backlog a
/// stopped process left first, then what arrives, and — every `SWEEP` — queued alerts in
/// the store that no process holds (several `serve` replicas on one team database share
/// the work this way). Each alert is leased in the store before it runs, so no two workers
/// anywhere triage it; the lease is renewed while the run lasts, and one that runs out (its
/// process died) lets another worker take the alert. Each alert's store row is marked done
/// when its run ends, whatever the verdict; a run cut off by shutdown stays queued and its
/// lease is given back.
pub async fn work(
    pipeline: Pipeline,
    backlog: Vec<LoadedAlert>,
    mut rx: mpsc::Receiver<Intake>,
    concurrency: usize,
) {
    let worker = crate::store::owner::this_process();
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut running = JoinSet::new();
    let mut backlog = backlog.into_iter();
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut renew = tokio::time::interval(RENEW);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut open = true;
    while open || !running.is_empty() {
        // The backlog first, then whichever comes: an alert from this replica's intake, a
        // sweep of the store, a lease renewal.
        let next: Vec<(LoadedAlert, bool)> = if let Some(a) = backlog.next() {
            vec![(a, false)]
        } else {
            tokio::select! {
                got = rx.recv(), if open => match got {
                    Some(i) => vec![(i.alert, false)],
                    None => {
                        open = false;
                        Vec::new()
                    }
                },
                _ = sweep.tick(), if open => {
                    let free = permits.available_permits();
                    if free == 0 {
                        Vec::new()
                    } else {
                        lease(&pipeline, worker, None, free, true).await
                            .into_iter()
                            .map(|a| (a, true))
                            .collect()
                    }
                },
                _ = renew.tick() => {
                    let stores = pipeline.stores.clone();
                    let r = tokio::task::spawn_blocking(move || {
                        stores.get().and_then(|mut s| s.renew_leases(worker))
                    })
                    .await;
                    if let Ok(Err(e)) = r {
                        tracing::warn!("could not renew intake leases: {e}");
                    }
                    Vec::new()
                },
                Some(_) = running.join_next(), if !running.is_empty() => {
                    // A worker is free and this replica's own intake is empty: take the next
                    // alert nobody holds at once (a stopped replica's backlog drains at the
                    // pace of the workers, not of the sweep).
                    let free = permits.available_permits();
                    if open && rx.is_empty() && free > 0 {
                        lease(&pipeline, worker, None, free, false).await
                            .into_iter()
                            .map(|a| (a, true))
                            .collect()
                    } else {
                        Vec::new()
                    }
                },
            }
        };
        for (alert, leased) in next {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let p = pipeline.clone();
            running.spawn(async move {
                let key = alert.alert.id.clone();
                // An alert from this replica's own intake is leased first: another replica
                // may have taken it already (then it is theirs), or it may be done.
                if !leased && lease(&p, worker, Some(&key), 1, false).await.is_empty() {
                    drop(permit);
                    return;
                }
                let result = p.run(Request::new(Arc::new(alert)), &mut Quiet).await;
                if let Err(e) = &result {
                    tracing::warn!(alert = key, "intake triage failed: {e}");
                }
                let stores = p.stores.clone();
                let marked = tokio::task::spawn_blocking(move || {
                    stores.get().and_then(|mut s| s.intake_done(&key))
                })
                .await;
                if let Ok(Err(e)) = marked {
                    tracing::warn!("could not mark an intake alert done: {e}");
                }
                drop(permit);
            });
        }
        // Reap finished runs so the set does not grow with the queue's history.
        while running.try_join_next().is_some() {}
    }
}

/// Gives back this process's unfinished leases (a clean stop), so other replicas take the
/// alerts at once instead of waiting for the leases to run out.
pub async fn release(pipeline: &Pipeline) {
    let stores = pipeline.stores.clone();
    let worker = crate::store::owner::this_process();
    let r = tokio::task::spawn_blocking(move || {
        stores.get().and_then(|mut s| s.release_leases(worker))
    })
    .await;
    if let Ok(Err(e)) = r {
        tracing::warn!("could not give back intake leases: {e}");
    }
}

/// Leases intake alerts in the store (`key`: that one only) and loads them; with `reap`
/// (the timed sweep), first closes what processes that died on this host left behind.
async fn lease(
    pipeline: &Pipeline,
    worker: &'static str,
    key: Option<&str>,
    n: usize,
    reap: bool,
) -> Vec<LoadedAlert> {
    let stores = pipeline.stores.clone();
    let key = key.map(str::to_string);
    let got = tokio::task::spawn_blocking(move || {
        let mut store = stores.get()?;
        if reap {
            store.reap_abandoned()?;
        }
        let rows = store.lease_intake(worker, key.as_deref(), n)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(a) = store.alert_by_row(row)? {
                out.push(LoadedAlert {
                    alert: a.alert,
                    raw: a.raw,
                    origin: "intake".into(),
                });
            }
        }
        Ok::<_, crate::store::StoreError>(out)
    })
    .await;
    match got {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::warn!("could not lease intake alerts: {e}");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_triage_policy() {
        assert_eq!(AutoTriage::parse("ALL"), Ok(AutoTriage::All));
        assert_eq!(AutoTriage::parse("off"), Ok(AutoTriage::Off));
        let high = AutoTriage::parse("high").expect("severity");
        assert!(high.wants(Some(Severity::Critical)));
        assert!(!high.wants(Some(Severity::Low)));
        assert!(!high.wants(None), "no severity counts as medium");
        assert!(AutoTriage::parse("loud").is_err());
    }
}
