//! The latest results of the evaluation lab, kept in `<data dir>/eval/latest.json` so the
//! console's stats screen and the HTML report can show them; and the report itself — one
//! self-contained HTML file (inline CSS and SVG, no script, no network).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::metrics::{Confusion, ORDER, Rate, Reliability};
use super::replay::{BacktestSummary, FeedbackSummary};
use super::triage::ModeSummary;

/// The summary of an `eval triage` run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriageSummary {
    pub at: String,
    pub dataset: String,
    pub engine: String,
    pub modes: Vec<ModeSummary>,
    pub wall_ms: u64,
    pub divergent: usize,
    pub regressions: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lab {
    pub triage: Option<TriageSummary>,
    pub feedback: Option<FeedbackSummary>,
    pub backtest: Option<BacktestSummary>,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("eval").join("latest.json")
}

impl Lab {
    /// The latest results, or an empty lab when none were recorded (or the file is unreadable:
    /// the lab is a convenience, never a reason for the console to fail).
    pub fn load(data_dir: &Path) -> Lab {
        std::fs::read_to_string(path(data_dir))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let p = path(data_dir);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        let tmp = p.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, p)
    }

    /// Loads, applies `f`, saves.
    pub fn update(data_dir: &Path, f: impl FnOnce(&mut Lab)) -> std::io::Result<Lab> {
        let mut lab = Lab::load(data_dir);
        f(&mut lab);
        lab.save(data_dir)?;
        Ok(lab)
    }

    /// One line per result, for the stats screen.
    pub fn lines(&self) -> Vec<String> {
        let day = |at: &str| at.get(..10).unwrap_or(at).to_string();
        let mut out = Vec::new();
        if let Some(t) = &self.triage {
            let modes: Vec<String> = t
                .modes
                .iter()
                .map(|m| format!("{} {}", m.mode, m.passed.show()))
                .collect();
            out.push(format!(
                "Eval {} · {} · {}: passed {}{}",
                day(&t.at),
                file_name(&t.dataset),
                t.engine,
                modes.join(" · "),
                t.regressions
                    .map(|r| format!(" · {r} regression(s) against the baseline"))
                    .unwrap_or_default()
            ));
        }
        if let Some(f) = &self.feedback {
            out.push(format!(
                "Feedback replay {} · {}: later alerts {} with feedback, {} without{}",
                day(&f.at),
                f.engine,
                f.with.show(),
                f.without.show(),
                f.gain_points()
                    .map(|g| format!(" ({g:+.1} pts)"))
                    .unwrap_or_default()
            ));
        }
        if let Some(b) = &self.backtest {
            let cfgs: Vec<String> = b
                .configs
                .iter()
                .map(|c| {
                    format!(
                        "{} {}{}",
                        c.label,
                        c.agreement.show(),
                        c.reliability
                            .ece
                            .map(|e| format!(" ECE {e:.2}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            out.push(format!(
                "Backtest {} · {} reviewed alerts: {}",
                day(&b.at),
                b.alerts,
                cfgs.join(" vs ")
            ));
        }
        out
    }
}

impl Lab {
    /// All of it in one short line, for small terminals: `Lab: eval offline pipeline 52% ·
    /// feedback -1.5 pts · backtest 39% vs 41%`.
    pub fn compact(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(t) = &self.triage {
            let engine = t.engine.split(' ').next().unwrap_or(&t.engine);
            let names: Vec<&str> = t.modes.iter().map(|m| m.mode.as_str()).collect();
            let pcts: Vec<String> = t.modes.iter().map(|m| pct(&m.passed)).collect();
            parts.push(format!(
                "eval {engine} {} {}",
                names.join("/"),
                pcts.join("/")
            ));
        }
        if let Some(f) = &self.feedback {
            parts.push(format!(
                "feedback {}",
                f.gain_points()
                    .map_or("–".into(), |g| format!("{g:+.1} pts"))
            ));
        }
        if let Some(b) = &self.backtest {
            let a: Vec<String> = b.configs.iter().map(|c| pct(&c.agreement)).collect();
            parts.push(format!("backtest {}", a.join(" vs ")));
        }
        (!parts.is_empty()).then(|| format!("Lab: {}", parts.join(" · ")))
    }
}

fn file_name(p: &str) -> &str {
    Path::new(p)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or(p)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(r: &Rate) -> String {
    r.value()
        .map_or("–".into(), |v| format!("{:.0}%", v * 100.0))
}

fn confusion_table(h: &mut String, c: &Confusion) {
    let max = c.counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    h.push_str("<table class=cm><tr><th>analyst ↓ · tool →</th>");
    for l in ORDER {
        let _ = write!(h, "<th>{l}</th>");
    }
    h.push_str("</tr>");
    for (i, l) in ORDER.iter().enumerate() {
        let _ = write!(h, "<tr><th>{l}</th>");
        for (j, n) in c.counts[i].iter().enumerate() {
            let alpha = *n as f64 / max as f64 * 0.85;
            let hue = if i == j { "34,139,34" } else { "200,60,40" };
            let _ = write!(
                h,
                "<td style=\"background:rgba({hue},{alpha:.2})\">{n}</td>"
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

/// A reliability diagram: bars of accuracy per confidence bin against the diagonal.
fn reliability_svg(h: &mut String, r: &Reliability) {
    let (w, ht, pad) = (320.0, 240.0, 30.0);
    let (pw, ph) = (w - 2.0 * pad, ht - 2.0 * pad);
    let _ = write!(
        h,
        "<svg width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" role=img><title>reliability diagram</title>\
         <rect x=\"{pad}\" y=\"{pad}\" width=\"{pw}\" height=\"{ph}\" fill=none stroke=\"#999\"/>\
         <line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{pad}\" stroke=\"#999\" stroke-dasharray=\"4\"/>",
        pad + ph,
        pad + pw
    );
    for b in r.bins.iter().filter(|b| b.n > 0) {
        let x = pad + b.from * pw;
        let bw = (b.to - b.from) * pw - 2.0;
        let bh = b.accuracy * ph;
        let _ = write!(
            h,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"#3b6ea8\"><title>{:.1}–{:.1}: {} alerts, mean confidence {:.2}, right {:.0}%</title></rect>",
            x + 1.0,
            pad + ph - bh,
            b.from,
            b.to,
            b.n,
            b.mean_confidence,
            b.accuracy * 100.0
        );
    }
    let _ = write!(
        h,
        "<text x=\"{pad}\" y=\"{}\" font-size=11>0</text><text x=\"{}\" y=\"{}\" font-size=11>confidence 1.0</text>\
         <text x=\"2\" y=\"{}\" font-size=11>100%</text></svg>",
        ht - 10.0,
        w - pad - 70.0,
        ht - 10.0,
        pad + 4.0
    );
}

fn curve_svg(h: &mut String, with: &[f64], without: &[f64]) {
    let (w, ht, pad) = (480.0, 220.0, 30.0);
    let (pw, ph) = (w - 2.0 * pad, ht - 2.0 * pad);
    let path = |c: &[f64]| {
        let n = c.len().max(2) - 1;
        c.iter()
            .enumerate()
            .map(|(i, v)| {
                format!(
                    "{}{:.1},{:.1}",
                    if i == 0 { "M" } else { "L" },
                    pad + i as f64 / n as f64 * pw,
                    pad + (1.0 - v) * ph
                )
            })
            .collect::<String>()
    };
    let _ = write!(
        h,
        "<svg width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" role=img><title>cumulative agreement with and without feedback</title>\
         <rect x=\"{pad}\" y=\"{pad}\" width=\"{pw}\" height=\"{ph}\" fill=none stroke=\"#999\"/>\
         <path d=\"{}\" fill=none stroke=\"#999\" stroke-width=2 stroke-dasharray=\"5\"/>\
         <path d=\"{}\" fill=none stroke=\"#2a7d2a\" stroke-width=2/>\
         <text x=\"{pad}\" y=\"18\" font-size=11 fill=\"#2a7d2a\">— with feedback</text>\
         <text x=\"{}\" y=\"18\" font-size=11 fill=\"#777\">- - without</text>\
         <text x=\"2\" y=\"{}\" font-size=11>100%</text><text x=\"8\" y=\"{}\" font-size=11>0%</text></svg>",
        path(without),
        path(with),
        pad + 140.0,
        pad + 4.0,
        pad + ph
    );
}

fn rate_rows(h: &mut String, rows: &[(String, String, String)]) {
    for (a, b, c) in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(a),
            esc(b),
            esc(c)
        );
    }
}

/// The report: whatever the lab holds, each section saying when and on what it was measured.
pub fn html(lab: &Lab) -> String {
    let mut h = String::from(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>soc-copilot evaluation</title><style>\
         body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}\
         table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
         th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.cm td{min-width:4em;text-align:center}\
         .grid{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}.muted{color:#666}\
         </style></head><body><h1>soc-copilot evaluation</h1>",
    );
    if lab.triage.is_none() && lab.feedback.is_none() && lab.backtest.is_none() {
        h.push_str("<p>No results yet: run <code>soc-copilot eval triage</code>, <code>eval feedback</code> or <code>backtest</code>.</p>");
    }
    if let Some(t) = &lab.triage {
        let _ = write!(
            h,
            "<h2>Labelled cases</h2><p class=muted>{} · engine {} · {:.1} s · run {}</p>",
            esc(&t.dataset),
            esc(&t.engine),
            t.wall_ms as f64 / 1000.0,
            esc(&t.at)
        );
        for m in &t.modes {
            let _ = write!(
                h,
                "<h3>{} mode: {} of cases pass every invariant</h3>\
                 <p>In band {} · same level as the analyst {} · ECE {}</p><div class=grid><div><h4>Confusion matrix</h4>",
                esc(&m.mode),
                m.passed.show(),
                m.in_band.show(),
                m.exact.show(),
                m.reliability.ece.map_or("–".into(), |e| format!("{e:.3}"))
            );
            confusion_table(&mut h, &m.confusion);
            h.push_str("</div><div><h4>Reliability (right = in band)</h4>");
            reliability_svg(&mut h, &m.reliability);
            h.push_str("</div></div><h4>Per class</h4><table><tr><th>class</th><th>passed</th><th>rate</th></tr>");
            let rows: Vec<(String, String, String)> = m
                .per_class
                .iter()
                .map(|(c, r)| (c.clone(), format!("{}/{}", r.hits, r.total), pct(r)))
                .collect();
            rate_rows(&mut h, &rows);
            h.push_str("</table><h4>Failures by invariant</h4><table><tr><th>invariant</th><th>cases</th></tr>");
            for (k, n) in &m.failures_by_invariant {
                let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(k));
            }
            h.push_str("</table>");
        }
        if t.modes.len() > 1 {
            let _ = write!(
                h,
                "<p>{} case(s) diverge between the modes.</p>",
                t.divergent
            );
        }
    }
    if let Some(f) = &lab.feedback {
        let _ = write!(
            h,
            "<h2>Does feedback help?</h2><p class=muted>{} · engine {} ({}) · {} analyst(s) · first {} alerts only give feedback · run {}</p>\
             <p>Agreement with the analyst on the later alerts: <b>{}</b> with earlier feedback as precedent, {} without{}.\
             In band: {} with, {} without. Mean distance from the analyst's level: {} with, {} without. Feedback changed {} verdict(s): {} made right, {} made wrong.</p>",
            esc(&f.dataset),
            esc(&f.engine),
            esc(&f.mode),
            f.analysts,
            f.warmup,
            esc(&f.at),
            f.with.show(),
            f.without.show(),
            f.gain_points()
                .map(|g| format!(" ({g:+.1} points)"))
                .unwrap_or_default(),
            f.with_in_band.show(),
            f.without_in_band.show(),
            f.distance_with.map_or("–".into(), |d| format!("{d:.2}")),
            f.distance_without.map_or("–".into(), |d| format!("{d:.2}")),
            f.changed,
            f.fixed,
            f.broke
        );
        curve_svg(&mut h, &f.curve_with, &f.curve_without);
        h.push_str("<h4>Per class</h4><table><tr><th>class</th><th>with feedback</th><th>without</th></tr>");
        let rows: Vec<(String, String, String)> = f
            .per_group
            .iter()
            .map(|(g, (w, n))| (g.clone(), w.show(), n.show()))
            .collect();
        rate_rows(&mut h, &rows);
        h.push_str("</table>");
    }
    if let Some(b) = &lab.backtest {
        let _ = write!(
            h,
            "<h2>Backtest on reviewed history</h2><p class=muted>{} reviewed alerts{} · {:.1} s · run {}</p>\
             <table><tr><th>configuration</th><th>agreement</th><th>ECE</th><th>cost</th><th>p50 ms</th><th>p95 ms</th><th>errors</th></tr>",
            b.alerts,
            b.since
                .as_deref()
                .map(|s| format!(" since {}", esc(s)))
                .unwrap_or_default(),
            b.wall_ms as f64 / 1000.0,
            esc(&b.at)
        );
        for c in &b.configs {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>${:.4}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.label),
                c.agreement.show(),
                c.reliability.ece.map_or("–".into(), |e| format!("{e:.3}")),
                c.cost_usd,
                c.p50_latency_ms.map_or("–".into(), |v| v.to_string()),
                c.p95_latency_ms.map_or("–".into(), |v| v.to_string()),
                c.errors
            );
        }
        h.push_str("</table><div class=grid>");
        for c in &b.configs {
            let _ = write!(h, "<div><h4>{}</h4>", esc(&c.label));
            confusion_table(&mut h, &c.confusion);
            reliability_svg(&mut h, &c.reliability);
            h.push_str("<table><tr><th>source rule</th><th>alerts</th><th>FP rate</th></tr>");
            for r in c.fp_per_rule.iter().take(15) {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&r.rule),
                    r.alerts,
                    r.show_rate()
                );
            }
            h.push_str("</table></div>");
        }
        h.push_str("</div>");
    }
    h.push_str("</body></html>\n");
    h
}
