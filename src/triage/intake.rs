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

/// Triages intake alerts, `concurrency` at a time, until the channel closes: the backlog a
/// stopped process left first, then what arrives. Each alert's store row is marked done
/// when its run ends, whatever the verdict; a run cut off by shutdown stays queued and is
/// triaged after the next start.
pub async fn work(
    pipeline: Pipeline,
    backlog: Vec<LoadedAlert>,
    mut rx: mpsc::Receiver<Intake>,
    concurrency: usize,
) {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut running = JoinSet::new();
    let mut backlog = backlog.into_iter();
    loop {
        let next = match backlog.next() {
            Some(a) => Some(a),
            None => rx.recv().await.map(|i| i.alert),
        };
        let Some(alert) = next else { break };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let p = pipeline.clone();
        running.spawn(async move {
            let key = alert.alert.id.clone();
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
        // Reap finished runs so the set does not grow with the queue's history.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
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
