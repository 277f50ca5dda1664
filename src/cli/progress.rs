//! Progress bars on stderr (indicatif hides them when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

use soc_copilot::search::ingest::IngestObserver;

pub struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new() -> Self {
        Bars {
            bar: std::sync::Mutex::new(None),
        }
    }
}

pub fn bar(total: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

impl IngestObserver for Bars {
    fn stage(&self, name: &str) {
        if indicatif::ProgressDrawTarget::stderr().is_hidden() {
            return;
        }
        eprintln!("· {name}");
    }

    fn embedding_started(&self, total: usize) {
        let b = bar(
            total as u64,
            "  embedding [{bar:40}] {pos}/{len} passages ({eta} left)",
        );
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(b);
        }
    }

    fn embedded(&self, n: usize) {
        if let Ok(slot) = self.bar.lock()
            && let Some(b) = slot.as_ref()
        {
            b.inc(n as u64);
        }
    }

    fn embedding_finished(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(b) = slot.take()
        {
            b.finish_and_clear();
        }
    }
}
