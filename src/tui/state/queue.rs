//! The queue: adding alerts, the filter, moving the selection and scrolling the pane in focus.

use super::super::effect::Effect;
use super::{Focus, Item, LoadedItem, Overlay, State, Tab};

impl State {
    pub(super) fn add_items(&mut self, items: Vec<LoadedItem>) {
        let selected = self.selected_id();
        self.items.extend(items.into_iter().map(Item::new));
        self.refilter();
        if let Some(id) = selected {
            self.selected = self.visible.iter().position(|v| *v == id).unwrap_or(0);
        }
    }

    /// Recomputes which alerts pass the filter, keeping the selected one if it still does.
    pub(super) fn refilter(&mut self) {
        let keep = self.selected_id();
        let needle = self.filter.to_lowercase();
        let words: Vec<&str> = needle.split_whitespace().collect();
        self.visible = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, it)| it.matches(&words))
            .map(|(i, _)| i)
            .collect();
        self.selected = keep
            .and_then(|k| self.visible.iter().position(|v| *v == k))
            .unwrap_or(0);
    }

    fn select(&mut self, index: usize) {
        let index = index.min(self.visible.len().saturating_sub(1));
        if index != self.selected {
            self.selected = index;
            self.reasoning_scroll = None;
            self.chat_scroll = None;
            self.evidence_scroll = 0;
            self.tech_selected = 0;
        }
    }

    pub(super) fn move_by(&mut self, delta: isize) -> Vec<Effect> {
        if self.overlay == Overlay::Incidents {
            self.incident_move(delta);
            return Vec::new();
        }
        if self.overlay == Overlay::Closures {
            let n = self.closures.as_ref().map_or(0, Vec::len);
            self.closure_selected = self
                .closure_selected
                .saturating_add_signed(delta)
                .min(n.saturating_sub(1));
            return Vec::new();
        }
        if self.overlay != Overlay::None {
            let max = self.extents.overlay.get();
            self.overlay_scroll = scroll(self.overlay_scroll.min(max), delta).min(max);
            return Vec::new();
        }
        match self.focus {
            Focus::Queue => {
                let target = self.selected.saturating_add_signed(delta);
                self.select(target);
            }
            Focus::Reasoning => {
                // Scrolling starts from where the view is; reaching the end follows again.
                let max = self.extents.reasoning.get();
                let from = self.reasoning_scroll.unwrap_or(max).min(max);
                let to = scroll(from, delta).min(max);
                self.reasoning_scroll = (to < max).then_some(to);
            }
            Focus::Evidence if self.tab == Tab::Techniques => {
                let n = self.selected_item().map_or(0, |i| i.techniques.len());
                self.tech_selected = self
                    .tech_selected
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
            }
            Focus::Evidence => {
                let max = self.extents.evidence.get();
                self.evidence_scroll = scroll(self.evidence_scroll.min(max), delta).min(max);
            }
            Focus::Chat => {
                let max = self.extents.chat.get();
                let from = self.chat_scroll.unwrap_or(max).min(max);
                let to = scroll(from, delta).min(max);
                self.chat_scroll = (to < max).then_some(to);
            }
        }
        Vec::new()
    }

    pub(super) fn move_to_end(&mut self, bottom: bool) -> Vec<Effect> {
        if matches!(self.overlay, Overlay::Incidents | Overlay::Closures) {
            return self.move_by(if bottom {
                isize::MAX / 2
            } else {
                isize::MIN / 2
            });
        }
        if self.overlay != Overlay::None {
            self.overlay_scroll = if bottom {
                self.extents.overlay.get()
            } else {
                0
            };
            return Vec::new();
        }
        match self.focus {
            Focus::Queue => self.select(if bottom { usize::MAX } else { 0 }),
            Focus::Reasoning => self.reasoning_scroll = if bottom { None } else { Some(0) },
            Focus::Evidence => {
                self.evidence_scroll = if bottom {
                    self.extents.evidence.get()
                } else {
                    0
                };
                let n = self.selected_item().map_or(0, |i| i.techniques.len());
                self.tech_selected = if bottom { n.saturating_sub(1) } else { 0 };
            }
            Focus::Chat => self.chat_scroll = if bottom { None } else { Some(0) },
        }
        Vec::new()
    }
}

pub(super) fn scroll(from: u16, delta: isize) -> u16 {
    let d = delta.unsigned_abs().min(u16::MAX as usize) as u16;
    if delta < 0 {
        from.saturating_sub(d)
    } else {
        from.saturating_add(d)
    }
}
