//! The console as a value: state, keymap, the chat input box and the theme. Keys go through
//! the keymap (per mode) to Actions; in the chat box, keys the keymap does not claim are
//! typing. Tests drive this without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders};
use tui_textarea::TextArea;

use super::action::Action;
use super::effect::Effect;
use super::keymap::Keymap;
use super::state::{Mode, State};
use super::ui::{self, Theme, View};

pub struct Console {
    pub state: State,
    pub keymap: Keymap,
    pub input: TextArea<'static>,
    pub theme: Theme,
}

fn new_input(theme: &Theme) -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_block(
        Block::default()
            .borders(Borders::TOP)
            .border_style(theme.dim())
            .title("question"),
    );
    t.set_cursor_line_style(Style::default());
    t.set_placeholder_text("Ask a follow-up question about this alert…");
    t
}

impl Console {
    pub fn new(state: State, keymap: Keymap, theme: Theme) -> Console {
        Console {
            input: new_input(&theme),
            state,
            keymap,
            theme,
        }
    }

    pub fn dispatch(&mut self, action: Action) -> Vec<Effect> {
        if let Action::ChatNewline = action {
            self.input.insert_newline();
            self.state.dirty = true;
            return Vec::new();
        }
        if let Action::ChatSend = action {
            let text = self.input.lines().join("\n");
            if text.trim().is_empty() {
                return Vec::new();
            }
            self.input = new_input(&self.theme);
            return self.state.update(Action::ChatSubmit(text));
        }
        self.state.update(action)
    }

    pub fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let mode = self.state.mode();
        // Shift-Enter, where the terminal reports it, is a newline like Alt-Enter (the
        // keymap ignores Shift on keys that are not characters).
        if mode == Mode::Chat
            && key.code == KeyCode::Enter
            && key.modifiers.contains(KeyModifiers::SHIFT)
        {
            return self.dispatch(Action::ChatNewline);
        }
        if let Some(a) = self.keymap.action(mode, &key) {
            return self.dispatch(a);
        }
        match mode {
            Mode::Chat => {
                self.input.input(key);
                self.state.dirty = true;
                Vec::new()
            }
            Mode::Text => match key.code {
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.dispatch(Action::InputChar(c))
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Pasted text goes to whatever input has focus.
    pub fn paste(&mut self, text: &str) -> Vec<Effect> {
        match self.state.mode() {
            Mode::Chat => {
                self.input
                    .insert_str(crate::alert::sanitize::sanitize(text));
                self.state.dirty = true;
                Vec::new()
            }
            Mode::Text => text
                .chars()
                .filter(|c| !c.is_control())
                .flat_map(|c| self.dispatch(Action::InputChar(c)))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn draw(&self, f: &mut Frame) {
        let view = View {
            state: &self.state,
            keymap: &self.keymap,
            input: &self.input,
            theme: self.theme,
        };
        ui::draw(f, &view);
    }
}
