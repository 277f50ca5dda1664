//! The analyst console: a ratatui front end over the engine. `state` is the pure model
//! (`update(Action) -> Vec<Effect>`), `ui` draws it, `workers` perform effects, `app` runs
//! the loop, `keymap` decodes keys, `terminal` owns the terminal's lifecycle.

pub mod action;
pub mod app;
pub mod console;
pub mod effect;
pub mod export;
pub mod keymap;
pub mod state;
pub mod terminal;
pub mod ui;
pub mod workers;

pub use action::{Action, ItemId, RunId};
pub use app::{ExitAfter, Options, run};
pub use console::Console;
pub use effect::Effect;
pub use state::State;
