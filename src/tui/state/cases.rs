//! Beyond one alert: the incident view (grouped alerts, merge, split, one triage for the
//! group), the export menu, Sigma drafts shown before they are saved, and autonomous
//! closures (listed, and reversed with one key).

use crate::handoff::Target;
use crate::incident::IncidentDetail;
use crate::store::closures::Closure;

use super::super::effect::Effect;
use super::{Overlay, State};

/// The incident view's model.
#[derive(Debug, Clone, Default)]
pub struct IncidentsView {
    pub list: Vec<IncidentDetail>,
    pub selected: usize,
    /// The cursor on the selected incident's alerts (`None`: on the incident list).
    pub alert: Option<usize>,
    /// An incident marked for merging.
    pub marked: Option<String>,
    pub loading: bool,
    /// Incidents whose triage is running.
    pub triaging: Vec<String>,
    /// Queue positions already handed to the store for grouping.
    pub stored: usize,
}

/// A drafted detection as the analyst sees it before saving.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SigmaDoc {
    pub reference: String,
    /// `offline from the alert's fields`, `by anthropic · claude-…`.
    pub source: String,
    pub yaml: String,
    pub problems: Vec<String>,
    /// `(matched, scanned, judged false positive, confirmed)` against the stored history.
    pub history: Option<(usize, usize, usize, usize)>,
    /// Drafting failed (not confirmed, no such alert): why.
    pub error: Option<String>,
}

/// What the export menu is for.
#[derive(Debug, Clone)]
pub struct ExportSubject {
    pub reference: String,
    pub label: String,
    pub alert: Option<std::sync::Arc<crate::alert::load::LoadedAlert>>,
}

impl State {
    pub fn selected_incident(&self) -> Option<&IncidentDetail> {
        self.incidents.list.get(self.incidents.selected)
    }

    pub(super) fn toggle_incidents(&mut self) -> Vec<Effect> {
        if self.overlay == Overlay::Incidents {
            self.overlay = Overlay::None;
            return Vec::new();
        }
        self.overlay = Overlay::Incidents;
        self.overlay_scroll = 0;
        self.load_incidents()
    }

    fn load_incidents(&mut self) -> Vec<Effect> {
        self.incidents.loading = true;
        let from = self.incidents.stored.min(self.items.len());
        let alerts = self.items[from..].iter().map(|i| i.alert.clone()).collect();
        self.incidents.stored = self.items.len();
        vec![Effect::LoadIncidents { alerts }]
    }

    pub(super) fn incidents_loaded(&mut self, list: Vec<IncidentDetail>) -> Vec<Effect> {
        let keep = self.selected_incident().map(|i| i.incident.id.clone());
        self.incidents.loading = false;
        self.incidents.list = list;
        self.incidents.selected = keep
            .and_then(|id| self.incidents.list.iter().position(|i| i.incident.id == id))
            .unwrap_or(0);
        self.incidents.alert = None;
        if let Some(m) = &self.incidents.marked
            && !self.incidents.list.iter().any(|i| &i.incident.id == m)
        {
            self.incidents.marked = None;
        }
        Vec::new()
    }

    /// j/k in the incident view: the alert cursor when it is on, else the incident.
    pub(super) fn incident_move(&mut self, delta: isize) {
        let v = &mut self.incidents;
        match v.alert {
            Some(a) => {
                let n = v.list.get(v.selected).map_or(0, |i| i.alerts.len());
                v.alert = Some(a.saturating_add_signed(delta).min(n.saturating_sub(1)));
            }
            None => {
                v.selected = v
                    .selected
                    .saturating_add_signed(delta)
                    .min(v.list.len().saturating_sub(1));
            }
        }
        self.overlay_scroll = 0;
    }

    pub(super) fn incident_alerts(&mut self) -> Vec<Effect> {
        let has = self
            .selected_incident()
            .is_some_and(|i| !i.alerts.is_empty());
        self.incidents.alert = match self.incidents.alert {
            Some(_) => None,
            None if has => Some(0),
            None => None,
        };
        Vec::new()
    }

    pub(super) fn incident_triage(&mut self) -> Vec<Effect> {
        let Some(id) = self.selected_incident().map(|i| i.incident.id.clone()) else {
            self.notice("no incident selected");
            return Vec::new();
        };
        if self.incidents.triaging.contains(&id) {
            self.notice(format!("{id} is already being triaged"));
            return Vec::new();
        }
        self.incidents.triaging.push(id.clone());
        self.notice(format!("triaging {id} as one incident ({})", self.engine));
        vec![Effect::TriageIncident { id }]
    }

    pub(super) fn incident_triaged(
        &mut self,
        id: String,
        result: Result<String, String>,
    ) -> Vec<Effect> {
        self.incidents.triaging.retain(|t| *t != id);
        match result {
            Ok(summary) => self.notice(format!("{id}: {summary}")),
            Err(e) => self.error(format!("{id} could not be triaged: {e}")),
        }
        if self.overlay == Overlay::Incidents {
            self.load_incidents()
        } else {
            Vec::new()
        }
    }

    pub(super) fn incident_split(&mut self) -> Vec<Effect> {
        let Some(inc) = self.selected_incident() else {
            return Vec::new();
        };
        let Some(at) = self.incidents.alert else {
            self.notice("Tab moves to the incident's alerts; pick the one to take out, then d");
            return Vec::new();
        };
        let Some(out) = inc.alerts.get(at) else {
            return Vec::new();
        };
        let pairs = inc
            .alerts
            .iter()
            .filter(|a| a.row != out.row)
            .map(|a| (a.row, out.row))
            .collect();
        let what = format!("took {} out of {}", out.key, inc.incident.id);
        vec![Effect::IncidentDecision {
            pairs,
            merge: false,
            what,
        }]
    }

    pub(super) fn incident_mark(&mut self) -> Vec<Effect> {
        let Some(inc) = self.selected_incident().cloned() else {
            return Vec::new();
        };
        let id = inc.incident.id.clone();
        match self.incidents.marked.take() {
            None => {
                self.notice(format!(
                    "{id} marked: select another incident and press m to merge them"
                ));
                self.incidents.marked = Some(id);
                Vec::new()
            }
            Some(m) if m == id => {
                self.notice(format!("{id} unmarked"));
                Vec::new()
            }
            Some(m) => {
                let Some(other) = self.incidents.list.iter().find(|i| i.incident.id == m) else {
                    return Vec::new();
                };
                let pairs = other
                    .alerts
                    .iter()
                    .flat_map(|a| inc.alerts.iter().map(move |b| (a.row, b.row)))
                    .collect();
                vec![Effect::IncidentDecision {
                    pairs,
                    merge: true,
                    what: format!("merged {m} and {id}"),
                }]
            }
        }
    }

    pub(super) fn incidents_changed(&mut self, what: String) -> Vec<Effect> {
        self.notice(what);
        self.load_incidents()
    }

    /// What `x` and `D` act on: the incident in the incident view, else the selected alert.
    fn subject(&self) -> Option<ExportSubject> {
        if matches!(self.overlay, Overlay::Incidents) {
            return self.selected_incident().map(|i| ExportSubject {
                reference: i.incident.id.clone(),
                label: format!("incident {}", i.incident.id),
                alert: None,
            });
        }
        self.selected_item().map(|i| ExportSubject {
            reference: i.alert.alert.id.clone(),
            label: format!("alert {}", i.alert.alert.id),
            alert: Some(i.alert.clone()),
        })
    }

    pub(super) fn open_export(&mut self) -> Vec<Effect> {
        let Some(s) = self.subject() else {
            return Vec::new();
        };
        self.under = self.overlay;
        self.export = Some(s);
        self.overlay = Overlay::ExportMenu;
        Vec::new()
    }

    pub(super) fn export_to(&mut self, target: Target) -> Vec<Effect> {
        let Some(s) = self.export.take() else {
            return Vec::new();
        };
        self.overlay = std::mem::replace(&mut self.under, Overlay::None);
        self.notice(format!("exporting {} to {}…", s.label, target.label()));
        vec![Effect::Handoff {
            reference: s.reference,
            target,
            alert: s.alert,
        }]
    }

    pub(super) fn draft_detection(&mut self) -> Vec<Effect> {
        let Some(s) = self.subject() else {
            return Vec::new();
        };
        self.under = self.overlay;
        self.sigma = Some(Box::new(SigmaDoc {
            reference: s.reference.clone(),
            ..SigmaDoc::default()
        }));
        self.overlay = Overlay::Sigma;
        self.overlay_scroll = 0;
        vec![Effect::DraftDetection {
            reference: s.reference,
            alert: s.alert,
        }]
    }

    pub(super) fn detection_drafted(&mut self, doc: Box<SigmaDoc>) -> Vec<Effect> {
        if self
            .sigma
            .as_ref()
            .is_some_and(|d| d.reference == doc.reference)
        {
            self.sigma = Some(doc);
        }
        Vec::new()
    }

    pub(super) fn save_detection(&mut self) -> Vec<Effect> {
        let Some(doc) = &self.sigma else {
            return Vec::new();
        };
        if doc.yaml.is_empty() || !doc.problems.is_empty() || doc.error.is_some() {
            self.error("only a rule that validates can be saved");
            return Vec::new();
        }
        vec![Effect::SaveDetection {
            reference: doc.reference.clone(),
            yaml: doc.yaml.clone(),
        }]
    }

    pub(super) fn open_closures(&mut self) -> Vec<Effect> {
        if self.overlay == Overlay::Closures {
            self.overlay = Overlay::None;
            return Vec::new();
        }
        self.overlay = Overlay::Closures;
        self.overlay_scroll = 0;
        self.closure_selected = 0;
        self.closures = None;
        vec![Effect::LoadClosures]
    }

    pub(super) fn undo_closure(&mut self) -> Vec<Effect> {
        if self.overlay == Overlay::Closures {
            let Some(c) = self
                .closures
                .as_ref()
                .and_then(|l| l.get(self.closure_selected))
            else {
                return Vec::new();
            };
            if c.reversed_at.is_some() {
                self.notice(format!("closure #{} was already reversed", c.id));
                return Vec::new();
            }
            return vec![Effect::UndoClosure {
                key: c.alert_key.clone(),
            }];
        }
        let Some(it) = self.selected_item() else {
            return Vec::new();
        };
        if it.closed.is_none() {
            self.notice("this alert was not closed automatically");
            return Vec::new();
        }
        vec![Effect::UndoClosure {
            key: it.alert.alert.id.clone(),
        }]
    }

    pub(super) fn closure_undone(&mut self, key: String) -> Vec<Effect> {
        for it in self.items.iter_mut().filter(|i| i.alert.alert.id == key) {
            it.closed = None;
        }
        self.notice(format!(
            "closure of {key} reversed: the alert is open again"
        ));
        if self.overlay == Overlay::Closures {
            return vec![Effect::LoadClosures];
        }
        Vec::new()
    }

    pub(super) fn closures_loaded(&mut self, list: Vec<Closure>) -> Vec<Effect> {
        self.closure_selected = self.closure_selected.min(list.len().saturating_sub(1));
        self.closures = Some(list);
        Vec::new()
    }
}
