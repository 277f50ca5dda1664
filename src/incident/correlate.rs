//! Alerts into incidents: alerts are linked when they share an indicator, a host or a user
//! within a time window, or when the same host or user shows an ATT&CK chain that moves
//! forward across tactics over a longer window; linked alerts form one incident. Every link
//! says why ("shares 185.220.101.47 and user jsmith within 40 min"), and pairs an analyst
//! split apart are never linked again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// ATT&CK Enterprise tactics in kill-chain order (shortnames as in the STIX phases).
pub const TACTIC_ORDER: [&str; 14] = [
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

/// Position of a tactic in the kill chain (names or shortnames, any case).
pub fn tactic_rank(t: &str) -> Option<usize> {
    let t = t.trim().to_ascii_lowercase().replace([' ', '_'], "-");
    TACTIC_ORDER.iter().position(|x| *x == t)
}

/// What correlation knows of one alert.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// The store's alert row (stable id).
    pub row: i64,
    /// Seconds since the epoch.
    pub at: i64,
    pub host: Option<String>,
    pub user: Option<String>,
    /// Indicators worth correlating on (public addresses, domains, URLs, hashes, e-mails).
    pub indicators: Vec<String>,
    /// ATT&CK tactics of its techniques.
    pub tactics: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Shared host, user or indicator within this many seconds links two alerts.
    pub window_secs: i64,
    /// A forward tactic chain on the same host or user links within this many seconds.
    pub chain_window_secs: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            window_secs: 3600,
            chain_window_secs: 4 * 3600,
        }
    }
}

/// Why two alerts are in one incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub a: i64,
    pub b: i64,
    pub why: String,
}

/// One incident: its alerts (rows, oldest first) and the links that joined them.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub rows: Vec<i64>,
    pub links: Vec<Link>,
}

struct Dsu(Vec<usize>);

impl Dsu {
    fn find(&mut self, x: usize) -> usize {
        let mut r = x;
        while self.0[r] != r {
            r = self.0[r];
        }
        let mut c = x;
        while self.0[c] != r {
            let next = self.0[c];
            self.0[c] = r;
            c = next;
        }
        r
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[rb] = ra;
        }
    }
}

fn keys(n: &Node) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in &n.indicators {
        out.push((format!("i:{}", i.to_lowercase()), i.clone()));
    }
    if let Some(h) = n.host.as_deref().filter(|h| !h.trim().is_empty()) {
        out.push((format!("h:{}", h.to_lowercase()), format!("host {h}")));
    }
    if let Some(u) = n.user.as_deref().filter(|u| !u.trim().is_empty()) {
        out.push((format!("u:{}", u.to_lowercase()), format!("user {u}")));
    }
    out
}

fn minutes(secs: i64) -> String {
    let m = (secs.abs() + 59) / 60;
    if m < 120 {
        format!("{m} min")
    } else {
        format!("{:.1} h", secs.abs() as f64 / 3600.0)
    }
}

fn max_rank(n: &Node) -> Option<usize> {
    n.tactics.iter().filter_map(|t| tactic_rank(t)).max()
}

fn min_rank(n: &Node) -> Option<usize> {
    n.tactics.iter().filter_map(|t| tactic_rank(t)).min()
}

/// The analyst's decisions correlation obeys: pairs split apart are never linked (they may
/// still meet through a third alert unless that is split too); merged pairs are always one
/// incident. Pairs are `(smaller row, larger row)`.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    pub split: BTreeSet<(i64, i64)>,
    /// (a, b, who merged them)
    pub merge: Vec<(i64, i64, String)>,
}

/// An indicator carried by more alerts than this share of the set (and more than
/// `COMMON_MIN` alerts) is infrastructure — a proxy, a resolver, the company's domain — and
/// links nothing.
const COMMON_SHARE: f64 = 0.02;
const COMMON_MIN: usize = 50;

/// Indicators too common to link alerts (see `COMMON_SHARE`).
pub fn common_indicators(nodes: &[Node]) -> BTreeSet<String> {
    let mut df: HashMap<String, usize> = HashMap::new();
    for n in nodes {
        let mine: BTreeSet<String> = n.indicators.iter().map(|i| i.to_lowercase()).collect();
        for i in mine {
            *df.entry(i).or_default() += 1;
        }
    }
    let cap = COMMON_MIN.max((nodes.len() as f64 * COMMON_SHARE) as usize);
    df.into_iter()
        .filter(|(_, n)| *n > cap)
        .map(|(i, _)| i)
        .collect()
}

/// Groups `nodes` into incidents, obeying the analyst's `decisions`. Singletons are groups
/// of one.
pub fn correlate(nodes: &[Node], s: Settings, decisions: &Decisions) -> Vec<Group> {
    let split = &decisions.split;
    let common = common_indicators(nodes);
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| (nodes[i].at, nodes[i].row));
    let mut dsu = Dsu((0..nodes.len()).collect());
    // Entity key → the most recent alerts with it (index into nodes), newest last.
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    let mut links: Vec<(usize, usize, String)> = Vec::new();
    let is_split = |a: i64, b: i64| split.contains(&(a.min(b), a.max(b)));
    for &i in &order {
        let n = &nodes[i];
        let mut my_keys = keys(n);
        my_keys.retain(|(k, _)| !k.strip_prefix("i:").is_some_and(|i| common.contains(i)));
        // Candidate earlier alerts with what they share.
        let mut shared: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (k, label) in &my_keys {
            if let Some(prev) = seen.get(k) {
                for &j in prev.iter().rev() {
                    let gap = n.at - nodes[j].at;
                    if gap > s.chain_window_secs {
                        break;
                    }
                    shared.entry(j).or_default().push(label.clone());
                }
            }
        }
        for (j, what) in shared {
            let m = &nodes[j];
            if is_split(n.row, m.row) {
                continue;
            }
            let gap = n.at - m.at;
            let has_indicator = what
                .iter()
                .any(|w| !w.starts_with("host ") && !w.starts_with("user "));
            let why = if gap <= s.window_secs {
                Some(format!(
                    "shares {} within {}",
                    what.join(" and "),
                    minutes(gap)
                ))
            } else if !has_indicator
                && let (Some(before), Some(after)) = (max_rank(m), min_rank(n))
                && after > before
            {
                Some(format!(
                    "{} moves on from {} to {} after {}",
                    what.join(" and "),
                    TACTIC_ORDER[before],
                    TACTIC_ORDER[after],
                    minutes(gap)
                ))
            } else if has_indicator && gap <= s.chain_window_secs {
                Some(format!(
                    "shares {} within {}",
                    what.join(" and "),
                    minutes(gap)
                ))
            } else {
                None
            };
            if let Some(why) = why
                && dsu.find(i) != dsu.find(j)
            {
                dsu.union(i, j);
                links.push((j, i, why));
            }
        }
        for (k, _) in my_keys {
            let v = seen.entry(k).or_default();
            v.push(i);
            // Only recent alerts can link; keep the list short.
            while v.len() > 64 {
                v.remove(0);
            }
        }
    }
    let index: HashMap<i64, usize> = nodes.iter().enumerate().map(|(i, n)| (n.row, i)).collect();
    for (a, b, who) in &decisions.merge {
        if let (Some(&i), Some(&j)) = (index.get(a), index.get(b))
            && dsu.find(i) != dsu.find(j)
        {
            dsu.union(i, j);
            links.push((i, j, format!("merged by {who}")));
        }
    }
    let mut groups: BTreeMap<usize, Group> = BTreeMap::new();
    for &i in &order {
        let r = dsu.find(i);
        groups
            .entry(r)
            .or_insert_with(|| Group {
                rows: Vec::new(),
                links: Vec::new(),
            })
            .rows
            .push(nodes[i].row);
    }
    for (a, b, why) in links {
        let r = dsu.find(a);
        if let Some(g) = groups.get_mut(&r) {
            g.links.push(Link {
                a: nodes[a].row,
                b: nodes[b].row,
                why,
            });
        }
    }
    let mut out: Vec<Group> = groups.into_values().collect();
    out.sort_by_key(|g| g.rows.first().copied().unwrap_or(0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(row: i64, min: i64, host: &str, user: &str, ind: &[&str], tactics: &[&str]) -> Node {
        Node {
            row,
            at: 1_700_000_000 + min * 60,
            host: (!host.is_empty()).then(|| host.to_string()),
            user: (!user.is_empty()).then(|| user.to_string()),
            indicators: ind.iter().map(|s| s.to_string()).collect(),
            tactics: tactics.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn brute_force_from_one_address_on_three_hosts_is_one_incident_with_reasons() {
        let nodes = [
            node(
                1,
                0,
                "web-1",
                "",
                &["185.220.101.47"],
                &["credential-access"],
            ),
            node(
                2,
                20,
                "web-2",
                "",
                &["185.220.101.47"],
                &["credential-access"],
            ),
            node(
                3,
                40,
                "web-3",
                "jsmith",
                &["185.220.101.47"],
                &["credential-access"],
            ),
            node(4, 45, "hr-9", "mlee", &[], &["execution"]),
        ];
        let g = correlate(&nodes, Settings::default(), &Decisions::default());
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].rows, [1, 2, 3]);
        assert_eq!(g[0].links[0].why, "shares 185.220.101.47 within 20 min");
        assert_eq!(g[1].rows, [4]);
    }

    #[test]
    fn a_forward_chain_on_one_host_links_beyond_the_window_and_a_backward_one_does_not() {
        let phish = node(1, 0, "fin-1", "ana", &[], &["initial-access"]);
        let dump = node(2, 150, "fin-1", "", &[], &["credential-access"]);
        let g = correlate(
            &[phish.clone(), dump],
            Settings::default(),
            &Decisions::default(),
        );
        assert_eq!(g.len(), 1, "{g:?}");
        assert!(
            g[0].links[0]
                .why
                .contains("moves on from initial-access to credential-access after 2.5 h")
        );
        let older_stage = node(3, 150, "fin-1", "", &[], &["reconnaissance"]);
        let g = correlate(
            &[phish, older_stage],
            Settings::default(),
            &Decisions::default(),
        );
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn an_indicator_on_many_alerts_links_nothing() {
        let nodes: Vec<Node> = (0..60)
            .map(|i| node(i, i, &format!("h{i}"), "", &["10.9.9.9-proxy.corp"], &[]))
            .collect();
        let g = correlate(&nodes, Settings::default(), &Decisions::default());
        assert_eq!(g.len(), 60);
    }

    #[test]
    fn an_analyst_split_is_never_rejoined() {
        let nodes = [
            node(1, 0, "web-1", "", &["203.0.113.9"], &[]),
            node(2, 5, "web-2", "", &["203.0.113.9"], &[]),
        ];
        let split = Decisions {
            split: [(1, 2)].into(),
            merge: Vec::new(),
        };
        assert_eq!(correlate(&nodes, Settings::default(), &split).len(), 2);
        let merged = Decisions {
            split: BTreeSet::new(),
            merge: vec![(1, 3, "ana".into())],
        };
        let far = node(3, 600, "db-7", "", &[], &[]);
        let g = correlate(&[nodes[0].clone(), far], Settings::default(), &merged);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].links[0].why, "merged by ana");
        assert_eq!(tactic_rank("Lateral Movement"), Some(9));
    }
}
