//! The terminal's lifecycle in one place: enter raw mode and the alternate screen, leave
//! them, and a panic hook that restores the terminal before the previous hook prints.

use std::io::{self, Stdout, stdout};
use std::sync::Once;

use crossterm::cursor::Show;
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

static HOOK: Once = Once::new();

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = leave();
            tracing::error!("panic: {info}");
            previous(info);
        }));
    });
}

pub fn enter() -> io::Result<Term> {
    install_panic_hook();
    enable_raw_mode()?;
    if let Err(e) = execute!(stdout(), EnterAlternateScreen, EnableBracketedPaste) {
        let _ = leave();
        return Err(e);
    }
    let mut t = Terminal::new(CrosstermBackend::new(stdout()))?;
    // Once, on entry; after this only changed cells are written.
    t.clear()?;
    Ok(t)
}

/// Restores the terminal; safe to call twice (the panic hook may already have).
pub fn leave() -> io::Result<()> {
    let raw = disable_raw_mode();
    execute!(stdout(), DisableBracketedPaste, LeaveAlternateScreen, Show)?;
    raw
}
