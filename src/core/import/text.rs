//! The imported policy as TOML text: a header with the notes, the mode and final rule, the
//! baseline, then the entries, each commented with the lines it came from.

use std::fmt::Write;

use super::analyse::Analysis;
use super::build::Ending;
use super::entries::Entry;
use crate::core::diag::{TEXT_MAX, shorten};
use crate::core::model::{PortRange, icmp_type_name};

pub(super) fn policy_text(
    v4: &Analysis,
    notes: &[String],
    ending: &Ending,
    allows: &[Entry],
    rejects: &[Entry],
) -> String {
    let mut t = String::new();
    header(&mut t, notes, ending);
    t.push('\n');
    baseline(&mut t, v4);
    for (kind, list) in [("allow", allows), ("reject", rejects)] {
        for e in list {
            t.push('\n');
            entry(&mut t, kind, e);
        }
    }
    t
}

/// What the file is, the notes, the mode and the final rule.
fn header(t: &mut String, notes: &[String], ending: &Ending) {
    let _ = writeln!(
        t,
        "# statewall policy imported from an iptables-save file; every entry says which line it came from."
    );
    let _ = writeln!(
        t,
        "# Review it, then `statewall check`, `statewall plan`, `statewall apply`."
    );
    for n in notes {
        // cut, and without control characters: a comment line of valid TOML
        let _ = writeln!(t, "# note: {}", shorten(n, TEXT_MAX).replace('\n', " "));
    }
    t.push('\n');
    let Ending {
        mode,
        reject,
        origin,
        log_final,
    } = ending;
    let _ = writeln!(
        t,
        "mode = \"{mode}\"{}",
        if *mode == "audit" {
            format!("  # {origin}")
        } else {
            String::new()
        }
    );
    if let Some(k) = reject {
        let _ = writeln!(t, "final = \"{}\"  # {origin}", k.as_str());
    } else if *mode == "enforce" {
        let _ = writeln!(t, "# final rule: drop ({origin})");
    }
    if let Some(line) = log_final {
        let _ = writeln!(t, "{line}");
    }
}

/// `[baseline]`, each part on when the IPv4 file has its rule (which the comment quotes).
fn baseline(t: &mut String, v4: &Analysis) {
    let _ = writeln!(t, "[baseline]");
    let why = |r: Option<usize>, absent: &str| match r {
        Some(i) => format!("line {}: {}", v4.rules[i].line, v4.rules[i].text),
        None => absent.to_string(),
    };
    for (key, rule, absent) in [
        (
            "established",
            v4.established,
            "no ESTABLISHED,RELATED accept in the file",
        ),
        ("invalid", v4.invalid, "no INVALID drop in the file"),
        ("loopback", v4.loopback, "no loopback accept in the file"),
        ("icmp", v4.icmp, "no ICMP accept in the file"),
    ] {
        let _ = writeln!(t, "{key} = {}  # {}", rule.is_some(), why(rule, absent));
    }
    let _ = writeln!(
        t,
        "icmpv6 = true  # added by statewall: IPv6 needs neighbour discovery, errors, echo and MLD"
    );
}

/// One `[[allow]]` or `[[reject]]` entry, after the lines it came from.
fn entry(t: &mut String, kind: &str, e: &Entry) {
    for l in &e.lines {
        let _ = writeln!(t, "{l}");
    }
    let _ = writeln!(t, "[[{kind}]]");
    let _ = writeln!(t, "name = \"{}\"", e.name);
    if !e.tcp.is_empty() {
        let _ = writeln!(t, "tcp = {}", port_list(&e.tcp));
    }
    if !e.udp.is_empty() {
        let _ = writeln!(t, "udp = {}", port_list(&e.udp));
    }
    if !e.icmp.is_empty() {
        let l: Vec<String> = e
            .icmp
            .iter()
            .map(|i| match icmp_type_name(*i) {
                Some(n) => format!("\"{n}\""),
                None => i.to_string(),
            })
            .collect();
        let _ = writeln!(t, "icmp = [{}]", l.join(", "));
    }
    if !e.from.is_empty() {
        let l: Vec<String> = e.from.iter().map(|n| format!("\"{n}\"")).collect();
        let _ = writeln!(t, "from = [{}]", l.join(", "));
    }
    if let Some(i) = &e.iif {
        let _ = writeln!(t, "iif = \"{i}\"");
    }
    if let Some(w) = e.with {
        let _ = writeln!(t, "with = \"{w}\"");
    }
}

/// A port list as TOML: single ports as numbers, ranges as "lo-hi" strings.
fn port_list(v: &[PortRange]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|r| {
            if r.lo == r.hi {
                r.lo.to_string()
            } else {
                format!("\"{}-{}\"", r.lo, r.hi)
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists() {
        let r = |lo, hi| PortRange { lo, hi };
        assert_eq!(
            port_list(&[r(22, 22), r(8000, 8080)]),
            "[22, \"8000-8080\"]"
        );
        assert_eq!(port_list(&[]), "[]");
    }
}
