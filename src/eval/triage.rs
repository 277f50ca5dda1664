//! Verdict quality on labelled alerts: each case states invariants a good verdict meets (a
//! verdict band, technique families that must and must not appear, escalation, actions or
//! pivots that must be suggested, an injection flag, an intel finding), not an exact output.
//! A run triages every case through the real pipeline in a scratch store, checks each
//! invariant, and compares with a stored earlier run to catch regressions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::load::LoadedAlert;
use crate::alert::parse::{from_json, from_text};
use crate::intel::IntelRecord;
use crate::search::KnowledgeBase;
use crate::store::StorePool;
use crate::triage::engine::TriageMode;
use crate::triage::events::Quiet;
use crate::triage::verdict::Level;
use crate::triage::{Engine, Pipeline, Request, TriageOutcome, TriageParams};

use super::metrics::{Confusion, Rate, Reliability, reliability};

/// An acceptable verdict: one level or an inclusive band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Band {
    pub low: Level,
    pub high: Level,
}

impl Band {
    /// `HIGH`, or `LOW..HIGH` (either order).
    pub fn parse(s: &str) -> Option<Band> {
        let (a, b) = match s.split_once("..") {
            Some((a, b)) => (Level::parse(a)?, Level::parse(b)?),
            None => {
                let l = Level::parse(s)?;
                (l, l)
            }
        };
        Some(Band {
            low: a.min(b),
            high: a.max(b),
        })
    }

    pub fn contains(&self, l: Level) -> bool {
        self.low <= l && l <= self.high
    }
}

impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}..{}", self.low, self.high)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectIntel {
    pub indicator: String,
    pub verdict: String,
}

/// What a good verdict on a case does.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub verdict: Band,
    pub families_any: Vec<String>,
    pub families_none: Vec<String>,
    pub escalate: Option<bool>,
    pub must_suggest: Vec<Vec<String>>,
    pub injection: bool,
    pub intel: Option<ExpectIntel>,
}

/// One labelled alert.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub class: String,
    pub shape: String,
    pub time: String,
    pub alert: Arc<LoadedAlert>,
    /// The single level an analyst gives it.
    pub analyst: Level,
    pub expect: Expect,
}

/// The cases of a dataset, and the lines that could not be read (each naming file, line and
/// field): one bad line never stops the rest.
#[derive(Debug, Default)]
pub struct Dataset {
    pub cases: Vec<Case>,
    pub errors: Vec<String>,
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("field `{name}` is missing"))
}

fn string(v: &Value, name: &str) -> Result<String, String> {
    field(v, name)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("field `{name}` must be a string"))
}

fn strings(v: &Value, name: &str) -> Result<Vec<String>, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(|s| s.trim().to_ascii_uppercase())
                    .ok_or_else(|| format!("`{name}` must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("`{name}` must be a list of strings")),
    }
}

fn parse_expect(e: &Value) -> Result<Expect, String> {
    let band = string(e, "verdict").map_err(|m| format!("expect.{m}"))?;
    let verdict = Band::parse(&band).ok_or_else(|| {
        format!("expect.verdict {band:?} is not a level or a band like HIGH..CRITICAL")
    })?;
    let must_suggest = match e.get("must_suggest") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(sets)) => sets
            .iter()
            .map(|set| {
                set.as_array()
                    .map(|kws| {
                        kws.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_lowercase)
                            .collect::<Vec<_>>()
                    })
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| {
                        "expect.must_suggest must be a list of keyword lists".to_string()
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("expect.must_suggest must be a list of keyword lists".into()),
    };
    let escalate = match e.get("escalate") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err("expect.escalate must be true, false or null".into()),
    };
    let intel = match e.get("intel") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<ExpectIntel>(v.clone()).map_err(|err| {
                format!("expect.intel: {err} (use {{\"indicator\", \"verdict\"}})")
            })?,
        ),
    };
    Ok(Expect {
        verdict,
        families_any: strings(e, "families_any").map_err(|m| format!("expect.{m}"))?,
        families_none: strings(e, "families_none").map_err(|m| format!("expect.{m}"))?,
        escalate,
        must_suggest,
        injection: e.get("injection").and_then(Value::as_bool).unwrap_or(false),
        intel,
    })
}

/// A time as the store writes them (UTC, RFC 3339 with milliseconds), so times sort in
/// order: an RFC 3339 time with any offset, or a `YYYY-MM-DD` date (its midnight, UTC).
pub fn utc_key(s: &str) -> Option<String> {
    let s = s.trim();
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// `time`, which orders the queue.
fn queue_time(v: &Value) -> Result<String, String> {
    let s = string(v, "time")?;
    utc_key(&s).ok_or_else(|| {
        format!(
            "field `time` {s:?} must be an RFC 3339 time or a YYYY-MM-DD date (it orders the queue)"
        )
    })
}

/// A label from the dataset, on one line (it is printed and used as a key).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn parse_case(line: &str, origin: &str) -> Result<Case, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let id = one_line(&string(&v, "id")?);
    let mut alert = match (v.get("alert"), v.get("alert_text")) {
        (Some(a @ Value::Object(_)), _) => from_json(a),
        (_, Some(Value::String(t))) => from_text(t, Some(&id)),
        _ => return Err("needs `alert` (an object) or `alert_text` (a string)".into()),
    };
    if alert.is_empty() {
        return Err(crate::alert::load::EMPTY_ALERT.into());
    }
    alert.id = id.clone();
    let raw = v
        .get("alert")
        .or_else(|| v.get("alert_text"))
        .map(Value::to_string)
        .unwrap_or_default();
    let expect = parse_expect(field(&v, "expect")?)?;
    let analyst = match v.get("analyst_verdict").and_then(Value::as_str) {
        Some(s) => Level::parse(s)
            .ok_or_else(|| format!("analyst_verdict {s:?} is not a verdict level"))?,
        None => expect.verdict.high,
    };
    Ok(Case {
        class: one_line(
            v.get("class")
                .and_then(Value::as_str)
                .unwrap_or("unclassified"),
        ),
        shape: one_line(v.get("shape").and_then(Value::as_str).unwrap_or("")),
        time: queue_time(&v)?,
        alert: Arc::new(LoadedAlert {
            alert,
            raw,
            origin: origin.to_string(),
        }),
        id,
        analyst,
        expect,
    })
}

/// Reads a dataset; cases come back in time order (the order a queue would see them).
pub fn read_dataset(path: &Path) -> std::io::Result<Dataset> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Dataset::default();
    let mut seen = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let origin = format!("{}:{}", path.display(), i + 1);
        match parse_case(line, &origin) {
            Ok(c) if !seen.insert(c.id.clone()) => {
                out.errors.push(format!(
                    "{origin}: id {:?} is used twice; ids must be unique",
                    c.id
                ));
            }
            Ok(c) => out.cases.push(c),
            Err(e) => out.errors.push(format!("{origin}: {e}")),
        }
    }
    out.cases.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(out)
}

/// What a triage produced, reduced to what invariants look at.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub verdict: Option<Level>,
    pub confidence: f64,
    pub techniques: Vec<String>,
    pub escalate: bool,
    pub actions: Vec<String>,
    pub queries: Vec<String>,
    pub injection_flagged: bool,
    /// The investigation lines and tool outputs the engine saw.
    pub findings: Vec<String>,
    pub latency_ms: u64,
    pub cost_usd: f64,
    pub tool_calls: usize,
    pub error: Option<String>,
}

impl Observed {
    pub fn from_outcome(o: &TriageOutcome) -> Observed {
        let v = &o.verdict;
        let p = &o.provenance;
        let mut findings = p.investigation.clone();
        findings.extend(
            p.tool_calls
                .iter()
                .filter(|t| !t.is_error)
                .map(|t| t.output.clone()),
        );
        Observed {
            verdict: Some(v.verdict),
            confidence: v.confidence,
            techniques: v.matched_techniques.iter().map(|t| t.id.clone()).collect(),
            escalate: v.escalation.recommended,
            actions: v.recommended_actions.clone(),
            queries: v
                .investigation_queries
                .iter()
                .map(|q| format!("{} {}", q.query, q.purpose))
                .collect(),
            injection_flagged: !v.injection_flags.is_empty()
                || p.tool_calls.iter().any(|t| !t.injection_flags.is_empty()),
            findings,
            latency_ms: p.latency_ms,
            cost_usd: p.cost_usd,
            tool_calls: p.tool_calls.len(),
            error: None,
        }
    }

    pub fn failed(error: String) -> Observed {
        Observed {
            error: Some(error),
            ..Observed::default()
        }
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// `verdict_band`, `families_any`, `families_none`, `escalate`, `must_suggest`,
    /// `injection_flag`, `no_injection_flag`, `intel`, `triage`.
    pub invariant: String,
    pub detail: String,
}

fn family(id: &str) -> String {
    id.split('.').next().unwrap_or(id).to_ascii_uppercase()
}

fn fail(out: &mut Vec<Failure>, invariant: &str, detail: String) {
    out.push(Failure {
        invariant: invariant.into(),
        detail,
    });
}

/// Every invariant of `e` that `o` breaks.
pub fn check(e: &Expect, o: &Observed) -> Vec<Failure> {
    let mut out = Vec::new();
    let Some(level) = o.verdict else {
        fail(
            &mut out,
            "triage",
            format!(
                "no verdict: {}",
                o.error.as_deref().unwrap_or("the triage failed")
            ),
        );
        return out;
    };
    if !e.verdict.contains(level) {
        fail(
            &mut out,
            "verdict_band",
            format!("verdict {level} is outside {}", e.verdict),
        );
    }
    let families: BTreeSet<String> = o.techniques.iter().map(|t| family(t)).collect();
    if !e.families_any.is_empty() && !e.families_any.iter().any(|f| families.contains(&family(f))) {
        fail(
            &mut out,
            "families_any",
            format!(
                "none of {} among the matched techniques [{}]",
                e.families_any.join(", "),
                o.techniques.join(", ")
            ),
        );
    }
    let forbidden: Vec<&String> = e
        .families_none
        .iter()
        .filter(|f| families.contains(&family(f)))
        .collect();
    if !forbidden.is_empty() {
        fail(
            &mut out,
            "families_none",
            format!(
                "cited {} which must not appear",
                forbidden
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if let Some(want) = e.escalate
        && want != o.escalate
    {
        fail(
            &mut out,
            "escalate",
            format!(
                "escalation {} but the case says {}",
                if o.escalate {
                    "recommended"
                } else {
                    "not recommended"
                },
                if want { "escalate" } else { "do not escalate" }
            ),
        );
    }
    let suggestions: Vec<String> = o
        .actions
        .iter()
        .chain(&o.queries)
        .map(|s| s.to_lowercase())
        .collect();
    for set in &e.must_suggest {
        if !suggestions
            .iter()
            .any(|s| set.iter().all(|k| s.contains(k.as_str())))
        {
            fail(
                &mut out,
                "must_suggest",
                format!("no action or query mentions all of [{}]", set.join(", ")),
            );
        }
    }
    if e.injection && !o.injection_flagged {
        fail(
            &mut out,
            "injection_flag",
            "the alert carries a prompt-injection attempt that was not flagged".into(),
        );
    }
    if !e.injection && o.injection_flagged {
        fail(
            &mut out,
            "no_injection_flag",
            "prompt injection was flagged in an alert that has none".into(),
        );
    }
    if let Some(i) = &e.intel {
        let (ind, verdict) = (i.indicator.to_lowercase(), i.verdict.to_lowercase());
        if !o.findings.iter().any(|f| {
            let f = f.to_lowercase();
            f.contains(&ind) && f.contains(&verdict)
        }) {
            fail(
                &mut out,
                "intel",
                format!("no intel finding says {} is {}", i.indicator, i.verdict),
            );
        }
    }
    out
}

/// One case in one mode with one engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    pub class: String,
    pub shape: String,
    pub mode: String,
    pub engine: String,
    pub analyst: Level,
    pub band: String,
    pub pass: bool,
    pub failures: Vec<Failure>,
    pub observed: Observed,
}

impl CaseResult {
    /// `pa-04 [offline/pipeline] injection_flag: …`, one line per failure.
    pub fn failure_lines(&self) -> Vec<String> {
        self.failures
            .iter()
            .map(|f| {
                format!(
                    "{} [{}/{}] {}: {}",
                    self.id, self.engine, self.mode, f.invariant, f.detail
                )
            })
            .collect()
    }
}

/// One spend counter for a whole evaluation command (every mode, arm, configuration and
/// trial), started from what model triage already spent today: runs stop once the daily
/// cap (`[triage] daily_cost_usd`) is reached, however many scratch stores they use.
#[derive(Clone, Default)]
pub struct CostMeter {
    inner: Arc<std::sync::Mutex<(f64, f64)>>,
}

impl CostMeter {
    /// `cap` 0 = none.
    pub fn new(cap: f64, spent_today: f64) -> CostMeter {
        CostMeter {
            inner: Arc::new(std::sync::Mutex::new((spent_today.max(0.0), cap.max(0.0)))),
        }
    }

    fn read(&self) -> (f64, f64) {
        self.inner.lock().map(|g| *g).unwrap_or((0.0, 0.0))
    }

    pub fn add(&self, usd: f64) {
        if let Ok(mut g) = self.inner.lock() {
            g.0 += usd.max(0.0);
        }
    }

    pub fn exhausted(&self) -> bool {
        let (spent, cap) = self.read();
        cap > 0.0 && spent >= cap
    }

    /// `$25.02 spent of the $25.00 daily cap`.
    pub fn line(&self) -> String {
        let (spent, cap) = self.read();
        format!("${spent:.2} spent of the ${cap:.2} daily cap ([triage] daily_cost_usd)")
    }
}

/// What every evaluation run needs: the knowledge base, the engine, the retrieval settings,
/// the offline feeds imported into each scratch store, and the command's cost meter.
#[derive(Clone)]
pub struct Bench {
    pub kb: Arc<KnowledgeBase>,
    pub engine: Arc<dyn Engine>,
    pub params: TriageParams,
    pub feeds: Vec<IntelRecord>,
    pub meter: CostMeter,
}

impl Bench {
    /// A pipeline on a fresh store in `dir` (with the feeds imported): nothing an evaluation
    /// does reaches the analyst's own history. Remote intel is off: runs must repeat.
    pub fn scratch(&self, dir: &Path) -> anyhow::Result<Pipeline> {
        std::fs::create_dir_all(dir)?;
        let stores = Arc::new(StorePool::new(dir.to_path_buf()));
        if !self.feeds.is_empty() {
            stores.get()?.import_intel(&self.feeds)?;
        }
        Ok(Pipeline {
            kb: self.kb.clone(),
            stores,
            engine: self.engine.clone(),
            params: self.params,
            intel: None,
        })
    }
}

/// Triages one alert through `pipeline` and returns what invariants look at.
pub async fn observe(
    pipeline: &Pipeline,
    alert: Arc<LoadedAlert>,
    mode: TriageMode,
) -> (Observed, Option<TriageOutcome>) {
    let req = Request {
        mode: Some(mode),
        ..Request::new(alert)
    };
    match pipeline.run(req, &mut Quiet).await {
        Ok(o) => (Observed::from_outcome(&o), Some(o)),
        Err(e) => (Observed::failed(e.to_string()), None),
    }
}

/// Runs every case (in time order, one scratch store per mode) and checks it; stops early
/// (fewer results than cases) once the cost meter is spent.
pub async fn run_cases(
    bench: &Bench,
    cases: &[Case],
    mode: TriageMode,
    scratch: &Path,
    mut progress: impl FnMut(&CaseResult),
) -> anyhow::Result<Vec<CaseResult>> {
    let pipeline = bench.scratch(&scratch.join(mode.as_str()))?;
    let engine = bench.engine.name().to_string();
    let mut out = Vec::with_capacity(cases.len());
    for c in cases {
        if bench.meter.exhausted() {
            break;
        }
        let (observed, _) = observe(&pipeline, c.alert.clone(), mode).await;
        bench.meter.add(observed.cost_usd);
        let failures = check(&c.expect, &observed);
        let r = CaseResult {
            id: c.id.clone(),
            class: c.class.clone(),
            shape: c.shape.clone(),
            mode: mode.as_str().into(),
            engine: engine.clone(),
            analyst: c.analyst,
            band: c.expect.verdict.to_string(),
            pass: failures.is_empty(),
            failures,
            observed,
        };
        progress(&r);
        out.push(r);
    }
    Ok(out)
}

/// A whole `eval triage` run, as written by `--json` and read back by `--baseline`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriageRun {
    pub dataset: String,
    pub engine: String,
    #[serde(default)]
    pub model: Option<String>,
    pub modes: Vec<String>,
    pub at: String,
    pub wall_ms: u64,
    pub skipped: Vec<String>,
    pub results: Vec<CaseResult>,
}

/// The figures of one mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModeSummary {
    pub mode: String,
    pub passed: Rate,
    /// In band (the verdict invariant alone).
    pub in_band: Rate,
    /// Same level as the analyst.
    pub exact: Rate,
    pub confusion: Confusion,
    pub reliability: Reliability,
    pub per_class: BTreeMap<String, Rate>,
    pub failures_by_invariant: BTreeMap<String, usize>,
    pub cost_usd: f64,
    pub p50_latency_ms: Option<u64>,
}

impl TriageRun {
    pub fn summary(&self, mode: &str) -> ModeSummary {
        let mut s = ModeSummary {
            mode: mode.into(),
            ..ModeSummary::default()
        };
        let mut points = Vec::new();
        let mut latencies = Vec::new();
        for r in self.results.iter().filter(|r| r.mode == mode) {
            s.passed.add(r.pass);
            s.per_class.entry(r.class.clone()).or_default().add(r.pass);
            for f in &r.failures {
                *s.failures_by_invariant
                    .entry(f.invariant.clone())
                    .or_default() += 1;
            }
            s.cost_usd += r.observed.cost_usd;
            let in_band = !r
                .failures
                .iter()
                .any(|f| f.invariant == "verdict_band" || f.invariant == "triage");
            s.in_band.add(in_band);
            if let Some(v) = r.observed.verdict {
                s.confusion.add(r.analyst, v);
                s.exact.add(v == r.analyst);
                points.push((r.observed.confidence, in_band));
                latencies.push(r.observed.latency_ms);
            }
        }
        s.reliability = reliability(&points, 10);
        s.p50_latency_ms = super::metrics::percentile(&latencies, 50.0);
        s
    }

    /// Cases whose two modes disagree on the verdict or on passing.
    pub fn divergences(&self) -> Vec<String> {
        let mut by_id: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
        for r in &self.results {
            by_id.entry(&r.id).or_default().push(r);
        }
        let show = |r: &CaseResult| {
            format!(
                "{} {}",
                r.observed.verdict.map_or("no verdict", Level::as_str),
                if r.pass { "pass" } else { "FAIL" }
            )
        };
        by_id
            .into_iter()
            .filter(|(_, rs)| rs.len() == 2)
            .filter(|(_, rs)| {
                rs[0].pass != rs[1].pass || rs[0].observed.verdict != rs[1].observed.verdict
            })
            .map(|(id, rs)| {
                format!(
                    "{id}: {} {} · {} {}",
                    rs[0].mode,
                    show(rs[0]),
                    rs[1].mode,
                    show(rs[1])
                )
            })
            .collect()
    }

    /// Cases that passed in `baseline` and do not pass now (or are gone), per mode.
    pub fn regressions(&self, baseline: &TriageRun) -> Vec<String> {
        let now: BTreeMap<(&str, &str), &CaseResult> = self
            .results
            .iter()
            .map(|r| ((r.id.as_str(), r.mode.as_str()), r))
            .collect();
        let mut out = Vec::new();
        for b in baseline.results.iter().filter(|b| b.pass) {
            if !self.modes.contains(&b.mode) {
                continue;
            }
            match now.get(&(b.id.as_str(), b.mode.as_str())) {
                None => out.push(format!(
                    "{} [{}/{}] passed in the baseline and is missing from this run",
                    b.id, b.engine, b.mode
                )),
                Some(r) if !r.pass => out.push(format!(
                    "{} [{}/{}] passed in the baseline and now fails: {}",
                    r.id,
                    r.engine,
                    r.mode,
                    r.failures
                        .iter()
                        .map(|f| format!("{}: {}", f.invariant, f.detail))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
                Some(_) => {}
            }
        }
        out
    }

    /// Cases that failed in `baseline` and pass now.
    pub fn fixed(&self, baseline: &TriageRun) -> usize {
        let before: BTreeSet<(&str, &str)> = baseline
            .results
            .iter()
            .filter(|b| !b.pass)
            .map(|b| (b.id.as_str(), b.mode.as_str()))
            .collect();
        self.results
            .iter()
            .filter(|r| r.pass && before.contains(&(r.id.as_str(), r.mode.as_str())))
            .count()
    }

    /// JUnit XML: one suite per mode, one test case per alert, failures naming the invariant.
    pub fn junit(&self) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .chars()
                .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
                .collect::<String>()
        };
        let mut x = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"soc-copilot eval triage\">\n",
        );
        for mode in &self.modes {
            let rs: Vec<&CaseResult> = self.results.iter().filter(|r| &r.mode == mode).collect();
            let failed = rs.iter().filter(|r| !r.pass).count();
            x.push_str(&format!(
                "  <testsuite name=\"{}/{}\" tests=\"{}\" failures=\"{failed}\">\n",
                esc(&self.engine),
                esc(mode),
                rs.len()
            ));
            for r in rs {
                let secs = r.observed.latency_ms as f64 / 1000.0;
                x.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\" time=\"{secs:.3}\"",
                    esc(&r.class),
                    esc(&r.id)
                ));
                if r.pass {
                    x.push_str("/>\n");
                } else {
                    let lines = r.failure_lines();
                    x.push_str(&format!(
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                        esc(lines.first().map_or("", String::as_str)),
                        esc(&lines.join("\n"))
                    ));
                }
            }
            x.push_str("  </testsuite>\n");
        }
        x.push_str("</testsuites>\n");
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            verdict: Band::parse("HIGH..CRITICAL").unwrap_or(Band {
                low: Level::High,
                high: Level::Critical,
            }),
            families_any: vec!["T1003".into()],
            families_none: vec!["T1486".into()],
            escalate: Some(true),
            must_suggest: vec![vec!["isolate".into()], vec!["lsass".into(), "dump".into()]],
            injection: false,
            intel: Some(ExpectIntel {
                indicator: "203.0.113.9".into(),
                verdict: "malicious".into(),
            }),
        }
    }

    #[test]
    fn each_broken_invariant_is_named() {
        let good = Observed {
            verdict: Some(Level::High),
            confidence: 0.8,
            techniques: vec!["T1003.001".into()],
            escalate: true,
            actions: vec!["Isolate the host".into()],
            queries: vec!["search LSASS dump files".into()],
            findings: vec!["offline intel (feed): ip 203.0.113.9 is malicious".into()],
            ..Observed::default()
        };
        assert_eq!(check(&expect(), &good), vec![]);
        let bad = Observed {
            verdict: Some(Level::Low),
            techniques: vec!["T1486".into()],
            injection_flagged: true,
            ..Observed::default()
        };
        let names: Vec<String> = check(&expect(), &bad)
            .into_iter()
            .map(|f| f.invariant)
            .collect();
        assert_eq!(
            names,
            [
                "verdict_band",
                "families_any",
                "families_none",
                "escalate",
                "must_suggest",
                "must_suggest",
                "no_injection_flag",
                "intel"
            ]
        );
        assert_eq!(
            check(&expect(), &Observed::failed("boom".into()))[0].invariant,
            "triage"
        );
    }

    #[test]
    fn queue_times_sort_by_instant_whatever_their_offset() {
        let late = utc_key("2026-01-01T23:30:00-02:00");
        let early = utc_key("2026-01-02T00:00:00Z");
        assert!(late > early, "{late:?} {early:?}");
        assert_eq!(
            utc_key("2026-01-02").as_deref(),
            Some("2026-01-02T00:00:00.000Z")
        );
        assert_eq!(utc_key("yesterday"), None);
    }

    #[test]
    fn bands_parse_in_either_order_and_reject_nonsense() {
        let b = Band::parse("critical..medium");
        assert_eq!(
            b,
            Some(Band {
                low: Level::Medium,
                high: Level::Critical
            })
        );
        assert!(b.is_some_and(|b| b.contains(Level::High) && !b.contains(Level::Low)));
        assert_eq!(Band::parse("HIGH..SEVERE"), None);
    }

    #[test]
    fn bad_lines_name_line_and_field_and_the_rest_load() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("cases.jsonl");
        let good = r#"{"id":"a","class":"c","time":"2026-01-02","alert":{"title":"x","description":"y"},"expect":{"verdict":"LOW"}}"#;
        let early = r#"{"id":"b","class":"c","time":"2026-01-01","alert_text":"failed logons","expect":{"verdict":"LOW..HIGH"}}"#;
        std::fs::write(
            &p,
            format!(
                "{good}\n{{\"id\":\"c\",\"alert\":{{\"title\":\"t\"}},\"expect\":{{\"verdict\":\"SEVERE\"}}}}\nnot json\n{early}\n{good}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let d = read_dataset(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            d.cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["b", "a"],
            "time order"
        );
        assert_eq!(d.errors.len(), 3, "{:?}", d.errors);
        assert!(d.errors[0].contains("cases.jsonl:2") && d.errors[0].contains("expect.verdict"));
        assert!(d.errors[1].contains(":3") && d.errors[1].contains("not JSON"));
        assert!(d.errors[2].contains(":5") && d.errors[2].contains("twice"));
    }
}
