//! Key-to-frame latency while ten streams deliver 200 tokens/s each: per frame interval
//! (16 ms) every stream delivers its tokens as Actions, the analyst presses a key, and the
//! whole console is drawn (160×45 and 80×24). Criterion reports the mean/median; the p99
//! over the same loop is printed alongside, since that is the target.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use soc_copilot::alert::load_paths;
use soc_copilot::tui::keymap::Keymap;
use soc_copilot::tui::state::{LoadedItem, State};
use soc_copilot::tui::ui::Theme;
use soc_copilot::tui::{Action, Console, Effect, RunId};

const STREAMS: usize = 10;
const TOKENS_PER_SEC: usize = 200;
const FRAME_MS: usize = 16;
/// Restart the streams after about ten seconds of output (~2,000 tokens each).
const FRAMES_PER_RUN: usize = 600;

fn queue() -> Vec<LoadedItem> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/queue");
    LoadedItem::fresh(load_paths(&[dir]).alerts)
}

struct Flood {
    console: Console,
    runs: Vec<(usize, RunId)>,
    frame: usize,
    down: bool,
}

impl Flood {
    fn new() -> Flood {
        let mut console = Console::new(
            State::new("anthropic · bench", "bench"),
            Keymap::default(),
            Theme { color: true },
        );
        console.dispatch(Action::KbReady {
            description: "bench".into(),
        });
        console.dispatch(Action::QueueLoaded {
            items: queue(),
            errors: vec![],
        });
        let mut f = Flood {
            console,
            runs: Vec::new(),
            frame: 0,
            down: true,
        };
        f.start();
        f
    }

    fn start(&mut self) {
        self.console.dispatch(Action::Top);
        self.runs.clear();
        for _ in 0..STREAMS {
            for e in self.console.dispatch(Action::Retriage) {
                if let Effect::Triage { item, run, .. } = e {
                    self.runs.push((item, run));
                }
            }
            self.console.dispatch(Action::Down);
        }
    }

    /// One frame interval: the tokens that arrive in 16 ms, one key, one draw.
    fn step(&mut self, term: &mut Terminal<TestBackend>) {
        self.frame += 1;
        if self.frame.is_multiple_of(FRAMES_PER_RUN) {
            for (item, run) in self.runs.clone() {
                self.console.dispatch(Action::TriageFailed {
                    item,
                    run,
                    error: "restart".into(),
                });
            }
            self.start();
        }
        let per_frame = STREAMS * TOKENS_PER_SEC * FRAME_MS / 1000;
        for i in 0..per_frame {
            let (item, run) = self.runs[i % self.runs.len()];
            self.console.dispatch(Action::ReasoningDelta {
                item,
                run,
                text: "tok ".into(),
            });
        }
        // Move through the streaming alerts, back and forth.
        let sel = self.console.state.selected;
        if sel == 0 {
            self.down = true;
        } else if sel >= STREAMS - 1 {
            self.down = false;
        }
        let code = if self.down {
            KeyCode::Char('j')
        } else {
            KeyCode::Char('k')
        };
        self.console.key(KeyEvent::new(code, KeyModifiers::NONE));
        term.draw(|f| self.console.draw(f)).ok();
    }
}

fn p99(w: u16, h: u16) -> (Duration, Duration) {
    let mut flood = Flood::new();
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let mut samples: Vec<Duration> = (0..3000)
        .map(|_| {
            let t = Instant::now();
            flood.step(&mut term);
            t.elapsed()
        })
        .collect();
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

fn bench(c: &mut Criterion) {
    for (w, h) in [(160u16, 45u16), (80, 24)] {
        let (p50, p99) = p99(w, h);
        println!(
            "key-to-frame {w}x{h} with {STREAMS} streams x {TOKENS_PER_SEC} tok/s: p50 {p50:?}, p99 {p99:?}"
        );
        let mut flood = Flood::new();
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        c.bench_function(&format!("key_to_frame_token_flood_{w}x{h}"), |b| {
            b.iter(|| flood.step(&mut term))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
