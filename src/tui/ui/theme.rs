//! Colours and emphasis. With `NO_COLOR` set, only modifiers (bold, italic, reverse) remain.

use ratatui::style::{Color, Modifier, Style};

use crate::alert::Severity;
use crate::triage::Level;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Honours `NO_COLOR` (any non-empty value), per no-color.org.
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn plain(&self) -> Style {
        Style::new()
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn heading(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn code(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan)
    }

    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Text that came from the alert, which an attacker may have written.
    pub fn untrusted(&self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::ITALIC)
    }

    pub fn selected(&self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::Rgb(40, 50, 70))
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => Style::new().fg(Color::Cyan),
            (true, false) => Style::new().add_modifier(Modifier::BOLD),
            (false, _) => self.dim(),
        }
    }

    pub fn severity(&self, s: Option<Severity>) -> Style {
        self.fg(match s {
            Some(Severity::Critical) => Color::LightRed,
            Some(Severity::High) => Color::Red,
            Some(Severity::Medium) => Color::Yellow,
            Some(Severity::Low) => Color::Blue,
            _ => Color::Gray,
        })
    }

    pub fn level(&self, l: Level) -> Style {
        self.fg(match l {
            Level::Critical => Color::LightRed,
            Level::High => Color::Red,
            Level::Medium => Color::Yellow,
            Level::Low => Color::Blue,
            Level::Benign => Color::Green,
        })
        .add_modifier(Modifier::BOLD)
    }
}
