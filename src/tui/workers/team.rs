//! Team mode: claiming, taking over and letting go of alerts in the store, and following
//! the change feed on its own thread (PostgreSQL `LISTEN`, or polling), turning what
//! colleagues and replicas record into `TeamUpdate`s with each alert as the store holds it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::alert::load::LoadedAlert;
use crate::store::follow::Follower;
use crate::store::team::{Claim, ClaimOutcome, Event};
use crate::store::{Store, StoreError};

use super::super::action::{Action, ClaimNews, ItemId};
use super::super::state::{LoadedItem, TeamChange};
use super::Shared;
use super::load::history;
use super::save::alert_row;

/// Where alerts the feed brings in say they came from.
pub const ORIGIN: &str = "team store";

/// Claims `alert` for this console's analyst (`takeover`: from whoever holds it).
pub(super) fn claim_now(
    s: &Shared,
    alert: &LoadedAlert,
    takeover: bool,
) -> Result<ClaimNews, String> {
    struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    s.claims_in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight(&s.claims_in_flight);
    if s.quitting.load(Ordering::SeqCst) {
        return Err("the console is closing".into());
    }
    let analyst = s.cfg.config.analyst_name();
    let mut st = s.store()?;
    let row = alert_row(&mut st, alert)?;
    Ok(
        match st
            .claim_alert(row, &analyst, takeover)
            .map_err(|e| e.to_string())?
        {
            ClaimOutcome::Held => ClaimNews::Held,
            ClaimOutcome::HeldBy(c) => ClaimNews::HeldBy(clean(c)),
            ClaimOutcome::TookOver(c) => ClaimNews::TookOver(clean(c)),
        },
    )
}

/// A claim as the console shows it: the name is text other consoles and API callers wrote.
pub(super) fn clean(c: Claim) -> Claim {
    Claim {
        analyst: crate::alert::sanitize::sanitize(&c.analyst),
        at: crate::alert::sanitize::sanitize(&c.at),
    }
}

/// Who holds `alert`, when it is someone other than this console's analyst.
pub(super) fn held_by_other(s: &Shared, alert: &LoadedAlert) -> Result<Option<Claim>, String> {
    let analyst = s.cfg.config.analyst_name();
    let st = s.store()?;
    let Some(a) = st
        .alert_by_key(&alert.alert.id)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    Ok(st
        .claim_of(a.row)
        .map_err(|e| e.to_string())?
        .filter(|c| c.analyst != analyst)
        .map(clean))
}

pub(super) fn claim(
    s: &Shared,
    tx: &mpsc::Sender<Action>,
    item: ItemId,
    alert: &LoadedAlert,
    takeover: bool,
) {
    let result = claim_now(s, alert, takeover);
    let _ = tx.blocking_send(Action::ClaimDone { item, result });
}

pub(super) fn release(s: &Shared, tx: &mpsc::Sender<Action>, item: ItemId, alert: &LoadedAlert) {
    let analyst = s.cfg.config.analyst_name();
    let result = s.store().and_then(|mut st| {
        let Some(a) = st
            .alert_by_key(&alert.alert.id)
            .map_err(|e| e.to_string())?
        else {
            return Ok(ClaimNews::NotHeld);
        };
        Ok(
            match st
                .release_claim(a.row, &analyst)
                .map_err(|e| e.to_string())?
            {
                true => ClaimNews::Released,
                false => ClaimNews::NotHeld,
            },
        )
    });
    let _ = tx.blocking_send(Action::ClaimDone { item, result });
}

/// The alert with key `key` as the store holds it now.
fn stored(st: &Store, key: &str, origin: &str) -> Result<Option<LoadedItem>, StoreError> {
    let Some(a) = st.alert_by_key(key)? else {
        return Ok(None);
    };
    let alert = LoadedAlert {
        alert: a.alert,
        raw: a.raw,
        origin: origin.to_string(),
    };
    let history = history(st, &alert.alert)?;
    Ok(Some(LoadedItem { alert, history }))
}

/// Shows an alert as the store holds it; `force`: put back what the console changed ahead
/// of a store write that was refused.
pub(super) fn reload(s: &Shared, tx: &mpsc::Sender<Action>, alert: &LoadedAlert, force: bool) {
    let got = s
        .store()
        .and_then(|st| stored(&st, &alert.alert.id, &alert.origin).map_err(|e| e.to_string()));
    if let Ok(Some(item)) = got {
        let _ = tx.blocking_send(Action::TeamUpdate(vec![TeamChange {
            item,
            events: Vec::new(),
            force,
        }]));
    }
}

/// The alerts a batch of events is about, each read once, with its events in order.
fn changes(s: &Shared, events: &[Event]) -> Result<Vec<TeamChange>, String> {
    let mut by_row: BTreeMap<i64, Vec<(String, Option<String>)>> = BTreeMap::new();
    let mut order = Vec::new();
    for e in events {
        let Some(row) = e.alert_row else { continue };
        let list = by_row.entry(row).or_insert_with(|| {
            order.push(row);
            Vec::new()
        });
        list.push((
            e.kind.clone(),
            e.analyst.as_deref().map(crate::alert::sanitize::sanitize),
        ));
    }
    let st = s.store()?;
    let mut out = Vec::with_capacity(order.len());
    for row in order {
        let read = st.alert_by_row(row).and_then(|a| match a {
            Some(a) => stored(&st, &a.alert.id, ORIGIN),
            None => Ok(None),
        });
        match read {
            Ok(Some(item)) => out.push(TeamChange {
                item,
                events: by_row.remove(&row).unwrap_or_default(),
                force: false,
            }),
            Ok(None) => {}
            // The connection went: the whole batch is read again once it is back.
            Err(e) if st.db().is_closed() => return Err(e.to_string()),
            // One alert that cannot be read never holds up the rest.
            Err(e) => tracing::warn!(row, "a team change could not be read, skipped: {e}"),
        }
    }
    Ok(out)
}

/// Milliseconds since an event's RFC 3339 time.
fn age_ms(at: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    Some((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds())
}

/// Follows the change feed from where the queue's load left it, until the console goes.
pub(super) fn follow(shared: Arc<Shared>, tx: mpsc::Sender<Action>) {
    // Unknown (the store did not answer while the queue loaded): from the newest event on,
    // rather than replaying the team's whole history.
    let since = Some(shared.watermark.load(Ordering::SeqCst)).filter(|w| *w >= 0);
    let spawned = std::thread::Builder::new()
        .name("team-feed".into())
        .spawn(move || {
            let open = || match shared.cfg.database.as_deref() {
                Some(url) => Follower::team(url, since),
                None => {
                    Store::open_in(&shared.cfg.data_dir).and_then(|st| Follower::new(st, since))
                }
            };
            // The store may be down as the console starts: try again until it answers.
            let mut told = false;
            let mut follower = loop {
                match open() {
                    Ok(f) => break f,
                    Err(e) => {
                        if !told {
                            told = true;
                            let _ = tx.blocking_send(Action::Problem(format!(
                                "colleagues' work does not appear live yet (retrying): {e}"
                            )));
                        }
                        std::thread::sleep(Duration::from_secs(5));
                        if tx.is_closed() {
                            return;
                        }
                    }
                }
            };
            while !tx.is_closed() {
                match follower.next(Duration::from_secs(1)) {
                    Ok(events) if events.is_empty() => {}
                    Ok(events) => match changes(&shared, &events) {
                        Ok(c) if c.is_empty() => {}
                        Ok(c) => {
                            let n = c.len();
                            if tx.blocking_send(Action::TeamUpdate(c)).is_err() {
                                return;
                            }
                            // How long colleagues' work took to reach this console (the
                            // README's figure is measured from these lines).
                            for e in &events {
                                if let Some(ms) = age_ms(&e.at) {
                                    tracing::info!(
                                        kind = e.kind,
                                        alerts = n,
                                        latency_ms = ms,
                                        "team change shown"
                                    );
                                }
                            }
                        }
                        Err(e) => {
                            // Read them again once the store answers: nothing is skipped.
                            tracing::warn!("could not read the team's changes: {e}");
                            follower.watermark = events[0].id - 1;
                            std::thread::sleep(Duration::from_secs(2));
                        }
                    },
                    Err(e) => {
                        tracing::warn!("the team feed could not be read: {e}");
                        std::thread::sleep(Duration::from_secs(2));
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("could not start following the team feed: {e}");
    }
}
