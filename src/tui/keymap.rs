//! Keys → Actions, per mode. The default bindings are one table; config (`[tui.keys]`)
//! overrides them by command name, and the help overlay is generated from the same table.
//! Panes never look at key codes.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::KeyList;
use crate::store::feedback::DownReason;
use crate::triage::Level;

use super::action::Action;
use super::state::Mode;

/// A key with the modifiers that matter (Ctrl, Alt). Shift is part of the character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chord {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Chord {
    pub fn from_event(k: &KeyEvent) -> Chord {
        let code = match k.code {
            KeyCode::Char(c) if k.modifiers.contains(KeyModifiers::SHIFT) => {
                KeyCode::Char(c.to_ascii_uppercase())
            }
            c => c,
        };
        Chord {
            code,
            ctrl: k.modifiers.contains(KeyModifiers::CONTROL),
            alt: k.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// Parses `j`, `G`, `+`, `Enter`, `Ctrl-c`, `Alt-Enter`, `Shift-Tab`, `F5`, `Space`.
    pub fn parse(s: &str) -> Result<Chord, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut shift = false;
        let mut rest = s.trim();
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 2 && (lower.starts_with("ctrl-") || lower.starts_with("ctrl+")) {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.len() > 2 && (lower.starts_with("alt-") || lower.starts_with("alt+")) {
                alt = true;
                rest = &rest[4..];
            } else if rest.len() > 2 && (lower.starts_with("shift-") || lower.starts_with("shift+"))
            {
                shift = true;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" if shift => KeyCode::BackTab,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "space" => KeyCode::Char(' '),
                f if f.starts_with('f')
                    && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
                {
                    KeyCode::F(f[1..].parse().unwrap_or(1))
                }
                _ => return Err(format!("unknown key {s:?}")),
            },
        };
        let code = match code {
            KeyCode::Char(c) if shift => KeyCode::Char(c.to_ascii_uppercase()),
            c => c,
        };
        Ok(Chord { code, ctrl, alt })
    }

    pub fn label(&self) -> String {
        let key = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        format!(
            "{}{}{key}",
            if self.ctrl { "Ctrl-" } else { "" },
            if self.alt { "Alt-" } else { "" }
        )
    }
}

#[derive(Debug, Clone)]
pub struct Binding {
    /// The name config uses (`thumbs_up`).
    pub name: &'static str,
    pub mode: Mode,
    pub keys: Vec<Chord>,
    pub help: &'static str,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

type Row = (
    &'static str,
    Mode,
    &'static [&'static str],
    &'static str,
    Action,
);

fn defaults() -> Vec<Row> {
    use Mode::*;
    let mut rows: Vec<Row> = vec![
        (
            "move_down",
            Normal,
            &["j", "Down"],
            "next alert (or scroll the pane in focus)",
            Action::Down,
        ),
        (
            "move_up",
            Normal,
            &["k", "Up"],
            "previous alert (or scroll)",
            Action::Up,
        ),
        (
            "page_down",
            Normal,
            &["PageDown", "Ctrl-d"],
            "ten down",
            Action::PageDown,
        ),
        (
            "page_up",
            Normal,
            &["PageUp", "Ctrl-u"],
            "ten up",
            Action::PageUp,
        ),
        (
            "top",
            Normal,
            &["g", "Home"],
            "first alert / top",
            Action::Top,
        ),
        (
            "bottom",
            Normal,
            &["G", "End"],
            "last alert / bottom",
            Action::Bottom,
        ),
        (
            "triage",
            Normal,
            &["Enter"],
            "triage the selected alert",
            Action::Triage,
        ),
        (
            "triage_all",
            Normal,
            &["a"],
            "triage every new alert (bounded concurrency)",
            Action::TriageAllNew,
        ),
        (
            "retriage",
            Normal,
            &["r"],
            "triage the selected alert again",
            Action::Retriage,
        ),
        (
            "triage_offline",
            Normal,
            &["o"],
            "triage the selected alert with the offline engine",
            Action::TriageOffline,
        ),
        (
            "retriage_failed",
            Normal,
            &["R"],
            "re-run every failed alert",
            Action::RetriageFailed { offline: false },
        ),
        (
            "retriage_failed_offline",
            Normal,
            &["O"],
            "re-run every failed alert with the offline engine",
            Action::RetriageFailed { offline: true },
        ),
        (
            "cancel",
            Normal,
            &["Esc"],
            "cancel the running stream (or clear the filter)",
            Action::Cancel,
        ),
        (
            "thumbs_up",
            Normal,
            &["+"],
            "thumbs up on the verdict",
            Action::ThumbsUp,
        ),
        (
            "thumbs_down",
            Normal,
            &["-"],
            "thumbs down, with a reason",
            Action::ThumbsDown,
        ),
        (
            "set_verdict",
            Normal,
            &["v"],
            "set your own verdict",
            Action::SetVerdict,
        ),
        (
            "note",
            Normal,
            &["N"],
            "add a note to the alert",
            Action::AddNote,
        ),
        (
            "chat",
            Normal,
            &["c", "i"],
            "ask a follow-up (the only way into the chat box)",
            Action::FocusChat,
        ),
        (
            "next_pane",
            Normal,
            &["Tab"],
            "next pane",
            Action::FocusNext,
        ),
        (
            "prev_pane",
            Normal,
            &["Shift-Tab"],
            "previous pane",
            Action::FocusPrev,
        ),
        (
            "next_tab",
            Normal,
            &["]", "Right"],
            "next evidence tab",
            Action::NextTab,
        ),
        (
            "prev_tab",
            Normal,
            &["[", "Left"],
            "previous evidence tab",
            Action::PrevTab,
        ),
        (
            "technique",
            Normal,
            &["t"],
            "technique detail",
            Action::TechniqueDetail,
        ),
        (
            "indicator_history",
            Normal,
            &["h"],
            "indicator history: earlier alerts",
            Action::IndicatorHistory,
        ),
        (
            "export",
            Normal,
            &["e"],
            "export the investigation as Markdown",
            Action::Export,
        ),
        (
            "preview",
            Normal,
            &["p"],
            "what is (or was) sent to the model",
            Action::Preview,
        ),
        (
            "stats",
            Normal,
            &["s"],
            "accuracy and eval statistics",
            Action::Stats,
        ),
        (
            "incidents",
            Normal,
            &["I"],
            "incident view: alerts grouped into incidents",
            Action::Incidents,
        ),
        (
            "handoff",
            Normal,
            &["x"],
            "hand off to a case system or a file",
            Action::OpenExport,
        ),
        (
            "detection",
            Normal,
            &["D"],
            "draft a Sigma rule from this confirmed alert",
            Action::DraftDetection,
        ),
        (
            "closures",
            Normal,
            &["C"],
            "alerts closed automatically ([autoclose])",
            Action::Closures,
        ),
        (
            "undo_closure",
            Normal,
            &["u"],
            "reopen an alert closed automatically",
            Action::UndoClosure,
        ),
        (
            "take_over",
            Normal,
            &["T"],
            "team: take over a colleague's alert (recorded)",
            Action::TakeOver,
        ),
        (
            "release",
            Normal,
            &["L"],
            "team: let go of the alert you hold",
            Action::Release,
        ),
        ("filter", Normal, &["/"], "filter the queue", Action::Filter),
        ("help", Normal, &["?"], "this help", Action::Help),
        (
            "quit",
            Normal,
            &["q", "Ctrl-c"],
            "quit (asks when streams run)",
            Action::Quit,
        ),
        (
            "chat_send",
            Chat,
            &["Enter"],
            "send the question",
            Action::ChatSend,
        ),
        (
            "chat_newline",
            Chat,
            &["Alt-Enter"],
            "new line in the question",
            Action::ChatNewline,
        ),
        (
            "chat_scroll_up",
            Chat,
            &["PageUp", "Ctrl-Up"],
            "scroll the conversation up",
            Action::ChatScroll(-5),
        ),
        (
            "chat_scroll_down",
            Chat,
            &["PageDown", "Ctrl-Down"],
            "scroll the conversation down (to the end follows it)",
            Action::ChatScroll(5),
        ),
        (
            "chat_next_pane",
            Chat,
            &["Tab"],
            "leave the chat box for the next pane",
            Action::FocusNext,
        ),
        (
            "chat_prev_pane",
            Chat,
            &["Shift-Tab"],
            "leave the chat box for the previous pane",
            Action::FocusPrev,
        ),
        (
            "chat_back",
            Chat,
            &["Esc"],
            "leave the chat box",
            Action::Back,
        ),
        (
            "popup_down",
            Popup,
            &["j", "Down"],
            "scroll down",
            Action::Down,
        ),
        ("popup_up", Popup, &["k", "Up"], "scroll up", Action::Up),
        (
            "popup_page_down",
            Popup,
            &["PageDown", "Space"],
            "page down",
            Action::PageDown,
        ),
        (
            "popup_page_up",
            Popup,
            &["PageUp"],
            "page up",
            Action::PageUp,
        ),
        ("popup_top", Popup, &["g", "Home"], "top", Action::Top),
        (
            "popup_bottom",
            Popup,
            &["G", "End"],
            "bottom",
            Action::Bottom,
        ),
        ("popup_close", Popup, &["Esc", "q"], "close", Action::Back),
        ("popup_help", Popup, &["?"], "toggle help", Action::Help),
        (
            "popup_stats",
            Popup,
            &["s"],
            "toggle statistics",
            Action::Stats,
        ),
        (
            "stats_scope",
            Popup,
            &["a"],
            "statistics: the whole team's or yours",
            Action::StatsScope,
        ),
        (
            "input_submit",
            Text,
            &["Enter"],
            "accept",
            Action::InputSubmit,
        ),
        ("input_cancel", Text, &["Esc"], "cancel", Action::Back),
        (
            "input_backspace",
            Text,
            &["Backspace"],
            "delete a character",
            Action::InputBackspace,
        ),
        (
            "confirm_quit",
            Confirm,
            &["y", "Enter"],
            "quit and cancel running streams",
            Action::ConfirmQuit,
        ),
        (
            "confirm_stay",
            Confirm,
            &["n", "Esc", "q"],
            "stay",
            Action::Back,
        ),
        (
            "reason_cancel",
            PickReason,
            &["Esc"],
            "cancel",
            Action::Back,
        ),
        (
            "verdict_cancel",
            PickVerdict,
            &["Esc"],
            "cancel",
            Action::Back,
        ),
    ];
    rows.extend([
        (
            "incident_down",
            Incidents,
            &["j", "Down"][..],
            "next incident (or alert, after Tab)",
            Action::Down,
        ),
        (
            "incident_up",
            Incidents,
            &["k", "Up"][..],
            "previous incident (or alert)",
            Action::Up,
        ),
        (
            "incident_top",
            Incidents,
            &["g", "Home"][..],
            "first",
            Action::Top,
        ),
        (
            "incident_bottom",
            Incidents,
            &["G", "End"][..],
            "last",
            Action::Bottom,
        ),
        (
            "incident_page_down",
            Incidents,
            &["PageDown", "Ctrl-d", "Space"][..],
            "scroll the incident's detail down",
            Action::PageDown,
        ),
        (
            "incident_page_up",
            Incidents,
            &["PageUp", "Ctrl-u"][..],
            "scroll the incident's detail up",
            Action::PageUp,
        ),
        (
            "incident_alerts",
            Incidents,
            &["Tab"][..],
            "between the incidents and the selected one's alerts",
            Action::IncidentAlerts,
        ),
        (
            "incident_triage",
            Incidents,
            &["Enter"][..],
            "triage the whole incident (one run)",
            Action::IncidentTriage,
        ),
        (
            "incident_split",
            Incidents,
            &["d"][..],
            "take the alert under the cursor out of the incident",
            Action::IncidentSplit,
        ),
        (
            "incident_merge",
            Incidents,
            &["m"][..],
            "mark; m on another incident merges the two",
            Action::IncidentMark,
        ),
        (
            "incident_handoff",
            Incidents,
            &["x"][..],
            "hand off the incident",
            Action::OpenExport,
        ),
        (
            "incident_detection",
            Incidents,
            &["D"][..],
            "draft a Sigma rule from the incident",
            Action::DraftDetection,
        ),
        (
            "incident_close",
            Incidents,
            &["I", "q"][..],
            "back to the queue",
            Action::Incidents,
        ),
        (
            "incident_back",
            Incidents,
            &["Esc"][..],
            "leave the alerts (or the view)",
            Action::Back,
        ),
        ("incident_help", Incidents, &["?"][..], "help", Action::Help),
        (
            "export_thehive",
            Export,
            &["1", "t"][..],
            "TheHive 5 alert (pushed)",
            Action::ExportTo(crate::handoff::Target::TheHive),
        ),
        (
            "export_iris",
            Export,
            &["2", "i"][..],
            "DFIR-IRIS alert (pushed)",
            Action::ExportTo(crate::handoff::Target::Iris),
        ),
        (
            "export_misp",
            Export,
            &["3", "m"][..],
            "MISP event (file)",
            Action::ExportTo(crate::handoff::Target::Misp),
        ),
        (
            "export_stix",
            Export,
            &["4", "s"][..],
            "STIX 2.1 bundle (file)",
            Action::ExportTo(crate::handoff::Target::Stix),
        ),
        (
            "export_markdown",
            Export,
            &["5", "d"][..],
            "Markdown report (file)",
            Action::ExportTo(crate::handoff::Target::Markdown),
        ),
        (
            "export_cancel",
            Export,
            &["Esc", "q"][..],
            "cancel",
            Action::Back,
        ),
        (
            "sigma_down",
            Sigma,
            &["j", "Down"][..],
            "scroll down",
            Action::Down,
        ),
        ("sigma_up", Sigma, &["k", "Up"][..], "scroll up", Action::Up),
        (
            "sigma_page_down",
            Sigma,
            &["PageDown", "Space"][..],
            "page down",
            Action::PageDown,
        ),
        (
            "sigma_page_up",
            Sigma,
            &["PageUp"][..],
            "page up",
            Action::PageUp,
        ),
        ("sigma_top", Sigma, &["g", "Home"][..], "top", Action::Top),
        (
            "sigma_bottom",
            Sigma,
            &["G", "End"][..],
            "bottom",
            Action::Bottom,
        ),
        (
            "sigma_save",
            Sigma,
            &["w"][..],
            "save the rule (only when it validates)",
            Action::SaveDetection,
        ),
        (
            "sigma_close",
            Sigma,
            &["Esc", "q"][..],
            "close without saving",
            Action::Back,
        ),
        (
            "closures_down",
            Closures,
            &["j", "Down"][..],
            "next closure",
            Action::Down,
        ),
        (
            "closures_up",
            Closures,
            &["k", "Up"][..],
            "previous closure",
            Action::Up,
        ),
        (
            "closures_top",
            Closures,
            &["g", "Home"][..],
            "first",
            Action::Top,
        ),
        (
            "closures_bottom",
            Closures,
            &["G", "End"][..],
            "last",
            Action::Bottom,
        ),
        (
            "closures_undo",
            Closures,
            &["u"][..],
            "reverse the selected closure",
            Action::UndoClosure,
        ),
        (
            "closures_close",
            Closures,
            &["Esc", "q", "C"][..],
            "close",
            Action::Back,
        ),
    ]);
    const REASONS: [(&str, &[&str], &str); 5] = [
        ("reason_wrong_verdict", &["1", "w"], "wrong verdict"),
        ("reason_wrong_techniques", &["2", "t"], "wrong techniques"),
        ("reason_invented_facts", &["3", "i"], "invented facts"),
        ("reason_missed_evidence", &["4", "m"], "missed evidence"),
        ("reason_other", &["5", "o"], "other"),
    ];
    for ((name, keys, help), r) in REASONS.into_iter().zip(DownReason::ALL) {
        rows.push((name, PickReason, keys, help, Action::PickReason(r)));
    }
    const VERDICTS: [(&str, &[&str], &str); 5] = [
        ("verdict_critical", &["1", "c"], "CRITICAL"),
        ("verdict_high", &["2", "h"], "HIGH"),
        ("verdict_medium", &["3", "m"], "MEDIUM"),
        ("verdict_low", &["4", "l"], "LOW"),
        ("verdict_benign", &["5", "b"], "BENIGN"),
    ];
    for ((name, keys, help), l) in VERDICTS.into_iter().zip(Level::ALL) {
        rows.push((name, PickVerdict, keys, help, Action::PickVerdict(l)));
    }
    rows
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = defaults()
            .into_iter()
            .map(|(name, mode, keys, help, action)| Binding {
                name,
                mode,
                // The table is ours and covered by a test; a bad entry would be dropped.
                keys: keys.iter().filter_map(|k| Chord::parse(k).ok()).collect(),
                help,
                action,
            })
            .collect();
        Keymap { bindings }
    }
}

impl Keymap {
    /// The defaults with `[tui.keys]` applied. Errors name the command or the key.
    /// A key given to a command is taken from the other commands of its mode, so what the
    /// analyst chose always wins over a default (one added later included); two commands
    /// given the same key in one mode is an error.
    pub fn with_overrides(overrides: &BTreeMap<String, KeyList>) -> Result<Keymap, String> {
        let mut map = Keymap::default();
        let mut chosen: Vec<(Mode, Chord, &str)> = Vec::new();
        for (name, keys) in overrides {
            let Some(b) = map.bindings.iter_mut().find(|b| b.name == name) else {
                return Err(format!(
                    "[tui.keys] {name}: no such command; the help screen (?) lists the names"
                ));
            };
            b.keys = keys
                .keys()
                .iter()
                .map(|k| Chord::parse(k).map_err(|e| format!("[tui.keys] {name}: {e}")))
                .collect::<Result<_, _>>()?;
            for k in &b.keys {
                if let Some((_, _, other)) = chosen.iter().find(|(m, c, _)| *m == b.mode && c == k)
                {
                    return Err(format!(
                        "[tui.keys] {name} and {other} both use {}; give one of them another key",
                        k.label()
                    ));
                }
                chosen.push((b.mode, *k, name.as_str()));
            }
        }
        for b in &mut map.bindings {
            if overrides.contains_key(b.name) {
                continue;
            }
            b.keys
                .retain(|k| !chosen.iter().any(|(m, c, _)| *m == b.mode && c == k));
        }
        Ok(map)
    }

    pub fn action(&self, mode: Mode, key: &KeyEvent) -> Option<Action> {
        let chord = Chord::from_event(key);
        self.bindings
            .iter()
            .find(|b| b.mode == mode && b.keys.contains(&chord))
            .map(|b| b.action.clone())
    }

    /// Keys bound to a command, as shown in hints (`+`, `Ctrl-c`).
    pub fn keys_for(&self, name: &str) -> String {
        self.bindings
            .iter()
            .find(|b| b.name == name)
            .map(|b| {
                b.keys
                    .iter()
                    .map(Chord::label)
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn every_default_key_parses_and_no_key_is_bound_twice_in_a_mode() {
        for (name, mode, keys, _, _) in defaults() {
            for k in keys {
                assert!(Chord::parse(k).is_ok(), "{name}: {k}");
            }
            let _ = mode;
        }
        let map = Keymap::default();
        let mut seen = std::collections::HashSet::new();
        for b in &map.bindings {
            for k in &b.keys {
                assert!(
                    seen.insert((b.mode, *k)),
                    "{} rebinds {:?} in {:?}",
                    b.name,
                    k,
                    b.mode
                );
            }
        }
    }

    #[test]
    fn keys_decode_per_mode() {
        let map = Keymap::default();
        let enter = key(KeyCode::Enter, KeyModifiers::NONE);
        assert!(matches!(
            map.action(Mode::Normal, &enter),
            Some(Action::Triage)
        ));
        assert!(matches!(
            map.action(Mode::Chat, &enter),
            Some(Action::ChatSend)
        ));
        assert!(matches!(
            map.action(Mode::Text, &enter),
            Some(Action::InputSubmit)
        ));
        let shift_g = key(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert!(matches!(
            map.action(Mode::Normal, &shift_g),
            Some(Action::Bottom)
        ));
        let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(matches!(
            map.action(Mode::Normal, &ctrl_c),
            Some(Action::Quit)
        ));
        let w = key(KeyCode::Char('w'), KeyModifiers::NONE);
        assert!(matches!(
            map.action(Mode::PickReason, &w),
            Some(Action::PickReason(DownReason::WrongVerdict))
        ));
        assert!(
            map.action(Mode::Chat, &key(KeyCode::Char('j'), KeyModifiers::NONE))
                .is_none()
        );
    }

    #[test]
    fn config_remaps_by_name_and_rejects_unknown_names_and_keys() {
        let mut o = BTreeMap::new();
        o.insert(
            "thumbs_up".to_string(),
            KeyList::Many(vec!["y".into(), "Ctrl-y".into()]),
        );
        let map = Keymap::with_overrides(&o).unwrap();
        let y = key(KeyCode::Char('y'), KeyModifiers::NONE);
        assert!(matches!(
            map.action(Mode::Normal, &y),
            Some(Action::ThumbsUp)
        ));
        assert!(
            map.action(Mode::Normal, &key(KeyCode::Char('+'), KeyModifiers::NONE))
                .is_none()
        );
        assert_eq!(map.keys_for("thumbs_up"), "y/Ctrl-y");

        let mut bad = BTreeMap::new();
        bad.insert("thumbs_sideways".to_string(), KeyList::One("x".into()));
        assert!(
            Keymap::with_overrides(&bad)
                .unwrap_err()
                .contains("thumbs_sideways")
        );
        let mut bad = BTreeMap::new();
        bad.insert("quit".to_string(), KeyList::One("Hyper-q".into()));
        assert!(
            Keymap::with_overrides(&bad)
                .unwrap_err()
                .contains("Hyper-q")
        );
    }

    /// A key the analyst gives a command wins over every default of that mode, whatever
    /// the order of the table (defaults added later included); two commands given one key
    /// in a mode are refused.
    #[test]
    fn a_chosen_key_wins_over_every_default_of_its_mode() {
        let k = |c| key(KeyCode::Char(c), KeyModifiers::NONE);
        let map = Keymap::default();
        // Every default key of every mode, given to the last command of that mode.
        for b in &map.bindings {
            let Some(last) = map.bindings.iter().rev().find(|x| x.mode == b.mode) else {
                continue;
            };
            if last.name == b.name {
                continue;
            }
            for chord in &b.keys {
                // Arrow labels (↑) are not names config can use: those keys are skipped.
                if Chord::parse(&chord.label()).ok() != Some(*chord) {
                    continue;
                }
                let mut o = BTreeMap::new();
                o.insert(last.name.to_string(), KeyList::One(chord.label()));
                let m = Keymap::with_overrides(&o).unwrap();
                let pressed = KeyEvent::new(
                    chord.code,
                    if chord.ctrl {
                        KeyModifiers::CONTROL
                    } else if chord.alt {
                        KeyModifiers::ALT
                    } else {
                        KeyModifiers::NONE
                    },
                );
                let got = m.action(b.mode, &pressed).map(|a| format!("{a:?}"));
                assert_eq!(
                    got,
                    Some(format!("{:?}", last.action)),
                    "{} given to {} in {:?}",
                    chord.label(),
                    last.name,
                    b.mode
                );
            }
        }
        let mut both = BTreeMap::new();
        both.insert("filter".to_string(), KeyList::One("T".into()));
        both.insert("help".to_string(), KeyList::One("T".into()));
        let e = Keymap::with_overrides(&both).unwrap_err();
        assert!(e.contains("filter") && e.contains("help"), "{e}");
        // The plain case the class came from: `T` for the filter, past the team keys.
        let mut o = BTreeMap::new();
        o.insert("filter".to_string(), KeyList::One("T".into()));
        let m = Keymap::with_overrides(&o).unwrap();
        assert!(matches!(
            m.action(Mode::Normal, &k('T')),
            Some(Action::Filter)
        ));
    }
}
