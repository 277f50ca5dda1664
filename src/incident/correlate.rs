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

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Shared host, user or indicator within this many seconds links two alerts.
    pub window_secs: i64,
    /// A forward tactic chain on the same host or user, or a shared hash or URL, links
    /// within this many seconds.
    pub chain_window_secs: i64,
    /// The site's own infrastructure that links nothing (lower case): addresses, IPv4
    /// networks (`198.51.100.0/24`), domains (their subdomains too), host names (a sensor
    /// or a proxy reporting other machines' traffic). A NAT egress, a
    /// proxy or a scanner is in every other alert and says nothing about an attacker.
    pub ignore: std::sync::Arc<Vec<String>>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            window_secs: 3600,
            chain_window_secs: 4 * 3600,
            ignore: Default::default(),
        }
    }
}

/// Whether `name` (an address or a domain) is one of `ignore`'s entries, inside one of its
/// IPv4 networks, or under one of its domains.
fn ignored(name: &str, ignore: &[String]) -> bool {
    let ip: Option<std::net::Ipv4Addr> = name.parse().ok();
    ignore.iter().any(|e| {
        if let (Some(ip), Some((net, bits))) = (ip, e.split_once('/'))
            && let (Ok(net), Ok(bits)) = (net.parse::<std::net::Ipv4Addr>(), bits.parse::<u32>())
            && bits <= 32
        {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            return u32::from(ip) & mask == u32::from(net) & mask;
        }
        under(name, e)
    })
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

/// Accounts every machine has: sharing one says nothing about an attack.
const SHARED_ACCOUNTS: [&str; 12] = [
    "system",
    "localsystem",
    "local system",
    "local service",
    "localservice",
    "network service",
    "networkservice",
    "root",
    "administrator",
    "admin",
    "anonymous logon",
    "-",
];

/// One account however the source spells it: `CORP\jdoe`, `jdoe@corp.example` and `JDOE`
/// are `jdoe`; machine-wide accounts (SYSTEM, root) are no one.
pub fn account(user: &str) -> Option<String> {
    let u = user.trim().to_lowercase();
    let u = u.rsplit(['\\', '/']).next().unwrap_or(&u);
    let u = u.split('@').next().unwrap_or(u).trim();
    (!u.is_empty() && !SHARED_ACCOUNTS.contains(&u) && !u.ends_with('$')).then(|| u.to_string())
}

/// One machine however the source spells it: `FIN-WS-042.corp.local` is `fin-ws-042`.
/// An address stays whole.
pub fn machine(host: &str) -> Option<String> {
    let h = host.trim().to_lowercase();
    if h.is_empty() || h == "localhost" || h == "-" {
        return None;
    }
    if h.parse::<std::net::IpAddr>().is_ok() {
        return (!PUBLIC_RESOLVERS.contains(&h.as_str())).then_some(h);
    }
    Some(h.split('.').next().unwrap_or(&h).to_string())
}

/// Anycast resolvers every network talks to: an alert naming one says nothing about who
/// else the attacker touched.
const PUBLIC_RESOLVERS: [&str; 12] = [
    "8.8.8.8",
    "8.8.4.4",
    "1.1.1.1",
    "1.0.0.1",
    "9.9.9.9",
    "149.112.112.112",
    "208.67.222.222",
    "208.67.220.220",
    "4.2.2.1",
    "4.2.2.2",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
];

/// Sites rules and write-ups link to for reference (ATT&CK, CVE and vendor documentation):
/// every alert from the same rule pack names them, and no attacker is behind them.
const REFERENCE_SITES: [&str; 10] = [
    "attack.mitre.org",
    "cve.mitre.org",
    "cwe.mitre.org",
    "nvd.nist.gov",
    "learn.microsoft.com",
    "docs.microsoft.com",
    "support.microsoft.com",
    "msrc.microsoft.com",
    "sigmahq.io",
    "www.elastic.co",
];

/// Top-level names private by convention (RFC 6762 `.local`, RFC 8375 `home.arpa`, and the
/// usual Active Directory choices): a name under one is the company's own machine.
const PRIVATE_SUFFIXES: [&str; 7] = [
    "local",
    "internal",
    "intranet",
    "lan",
    "corp",
    "localdomain",
    "home.arpa",
];

/// Second levels under which a two-letter country code registers names (`co.uk`,
/// `com.au`): such a pair is a public suffix, never one organisation's.
const GENERIC_SECOND_LEVELS: [&str; 9] =
    ["co", "com", "net", "org", "gov", "ac", "edu", "ne", "or"];

/// `co.uk`, `com.au`…: a name anyone can register under.
fn is_public_suffix(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() == 2 && labels[1].len() == 2 && GENERIC_SECOND_LEVELS.contains(&labels[0])
}

fn under(name: &str, suffix: &str) -> bool {
    name == suffix
        || name
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.'))
}

/// The company's own DNS suffixes, read from the alerts' host names
/// (`DC01.corp.example.com` → `corp.example.com`): alerts name their own machines and
/// consoles (a SIEM link, a domain controller) under them, and those are hosts, not
/// indicators of an attacker.
pub fn internal_suffixes(nodes: &[Node]) -> BTreeSet<String> {
    nodes
        .iter()
        .filter_map(|n| n.host.as_deref())
        .map(|h| h.trim().trim_end_matches('.').to_lowercase())
        .filter(|h| h.parse::<std::net::IpAddr>().is_err())
        .filter_map(|h| h.split_once('.').map(|(_, rest)| rest.to_string()))
        // A suffix of one label (`com`) or a public one (`co.uk`) would make a whole
        // registry internal.
        .filter(|rest| {
            (rest.contains('.') && !is_public_suffix(rest))
                || PRIVATE_SUFFIXES.contains(&rest.as_str())
        })
        .collect()
}

/// Hosting platforms whose subdomains belong to different customers: names under them are
/// compared whole, never by their registered domain.
const SHARED_PLATFORMS: [&str; 12] = [
    "amazonaws.com",
    "cloudfront.net",
    "azurewebsites.net",
    "blob.core.windows.net",
    "googleusercontent.com",
    "appspot.com",
    "github.io",
    "herokuapp.com",
    "netlify.app",
    "vercel.app",
    "workers.dev",
    "ngrok.io",
];

/// The registered domain of a name (`t1.dnsq-relay.net` → `dnsq-relay.net`,
/// `a.b.example.co.uk` → `example.co.uk`); `None` when the name is already one, or lives on
/// a shared platform.
fn registered_domain(name: &str) -> Option<String> {
    if SHARED_PLATFORMS.iter().any(|p| under(name, p)) {
        return None;
    }
    let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
    let n = labels.len();
    // A two-letter country code under a generic second level (`co.uk`, `com.au`) takes
    // three labels.
    let take = if n >= 3 && is_public_suffix(&labels[n - 2..].join(".")) {
        3
    } else {
        2
    };
    (n > take).then(|| labels[n - take..].join("."))
}

/// How far in time a shared entity links two alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Hosts, users, addresses, domains: within the window.
    Window,
    /// A file hash or a URL names one artefact: the same one on two machines hours apart is
    /// still one campaign, so it links within the chain window.
    Chain,
}

/// One entity two alerts can share.
struct Key {
    key: String,
    label: String,
    reach: Reach,
    /// Derived from an indicator (its /24, its registered domain) rather than named.
    derived: bool,
}

impl Key {
    fn new(key: String, label: String, reach: Reach) -> Key {
        Key {
            key,
            label,
            reach,
            derived: false,
        }
    }
}

/// What an indicator is worth to correlation: the keys two alerts can share, or none
/// (public resolvers, reference sites, the company's own names). A public IPv4 address also
/// yields its /24 and a domain its registered domain, so a brute force from neighbouring
/// addresses or tunnelling through random subdomains of one domain meet. An internal
/// e-mail address is its mailbox's account, so it meets the same user however an alert
/// names them.
fn indicator_keys(ind: &str, internal: &BTreeSet<String>, ignore: &[String]) -> Vec<Key> {
    let i = ind.trim().to_lowercase();
    let label = ind.trim().to_string();
    if i.is_empty() {
        return Vec::new();
    }
    let is_internal = |name: &str| {
        let name = name.trim_end_matches('.');
        internal.iter().any(|s| under(name, s)) || PRIVATE_SUFFIXES.iter().any(|s| under(name, s))
    };
    if let Some((local, domain)) = i.split_once('@').filter(|_| !i.contains("://")) {
        if is_internal(domain) {
            return account(local)
                .map(|u| Key::new(format!("u:{u}"), format!("user {label}"), Reach::Window))
                .into_iter()
                .collect();
        }
        return vec![Key::new(format!("i:{i}"), label, Reach::Window)];
    }
    let is_url = i.contains("://");
    let name = match i.split_once("://") {
        Some((_, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            let authority = authority.rsplit('@').next().unwrap_or(authority);
            // `host:port`, but not an IPv6 literal's colons.
            match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(v6).to_string(),
                None => authority.split(':').next().unwrap_or(authority).to_string(),
            }
        }
        None => i.clone(),
    };
    let ip = name.parse::<std::net::IpAddr>().ok();
    if PUBLIC_RESOLVERS.contains(&name.as_str())
        || ignored(&name, ignore)
        || REFERENCE_SITES.iter().any(|s| under(&name, s))
        || (ip.is_none() && is_internal(&name))
    {
        return Vec::new();
    }
    let is_hash = !is_url
        && ip.is_none()
        && matches!(i.len(), 32 | 40 | 64)
        && i.bytes().all(|b| b.is_ascii_hexdigit());
    let reach = if is_url || is_hash {
        Reach::Chain
    } else {
        Reach::Window
    };
    // A URL's path and query keep their case (`/a.PS1` and `/a.ps1` are two files on most
    // servers); its scheme and host do not.
    let exact = match ind.trim().split_once("://") {
        Some((scheme, rest)) => {
            let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(cut);
            format!(
                "{}://{}{tail}",
                scheme.to_lowercase(),
                authority.to_lowercase()
            )
        }
        None => i.clone(),
    };
    let mut out = vec![Key::new(format!("i:{exact}"), label, reach)];
    if is_url || is_hash {
        return out;
    }
    let family = match ip {
        Some(std::net::IpAddr::V4(v4)) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        Some(std::net::IpAddr::V6(_)) => None,
        // A registered domain itself (`evil.net`) is the family its subdomains meet in.
        None => registered_domain(&name).or_else(|| {
            (name.contains('.')
                && !is_public_suffix(&name)
                && !SHARED_PLATFORMS.iter().any(|p| under(&name, p)))
            .then(|| name.clone())
        }),
    };
    if let Some(f) = family {
        let what = if ip.is_some() { "network" } else { "domain" };
        out.push(Key {
            key: format!("f:{f}"),
            label: format!("{what} {f}"),
            reach: Reach::Window,
            derived: true,
        });
    }
    out
}

fn keys(n: &Node, internal: &BTreeSet<String>, ignore: &[String]) -> Vec<Key> {
    let mut out: Vec<Key> = n
        .indicators
        .iter()
        .flat_map(|i| indicator_keys(i, internal, ignore))
        .collect();
    if let Some(host) = n.host.as_deref()
        && let Some(h) = machine(host)
        && !ignored(&host.trim().to_lowercase(), ignore)
        && !ignored(&h, ignore)
    {
        out.push(Key::new(
            format!("h:{h}"),
            format!("host {}", host.trim()),
            Reach::Window,
        ));
    }
    if let Some(user) = n.user.as_deref()
        && let Some(u) = account(user)
    {
        out.push(Key::new(
            format!("u:{u}"),
            format!("user {}", user.trim()),
            Reach::Window,
        ));
    }
    // One entity once, however many ways the alert named it.
    let mut seen = BTreeSet::new();
    out.retain(|k| seen.insert(k.key.clone()));
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

/// Groups `nodes` into incidents, obeying the analyst's `decisions`. Singletons are groups
/// of one.
pub fn correlate(nodes: &[Node], s: &Settings, decisions: &Decisions) -> Vec<Group> {
    let split = &decisions.split;
    let internal = internal_suffixes(nodes);
    let mut all: Vec<Vec<Key>> = nodes
        .iter()
        .map(|n| keys(n, &internal, &s.ignore))
        .collect();
    // Indicators, and the /24s and domains derived from them, carried by too many alerts
    // are infrastructure and link nothing (see `COMMON_SHARE`).
    let mut df: HashMap<&str, usize> = HashMap::new();
    for ks in &all {
        for k in ks
            .iter()
            .filter(|k| !k.key.starts_with("h:") && !k.key.starts_with("u:"))
        {
            *df.entry(k.key.as_str()).or_default() += 1;
        }
    }
    let cap = COMMON_MIN.max((nodes.len() as f64 * COMMON_SHARE) as usize);
    let common: BTreeSet<String> = df
        .into_iter()
        .filter(|(_, n)| *n > cap)
        .map(|(k, _)| k.to_string())
        .collect();
    for ks in &mut all {
        ks.retain(|k| !common.contains(&k.key));
    }
    // How far back a shared entity can link.
    let reach_secs = s.window_secs.max(s.chain_window_secs);
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| (nodes[i].at, nodes[i].row));
    let mut dsu = Dsu((0..nodes.len()).collect());
    // Entity key → the most recent alerts with it (index into nodes), newest last.
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    let mut links: Vec<(usize, usize, String)> = Vec::new();
    let is_split = |a: i64, b: i64| split.contains(&(a.min(b), a.max(b)));
    for &i in &order {
        let n = &nodes[i];
        let my_keys = std::mem::take(&mut all[i]);
        // Candidate earlier alerts with what they share.
        let mut shared: BTreeMap<usize, Vec<&Key>> = BTreeMap::new();
        for k in &my_keys {
            if let Some(prev) = seen.get(&k.key) {
                for &j in prev.iter().rev() {
                    let gap = n.at.saturating_sub(nodes[j].at);
                    if gap > reach_secs {
                        break;
                    }
                    shared.entry(j).or_default().push(k);
                }
            }
        }
        for (j, what) in shared {
            let m = &nodes[j];
            if is_split(n.row, m.row) {
                continue;
            }
            let gap = n.at.saturating_sub(m.at);
            // A /24 or a registered domain says less than the address or name itself: it
            // is named only when nothing exact is shared.
            let exact = what.iter().any(|k| !k.derived && k.key.starts_with("i:"));
            // Neighbouring addresses or sibling names are one actor only when the alerts
            // do the same kind of thing: once both carry tactics, they must share one.
            let alike = n.tactics.is_empty()
                || m.tactics.is_empty()
                || n.tactics.iter().any(|t| m.tactics.contains(t));
            let what: Vec<&Key> = what.into_iter().filter(|k| !k.derived || alike).collect();
            if what.is_empty() {
                continue;
            }
            let labels: Vec<&str> = what
                .iter()
                .filter(|k| !(exact && k.derived))
                .map(|k| k.label.as_str())
                .collect();
            // A chain is followed on one machine or one account.
            let entities: Vec<&str> = what
                .iter()
                .filter(|k| k.key.starts_with("h:") || k.key.starts_with("u:"))
                .map(|k| k.label.as_str())
                .collect();
            // Beyond the window only a hash or a URL (or a forward chain) still links, and
            // only that is named.
            let chain_labels: Vec<&str> = what
                .iter()
                .filter(|k| k.reach == Reach::Chain)
                .map(|k| k.label.as_str())
                .collect();
            let in_chain_window = gap <= s.chain_window_secs;
            let why = if gap <= s.window_secs {
                Some(format!(
                    "shares {} within {}",
                    labels.join(" and "),
                    minutes(gap)
                ))
            } else if in_chain_window && !chain_labels.is_empty() {
                Some(format!(
                    "shares {} within {}",
                    chain_labels.join(" and "),
                    minutes(gap)
                ))
            } else if in_chain_window
                && !entities.is_empty()
                && let (Some(before), Some(after)) = (max_rank(m), min_rank(n))
                && after > before
            {
                Some(format!(
                    "{} moves on from {} to {} after {}",
                    entities.join(" and "),
                    TACTIC_ORDER[before],
                    TACTIC_ORDER[after],
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
        for k in my_keys {
            let v = seen.entry(k.key).or_default();
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
        let g = correlate(&nodes, &Settings::default(), &Decisions::default());
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
            &Settings::default(),
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
            &Settings::default(),
            &Decisions::default(),
        );
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn accounts_and_machines_are_one_however_spelled_and_shared_accounts_link_nothing() {
        assert_eq!(account(r"CORP\JDoe").as_deref(), Some("jdoe"));
        assert_eq!(account("jdoe@corp.example").as_deref(), Some("jdoe"));
        assert_eq!(account(r"NT AUTHORITY\SYSTEM"), None);
        assert_eq!(account("root"), None);
        assert_eq!(account("WS-01$"), None, "a machine account");
        assert_eq!(
            machine("FIN-WS-042.corp.local").as_deref(),
            Some("fin-ws-042")
        );
        assert_eq!(machine("10.0.0.53").as_deref(), Some("10.0.0.53"));
        let nodes = [
            node(1, 0, "a-1", r"CORP\jdoe", &[], &[]),
            node(2, 30, "b-2", "jdoe@corp.example", &[], &[]),
            node(3, 31, "c-3", "SYSTEM", &[], &[]),
            node(4, 32, "d-4", r"NT AUTHORITY\SYSTEM", &[], &[]),
        ];
        let g = correlate(&nodes, &Settings::default(), &Decisions::default());
        assert_eq!(g.len(), 3, "{g:?}");
        assert_eq!(g[0].rows, [1, 2]);
        assert_eq!(
            g[0].links[0].why,
            "shares user jdoe@corp.example within 30 min"
        );
    }

    #[test]
    fn an_indicator_on_many_alerts_links_nothing() {
        let nodes: Vec<Node> = (0..60)
            .map(|i| node(i, i, &format!("h{i}"), "", &["10.9.9.9-proxy.corp"], &[]))
            .collect();
        let g = correlate(&nodes, &Settings::default(), &Decisions::default());
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
        assert_eq!(correlate(&nodes, &Settings::default(), &split).len(), 2);
        let merged = Decisions {
            split: BTreeSet::new(),
            merge: vec![(1, 3, "ana".into())],
        };
        let far = node(3, 600, "db-7", "", &[], &[]);
        let g = correlate(&[nodes[0].clone(), far], &Settings::default(), &merged);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].links[0].why, "merged by ana");
        assert_eq!(tactic_rank("Lateral Movement"), Some(9));
    }

    #[test]
    fn infrastructure_everyone_shares_links_nothing() {
        // Public resolvers, reference sites and the company's own names (suffix read from
        // the alerts' host names) never join two alerts, as indicator or as host.
        let nodes = [
            node(
                1,
                0,
                "DC01.corp.example.com",
                "",
                &[
                    "8.8.8.8",
                    "https://attack.mitre.org/techniques/T1110/",
                    "splunk.corp.example.com",
                    "https://splunk.corp.example.com:8000/app/search",
                    "fs01.lab.local",
                ],
                &[],
            ),
            node(
                2,
                5,
                "8.8.8.8",
                "",
                &[
                    "8.8.8.8",
                    "attack.mitre.org",
                    "https://splunk.corp.example.com:8000/app/x",
                    "fs01.lab.local",
                ],
                &[],
            ),
            node(
                3,
                9,
                "web-9",
                "",
                &["https://attack.mitre.org/techniques/T1059/", "1.1.1.1"],
                &[],
            ),
        ];
        let g = correlate(&nodes, &Settings::default(), &Decisions::default());
        assert_eq!(g.len(), 3, "{g:?}");
        assert!(internal_suffixes(&nodes).contains("corp.example.com"));
        // An internal mailbox is its account.
        let nodes = [
            node(1, 0, "DC01.corp.example.com", r"CORP\l.fischer", &[], &[]),
            node(2, 10, "", "", &["l.fischer@corp.example.com"], &[]),
        ];
        let g = correlate(&nodes, &Settings::default(), &Decisions::default());
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(
            g[0].links[0].why,
            "shares user l.fischer@corp.example.com within 10 min"
        );
    }

    #[test]
    fn related_addresses_and_sibling_names_link_but_only_for_alike_alerts_in_the_window() {
        let nodes = [
            node(1, 0, "bastion-1", "", &["185.220.101.14"], &[]),
            node(2, 20, "sftp-2", "", &["185.220.101.52"], &[]),
            node(3, 30, "nids-1", "", &["t1.dnsq-relay.net"], &[]),
            node(4, 50, "ws-11", "", &["x9.dnsq-relay.net"], &[]),
            node(5, 55, "ws-12", "", &["a.bucket.s3.amazonaws.com"], &[]),
            node(6, 56, "ws-13", "", &["b.bucket.s3.amazonaws.com"], &[]),
        ];
        let g = correlate(&nodes, &Settings::default(), &Decisions::default());
        assert_eq!(g.len(), 4, "{g:?}");
        assert_eq!(
            g[0].links[0].why,
            "shares network 185.220.101.0/24 within 20 min"
        );
        assert_eq!(
            g[1].links[0].why,
            "shares domain dnsq-relay.net within 20 min"
        );
        assert_eq!(
            registered_domain("a.b.example.co.uk").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(registered_domain("example.com"), None);
        // Once triaged, neighbours doing different things stay apart.
        let far = [
            node(
                1,
                0,
                "bastion-1",
                "",
                &["185.220.101.14"],
                &["credential-access"],
            ),
            node(2, 20, "hr-2", "", &["185.220.101.52"], &["exfiltration"]),
        ];
        assert_eq!(
            correlate(&far, &Settings::default(), &Decisions::default()).len(),
            2
        );
        // An address links within the window only; a file hash across the chain window.
        let hash = "442e204a76524a98bf42e9242280f02c6803a7f36ad321bb8566f76d01e7aa17";
        let late = [
            node(1, 0, "a-1", "", &["203.0.113.9", hash], &[]),
            node(2, 90, "b-2", "", &["203.0.113.9"], &[]),
            node(3, 150, "c-3", "", &[hash], &[]),
        ];
        let g = correlate(&late, &Settings::default(), &Decisions::default());
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].rows, [1, 3]);
        assert!(g[0].links[0].why.starts_with("shares 442e204a"), "{g:?}");
    }

    #[test]
    fn the_sites_own_infrastructure_from_config_links_nothing() {
        let nodes = [
            node(
                1,
                0,
                "a-1",
                "",
                &["198.51.100.30", "proxy.example.com"],
                &[],
            ),
            node(2, 5, "b-2", "", &["198.51.100.30"], &[]),
            node(
                3,
                9,
                "c-3",
                "",
                &["https://cdn.proxy.example.com/x", "198.51.100.31"],
                &[],
            ),
        ];
        assert_eq!(
            correlate(&nodes, &Settings::default(), &Decisions::default()).len(),
            1
        );
        let s = Settings {
            ignore: std::sync::Arc::new(vec!["198.51.100.0/24".into(), "proxy.example.com".into()]),
            ..Settings::default()
        };
        assert_eq!(correlate(&nodes, &s, &Decisions::default()).len(), 3);
        assert!(ignored("10.1.2.3", &["10.0.0.0/8".to_string()]));
        assert!(!ignored("11.1.2.3", &["10.0.0.0/8".to_string()]));
        assert!(!ignored(
            "notproxy.example.com",
            &["proxy.example.com".to_string()]
        ));
    }

    #[test]
    fn review_classes_common_families_long_windows_apex_domains_and_public_suffixes() {
        // A /24 carried by too many alerts is infrastructure, like the address itself.
        let nodes: Vec<Node> = (0..60)
            .map(|i| {
                node(
                    i,
                    i,
                    &format!("h{i}"),
                    "",
                    &[&format!("203.0.113.{}", i + 1)],
                    &[],
                )
            })
            .collect();
        assert_eq!(
            correlate(&nodes, &Settings::default(), &Decisions::default()).len(),
            60
        );
        // A window longer than the chain window still links within the window.
        let long = Settings {
            window_secs: 8 * 3600,
            chain_window_secs: 3600,
            ..Settings::default()
        };
        let far = [
            node(1, 0, "web-1", "", &[], &[]),
            node(2, 180, "web-1", "", &[], &[]),
        ];
        let g = correlate(&far, &long, &Decisions::default());
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].links[0].why, "shares host web-1 within 3.0 h");
        // A registered domain meets its own subdomains.
        let apex = [
            node(1, 0, "a-1", "", &["evil.net"], &[]),
            node(2, 10, "b-2", "", &["t1.evil.net"], &[]),
        ];
        let g = correlate(&apex, &Settings::default(), &Decisions::default());
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].links[0].why, "shares domain evil.net within 10 min");
        // A host under a public suffix does not make the registry internal.
        let uk = [node(1, 0, "example.co.uk", "", &[], &[])];
        assert!(!internal_suffixes(&uk).contains("co.uk"));
        let ad = indicator_keys("c2.example.ad", &BTreeSet::new(), &[]);
        assert!(!ad.is_empty(), "Andorra is a country, not Active Directory");
        // URL paths keep their case; scheme and host do not.
        let a = indicator_keys("HTTP://X.Example/a.PS1", &BTreeSet::new(), &[]);
        let b = indicator_keys("http://x.example/a.ps1", &BTreeSet::new(), &[]);
        assert_eq!(a[0].key, "i:http://x.example/a.PS1");
        assert_ne!(a[0].key, b[0].key);
        // Gaps never overflow, whatever times arrive.
        let extreme = [
            node(1, 0, "x", "", &[], &[]),
            Node {
                row: 2,
                at: i64::MIN,
                host: Some("x".into()),
                ..Node::default()
            },
            Node {
                row: 3,
                at: i64::MAX,
                host: Some("x".into()),
                ..Node::default()
            },
        ];
        let _ = correlate(&extreme, &Settings::default(), &Decisions::default());
    }
}
