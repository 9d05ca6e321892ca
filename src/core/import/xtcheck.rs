//! What iptables-restore checks of a rule's matches and target before it loads the rule,
//! so that the importer refuses what iptables-restore refuses instead of giving it a
//! meaning. libxtables checks each loaded module (each `-m`, the target, the protocol's
//! match loaded implicitly) once its options are read: an option given twice to one module
//! ("can only be used once"), two that exclude each other, an option that needs another,
//! one that cannot take `!`, a mandatory option missing ("must be specified"), a module
//! given none of the options it needs ("You must specify …"). iptables refuses `-o` in
//! INPUT and `-i` in OUTPUT; a few values it refuses (a log level it does not know, a rate
//! its units cannot hold), and a few combinations the kernel refuses when the rule is
//! added (`-m recent --set` with `--seconds`). The tables are iptables 1.8.9's
//! (`extensions/libxt_*.c`, `libxtables/xtoptions.c`) and Linux 6.18's (`xt_recent.c`,
//! `xt_hashlimit.c`); every case in the tests was checked against iptables-restore in a
//! namespace.
//!
//! This runs on a line whose option names getopt.rs wrote out in full, over what its walk
//! found (`getopt::Walk`: each module instance, and the instance each option word goes to);
//! the option numbers are getopt.rs's (names of one option share one).

use super::Fam;
use super::getopt::{Given, MODULES, Unread, Walk};
use super::lex::Tok;

/// What libxtables checks of one module.
struct Spec {
    name: &'static str,
    /// options that must be given (`XTOPT_MAND`)
    mand: &'static [u8],
    /// at least one of these must be given (the module's `x6_fcheck`), and iptables' words
    one_of: Option<(&'static [u8], &'static str)>,
    /// options that exclude others (`.excl`)
    excl: &'static [(u8, &'static [u8])],
    /// an option that needs another (`.also`)
    also: &'static [(u8, u8)],
    /// the options that take `!` (`XTOPT_INVERT`)
    invert: &'static [u8],
}

/// A module with nothing to check but its options' once-ness.
const EMPTY: Spec = Spec {
    name: "",
    mand: &[],
    one_of: None,
    excl: &[],
    also: &[],
    invert: &[],
};

const SPECS: &[Spec] = &[
    Spec {
        name: "tcp",
        excl: &[(3, &[4]), (4, &[3])],
        invert: &[1, 2, 3, 4, 5],
        ..EMPTY
    },
    Spec {
        name: "udp",
        invert: &[1, 2],
        ..EMPTY
    },
    Spec {
        name: "icmp",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "icmp6",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "conntrack",
        one_of: Some((
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
            "conntrack: At least one option is required",
        )),
        invert: &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        ..EMPTY
    },
    Spec {
        name: "state",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "multiport",
        one_of: Some((&[1, 2, 3], "multiport expection an option")),
        excl: &[(1, &[2, 3]), (2, &[1, 3]), (3, &[1, 2])],
        invert: &[1, 2, 3],
        ..EMPTY
    },
    Spec {
        name: "comment",
        mand: &[1],
        ..EMPTY
    },
    Spec {
        name: "limit",
        ..EMPTY
    },
    Spec {
        name: "hashlimit",
        mand: &[11],
        one_of: Some((&[1, 2], "You have to specify --hashlimit")),
        excl: &[(1, &[2]), (2, &[1])],
        invert: &[1, 2],
        ..EMPTY
    },
    Spec {
        name: "addrtype",
        one_of: Some((
            &[1, 2],
            "addrtype: you must specify --src-type or --dst-type",
        )),
        excl: &[(3, &[4]), (4, &[3])],
        invert: &[1, 2],
        ..EMPTY
    },
    Spec {
        name: "pkttype",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "iprange",
        one_of: Some((
            &[1, 2],
            "iprange match: You must specify `--src-range' or `--dst-range'",
        )),
        invert: &[1, 2],
        ..EMPTY
    },
    Spec {
        name: "mac",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "length",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "tcpmss",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "owner",
        one_of: Some((
            &[1, 2, 3],
            "owner: At least one of --uid-owner, --gid-owner or --socket-exists is required",
        )),
        invert: &[1, 2, 3],
        ..EMPTY
    },
    Spec {
        name: "mark",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "helper",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "policy",
        mand: &[1],
        also: &[(10, 3)],
        invert: &[4, 5, 6, 7, 8, 9],
        ..EMPTY
    },
    Spec {
        name: "recent",
        one_of: Some((
            &[1, 2, 3, 4],
            "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'",
        )),
        excl: &[
            (1, &[2, 3, 4]),
            (2, &[1, 3, 4]),
            (3, &[1, 2, 4]),
            (4, &[1, 2, 3]),
            (8, &[1, 4]),
        ],
        also: &[(6, 5)],
        invert: &[1, 2, 3, 4],
        ..EMPTY
    },
    Spec {
        name: "string",
        mand: &[3],
        one_of: Some((
            &[4, 5],
            "STRING match: You must specify `--string' or `--hex-string'",
        )),
        excl: &[(4, &[5]), (5, &[4])],
        invert: &[4, 5],
        ..EMPTY
    },
    Spec {
        name: "u32",
        mand: &[1],
        invert: &[1],
        ..EMPTY
    },
    Spec {
        name: "connlimit",
        one_of: Some((
            &[1, 2],
            "You must specify \"--connlimit-above\" or \"--connlimit-upto\".",
        )),
        excl: &[(1, &[2]), (2, &[1]), (4, &[5]), (5, &[4])],
        invert: &[1, 2],
        ..EMPTY
    },
    Spec {
        name: "ttl",
        one_of: Some((
            &[1, 2, 3],
            "TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt'",
        )),
        excl: &[(1, &[2, 3]), (2, &[1, 3]), (3, &[1, 2])],
        invert: &[3],
        ..EMPTY
    },
    Spec {
        name: "hl",
        one_of: Some((
            &[1, 2, 3],
            "HL match: You must specify one of `--hl-eq', `--hl-lt', `--hl-gt'",
        )),
        excl: &[(1, &[2, 3]), (2, &[1, 3]), (3, &[1, 2])],
        invert: &[3],
        ..EMPTY
    },
    Spec {
        name: "LOG",
        ..EMPTY
    },
    Spec {
        name: "REJECT",
        ..EMPTY
    },
    Spec {
        name: "NFLOG",
        excl: &[(3, &[4]), (4, &[3])],
        ..EMPTY
    },
    Spec {
        name: "TCPMSS",
        one_of: Some((&[1, 2], "TCPMSS target: At least one parameter is required")),
        ..EMPTY
    },
];

/// The log levels iptables takes by name (`xtopt_parse_sysloglevel`: exactly these, in
/// lower case; or a number 0-7).
const LOG_LEVELS: [&str; 9] = [
    "alert", "crit", "debug", "emerg", "error", "info", "notice", "panic", "warning",
];

/// One loaded module of a rule and the options given to it so far.
struct Inst {
    module: usize,
    /// the word that loaded it (`-m state`'s `state`, or the first option of an implicit
    /// protocol match)
    at: usize,
    /// (option number, word) of each option given
    seen: Vec<(u8, usize)>,
}

fn spec(module: usize) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == MODULES[module].0)
}

/// The long name of option number `id` of `module` (its first name in getopt.rs's table).
fn long(module: usize, id: u8) -> String {
    let name = MODULES[module]
        .1
        .iter()
        .find(|o| o.1 == id)
        .map_or("?", |o| o.0);
    format!("--{name}")
}

/// `u` with what to write instead after iptables' words.
fn hinted(mut u: Unread, hint: &str) -> Unread {
    u.why = format!("{}; {hint}", u.why.trim_end_matches('.'));
    u
}

fn refused(at: usize, what: String, iptables_says: &str) -> Unread {
    Unread {
        at,
        what,
        why: format!("iptables-restore refuses it too, saying: {iptables_says}"),
    }
}

/// Whether `toks` (a rule line, option names written out by getopt.rs, which says in `walk`
/// which module instance reads each option) is one iptables-restore loads, as far as
/// libxtables' checks of its modules go: the first refusal otherwise, in the line's order.
pub(super) fn checked(toks: &[Tok], walk: &Walk, fam: Fam) -> Result<(), Unread> {
    if walk.other_family {
        return Ok(());
    }
    let mut insts: Vec<Inst> = walk
        .insts
        .iter()
        .map(|&(module, at)| Inst {
            module,
            at,
            seen: Vec::new(),
        })
        .collect();
    let chain = walk.chain.as_deref();
    let mut ifaces = walk.ifaces.iter().peekable();
    for g in &walk.given {
        while let Some(&&(at, out)) = ifaces.peek().filter(|(at, _)| *at < g.word) {
            iface(at, out, chain)?;
            ifaces.next();
        }
        option(&mut insts[g.inst], g, toks, fam)?;
    }
    for &(at, out) in ifaces {
        iface(at, out, chain)?;
    }
    // what a module was given past a word the walk does not know is unknown: the line is
    // refused at that word
    if walk.partial {
        return Ok(());
    }
    for inst in &insts {
        finished(inst, toks)?;
    }
    Ok(())
}

/// `-o` (`out`) or `-i` at word `at`, in `chain`: iptables refuses `-o` in INPUT and `-i` in
/// OUTPUT.
fn iface(at: usize, out: bool, chain: Option<&str>) -> Result<(), Unread> {
    let (why, iptables, help) = match (out, chain) {
        (true, Some("INPUT")) => (
            "`-o` in INPUT: a packet coming in has no output interface yet",
            "Can't use -o with INPUT",
            "match the output interface in FORWARD or OUTPUT",
        ),
        (false, Some("OUTPUT")) => (
            "`-i` in OUTPUT: a packet this host sends came in on no interface",
            "Can't use -i with OUTPUT",
            "match the input interface in INPUT or FORWARD",
        ),
        _ => return Ok(()),
    };
    Err(hinted(refused(at, why.into(), iptables), help))
}

/// Option `g` into its instance: given once, not beside one it excludes, `!` only where it
/// takes one, and a value iptables takes.
fn option(inst: &mut Inst, g: &Given, toks: &[Tok], fam: Fam) -> Result<(), Unread> {
    let (i, id, not) = (g.word, g.id, g.not);
    let mname = MODULES[inst.module].0;
    let shown = long(inst.module, id);
    let Some(spec) = spec(inst.module) else {
        inst.seen.push((id, i));
        return value((mname, &shown), (i, toks.get(i + 1)), fam);
    };
    if mname == "policy" && (4..=9).contains(&id) {
        // a policy element's options (`XTOPT_MULTI`) once per element: again after `--next`
        let last = |want: u8| inst.seen.iter().rev().find(|&&(s, _)| s == want);
        if let Some(&(_, at)) = last(id)
            && last(10).is_none_or(|&(_, next)| next < at)
        {
            return Err(refused(
                i,
                format!("`{shown}` a second time in one policy element"),
                &format!("policy match: double {shown} option"),
            ));
        }
    } else if inst.seen.iter().any(|&(s, _)| s == id) {
        // the tcp match reads its options itself, and says so in its own words
        let says = if mname == "tcp" {
            format!("Only one `{shown}' allowed")
        } else {
            format!("{mname}: option \"{shown}\" can only be used once.")
        };
        return Err(refused(
            i,
            format!("`{shown}` a second time in one `-m {mname}`"),
            &says,
        ));
    }
    if let Some((_, others)) = spec.excl.iter().find(|(o, _)| *o == id)
        && let Some(&(other, _)) = inst.seen.iter().find(|(s, _)| others.contains(s))
    {
        let other = long(inst.module, other);
        let says = if mname == "tcp" {
            "Only one of `--syn' or `--tcp-flags'  allowed".to_string()
        } else {
            format!("{mname}: option \"{shown}\" cannot be used together with \"{other}\".")
        };
        return Err(refused(i, format!("`{shown}` with `{other}`"), &says));
    }
    if not && !spec.invert.contains(&id) {
        let says = format!("{mname}: option \"{shown}\" cannot be inverted.");
        let u = refused(i, format!("`! {shown}`: this option takes no `!`"), &says);
        return Err(match shown.as_str() {
            "--ttl-lt" | "--ttl-gt" | "--hl-lt" | "--hl-gt" => hinted(
                u,
                "write the opposite comparison (`! --ttl-lt 64` is `--ttl-gt 63`)",
            ),
            _ => u,
        });
    }
    inst.seen.push((id, i));
    value((mname, &shown), (i, toks.get(i + 1)), fam)
}

/// More of [`value`]: hashlimit's mode and burst, recent's mask, multiport's open ranges.
fn more_values(
    (module, option): (&str, &str),
    i: usize,
    text: &str,
    fam: Fam,
) -> Result<(), Unread> {
    match (module, option) {
        // hashlimit's mode is a list of srcip, srcport, dstip, dstport; its burst a number
        // strtoull reads from 1 to 1000000 (`1.0` is 1)
        ("hashlimit", "--hashlimit-mode")
            if text
                .split(',')
                .any(|m| !["", "srcip", "srcport", "dstip", "dstport"].contains(&m)) =>
        {
            let says = format!("hashlimit: Bad value for \"{option}\" option: \"{text}\"");
            return Err(refused(
                i + 1,
                format!("`{option} {text}`: not a list of srcip, srcport, dstip, dstport"),
                &says,
            ));
        }
        ("hashlimit", "--hashlimit-burst")
            if !leading_number(text).is_some_and(|n| (1..=1_000_000).contains(&n)) =>
        {
            let says = format!(
                "hashlimit: bad value for option \"{option}\", or out of range (1-1000000)."
            );
            return Err(refused(
                i + 1,
                format!("`{option} {text}`: not a burst from 1 to 1000000"),
                &says,
            ));
        }
        // libxt_policy's mode is one of two words; its protocol one of IPsec's three
        ("policy", "--mode") if !matches!(text, "tunnel" | "transport") => {
            return Err(refused(
                i + 1,
                format!("`--mode {text}`: not `tunnel` or `transport`"),
                &format!("policy match: invalid mode \"{text}\""),
            ));
        }
        ("policy", "--proto")
            if !super::cnum::c_number(text)
                .or_else(|| {
                    let lower = text.to_ascii_lowercase();
                    crate::core::plan::protocol_number(&lower)
                        .map(u64::from)
                        .or_else(|| (lower == "ipcomp").then_some(108))
                })
                .is_some_and(|p| matches!(p, 50 | 51 | 108)) =>
        {
            return Err(refused(
                i + 1,
                format!("`--proto {text}`: not esp, ah or ipcomp"),
                "policy match: protocol must be ah/esp/ipcomp",
            ));
        }
        // recent's mask is an address, read as getaddrinfo reads a number (inet_aton)
        ("recent", "--mask") if !numeric_host(text, fam) => {
            return Err(refused(
                i + 1,
                format!("`--mask {text}`: not an address"),
                "getaddrinfo: Name or service not known",
            ));
        }
        // multiport reads a range only with both ends (`22:` is refused, as tcp reads it)
        ("multiport", _)
            if text.split(',').any(|p| {
                p.split_once(':')
                    .is_some_and(|(lo, hi)| lo.is_empty() || hi.is_empty())
            }) =>
        {
            return Err(refused(
                i + 1,
                format!("`{option} {text}`: a range without one of its ends"),
                "invalid port/service `' specified",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// The values iptables refuses of the options it reads as the importer does not.
fn value(
    (module, option): (&str, &str),
    (i, v): (usize, Option<&Tok>),
    fam: Fam,
) -> Result<(), Unread> {
    let Some(v) = v else {
        return Ok(());
    };
    let text = v.text.as_str();
    more_values((module, option), i, text, fam)?;
    match (module, option) {
        // a list of ports is multiport's: tcp and udp read one port or range
        ("tcp" | "udp", "--source-port" | "--destination-port") if text.contains(',') => {
            let says = if module == "tcp" {
                format!("invalid port/service `{text}' specified")
            } else {
                format!("Port \"{text}\" does not resolve to anything.")
            };
            let u = refused(i + 1, format!("port list `{text}` in `-m {module}`"), &says);
            return Err(hinted(u, "a list of ports is `-m multiport --dports`"));
        }
        // multiport reads a range only when it ends after it starts (`5:5` is refused)
        ("multiport", _)
            if text.split(',').any(|p| {
                p.split_once(':').is_some_and(|(lo, hi)| {
                    matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(l), Ok(h)) if l >= h)
                })
            }) =>
        {
            return Err(refused(
                i + 1,
                format!("`{option} {text}`: a range that does not end after it starts"),
                "invalid portrange specified",
            ));
        }
        ("tcp", "--tcp-option") if text == "0" => {
            return Err(refused(
                i + 1,
                "TCP option kind 0 (the end of the option list)".into(),
                "Bad TCP option \"0\"",
            ));
        }
        ("LOG", "--log-prefix")
        | ("NFLOG", "--nflog-prefix")
        | ("hashlimit", "--hashlimit-name")
            if text.is_empty() =>
        {
            return Err(refused(
                i + 1,
                format!("an empty `{option}`"),
                "Argument must have a minimum length of 1 characters",
            ));
        }
        // libxtables' bounds of a number option (`xtables_strtoui`: no sign but `+`)
        _ if let Some((least, most)) = bounds_of(module, option, fam)
            && super::cnum::c_number(text).is_none_or(|n| n < least || n > most) =>
        {
            let says = format!(
                "{module}: bad value for option \"{option}\", or out of range ({least}-{most})."
            );
            let what = if option == "--nflog-group" {
                format!("NFLOG group `{text}`")
            } else {
                format!("`{option} {text}`: not a number from {least} to {most}, as {module} takes")
            };
            return Err(refused(i + 1, what, &says));
        }
        // xt_hashlimit refuses a prefix longer than the family's addresses when it is added
        ("hashlimit", "--hashlimit-srcmask" | "--hashlimit-dstmask") => {
            let most = if fam == Fam::V4 { 32 } else { 128 };
            if text.parse::<u64>().is_ok_and(|n| n > most) {
                return Err(refused(
                    i + 1,
                    format!("`{option} {text}`: a prefix longer than an address ({most} bits)"),
                    "RULE_APPEND failed (Invalid argument)",
                ));
            }
        }
        ("LOG", "--log-level") => {
            let known = text.parse::<u8>().is_ok_and(|n| n <= 7) || LOG_LEVELS.contains(&text);
            if !known {
                let says = format!("log level \"{text}\" unknown");
                return Err(refused(
                    i + 1,
                    format!("log level `{text}`: not 0-7 or a level's name"),
                    &says,
                ));
            }
        }
        ("limit", "--limit") | ("hashlimit", "--hashlimit-upto" | "--hashlimit-above") => {
            // `XT_LIMIT_SCALE` (10000 per second) and hashlimit's `XT_HASHLIMIT_SCALE_v2`
            // (1000000): a rate past it maps to an interval of 0
            let scale: u64 = if module == "limit" { 10_000 } else { 1_000_000 };
            // a byte rate (`100kb/s`) is hashlimit's other reading, which statewall refuses
            let bytes = module == "hashlimit" && text.to_ascii_lowercase().contains('b');
            if rate(text).is_none() && !bytes {
                let says = if module == "limit" {
                    format!("bad rate \"{text}\"'")
                } else {
                    format!("hashlimit: Bad value for \"{option}\" option: \"{text}\"")
                };
                let what =
                    format!("rate `{text}`: no number of packets a second, minute, hour or day");
                return Err(refused(i + 1, what, &says));
            }
            if let Some(r) = rate(text)
                && r.0 > scale * r.1
            {
                let says = format!("Rate too fast \"{text}\"");
                return Err(refused(
                    i + 1,
                    format!(
                        "rate `{text}`: faster than {module} can count ({scale} a second at most)"
                    ),
                    &says,
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The least and the largest number libxtables reads for a number option that statewall
/// keeps: beyond them, with a `-`, or past its digits, iptables-restore refuses the rule.
fn bounds_of(module: &str, option: &str, fam: Fam) -> Option<(u64, u64)> {
    const U32: u64 = u32::MAX as u64;
    Some(match (module, option) {
        ("recent", "--seconds") => (1, U32),
        ("recent", "--hitcount") | ("NFLOG", "--nflog-range" | "--nflog-size") => (0, U32),
        ("NFLOG", "--nflog-threshold" | "--nflog-group") => (0, 65_535),
        ("limit", "--limit-burst") => (0, 10_000),
        ("policy", "--spi" | "--reqid") => (0, U32),
        // 65535 less the IP header (20 bytes; IPv6: 40) and the TCP header (20)
        ("TCPMSS", "--set-mss") if fam == Fam::V4 => (0, 65_515),
        ("TCPMSS", "--set-mss") => (0, 65_495),
        (
            "hashlimit",
            "--hashlimit-htable-size"
            | "--hashlimit-htable-max"
            | "--hashlimit-htable-gcinterval"
            | "--hashlimit-htable-expire",
        ) => (0, U32),
        _ => return None,
    })
}

/// The number strtoull (or atoi) reads at the start of `text` in base 10 (`1.0` is 1),
/// None where it reads no digit; past `u64`, its largest.
pub(super) fn leading_number(text: &str) -> Option<u64> {
    let digits: String = text
        .strip_prefix('+')
        .unwrap_or(text)
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// Whether `text` is an address of family `fam` as getaddrinfo reads a number: IPv6's
/// notation, or inet_aton's 1 to 4 parts (C numbers: `0x`, a leading 0 for octal), the last
/// filling the bytes left (`255.255.255` is 255.255.0.255).
fn numeric_host(text: &str, fam: Fam) -> bool {
    if fam == Fam::V6 {
        return text.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 || parts.iter().any(|p| p.is_empty() || p.starts_with('+')) {
        return false;
    }
    let Some(nums) = parts
        .iter()
        .map(|p| super::cnum::c_number(p))
        .collect::<Option<Vec<u64>>>()
    else {
        return false;
    };
    let (last, first) = nums.split_last().expect("one part at least");
    first.iter().all(|&n| n <= 255) && *last < 1u64 << (8 * (5 - nums.len()))
}

/// A rate as iptables' `parse_rate` reads it: (number, seconds of its unit), or None where
/// it reads none (the importer refuses those).
fn rate(text: &str) -> Option<(u64, u64)> {
    let (n, unit) = match text.split_once('/') {
        Some((n, u)) => (n, Some(u)),
        None => (text, None),
    };
    // atoi: a sign, then digits up to the first other character (`5.5` is 5, `0x5` is 0);
    // a negative number is past every scale as the unsigned number it becomes
    let (neg, n) = match n.as_bytes().first() {
        Some(b'-') => (true, &n[1..]),
        Some(b'+') => (false, &n[1..]),
        _ => (false, n),
    };
    let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits
        .parse()
        .unwrap_or(if digits.is_empty() { 0 } else { u64::MAX });
    let n = match (n, neg) {
        (0, _) => return None,
        (_, true) => u64::MAX,
        (n, false) => n,
    };
    let mult = match unit {
        None => 1,
        Some("") => return None,
        Some(u) => {
            let u = u.to_ascii_lowercase();
            [
                ("second", 1),
                ("minute", 60),
                ("hour", 3600),
                ("day", 86_400),
            ]
            .iter()
            .find(|(w, _)| w.starts_with(u.as_str()))?
            .1
        }
    };
    Some((n, mult))
}

/// A module's checks once its options are read: mandatory ones, "one of", `.also`, and
/// what the kernel refuses when the rule is added.
fn finished(inst: &Inst, toks: &[Tok]) -> Result<(), Unread> {
    let Some(spec) = spec(inst.module) else {
        return Ok(());
    };
    let mname = MODULES[inst.module].0;
    let has = |id: u8| inst.seen.iter().find(|(s, _)| *s == id).map(|&(_, at)| at);
    let how = if mname.bytes().all(|b| b.is_ascii_uppercase()) {
        format!("`-j {mname}`")
    } else {
        format!("`-m {mname}`")
    };
    for &id in spec.mand {
        if has(id).is_none() {
            let o = long(inst.module, id);
            let says = format!("{mname}: option \"{o}\" must be specified");
            let u = refused(inst.at, format!("{how} without `{o}`"), &says);
            return Err(if o == "--algo" {
                hinted(u, "add `--algo bm` (or `kmp`)")
            } else {
                u
            });
        }
    }
    if let Some((ids, says)) = spec.one_of
        && !ids.iter().any(|&id| has(id).is_some())
    {
        let names: Vec<String> = ids
            .iter()
            .map(|&id| format!("`{}`", long(inst.module, id)))
            .collect();
        return Err(refused(
            inst.at,
            format!("{how} without any of {}", names.join(", ")),
            says,
        ));
    }
    // libxt_policy's final check: `--pol none` with `--strict` (and so with `--next`)
    if mname == "policy"
        && let (Some(pol), Some(strict)) = (has(2), has(3))
        && toks.get(pol + 1).is_some_and(|v| v.text == "none")
    {
        return Err(refused(
            strict,
            "`--strict` with `--pol none`".into(),
            "policy match: policy none but --strict given",
        ));
    }
    for &(id, needs) in spec.also {
        if let (Some(at), None) = (has(id), has(needs)) {
            let (o, n) = (long(inst.module, id), long(inst.module, needs));
            let says = format!("{mname}: option \"{o}\" also requires \"{n}\".");
            return Err(refused(at, format!("`{o}` without `{n}`"), &says));
        }
    }
    kernel(inst, mname, toks)
}

/// What the kernel refuses when the rule is added (iptables-restore: "RULE_APPEND failed
/// (Invalid argument)").
fn kernel(inst: &Inst, mname: &str, toks: &[Tok]) -> Result<(), Unread> {
    let has = |id: u8| inst.seen.iter().find(|(s, _)| *s == id).map(|&(_, at)| at);
    let number = |at: usize| toks.get(at + 1).and_then(|v| v.text.parse::<u64>().ok());
    let says = "RULE_APPEND failed (Invalid argument)";
    match mname {
        // xt_recent keeps at most 65535 stamps of a source (XT_RECENT_MAX_NSTAMPS)
        "recent" if has(7).and_then(number).is_some_and(|n| n > 65_535) => {
            let at = has(7).expect("given") + 1;
            return Err(refused(
                at,
                "a `--hitcount` past 65535, the stamps the kernel keeps of a source".into(),
                says,
            ));
        }
        // xt_recent: `--set` and `--remove` take no `--seconds`, `--hitcount`, `--rttl` or
        // `--reap`
        "recent" => {
            let op = if has(1).is_some() {
                Some(1)
            } else {
                has(4).map(|_| 4)
            };
            if let Some(op) = op
                && let Some((id, at)) = [5, 7, 8, 6]
                    .iter()
                    .find_map(|&id| has(id).map(|at| (id, at)))
            {
                let (o, m) = (long(inst.module, id), long(inst.module, op));
                return Err(refused(
                    at,
                    format!(
                        "`{o}` with `{m}`: the kernel takes it only on a check of the list (`--rcheck`, `--update`)"
                    ),
                    says,
                ));
            }
        }
        // xt_hashlimit: a table whose entries expire at once, or are never collected
        "hashlimit" => {
            for id in [9, 8] {
                if let Some(at) = has(id).filter(|&at| number(at) == Some(0)) {
                    let o = long(inst.module, id);
                    return Err(refused(
                        at + 1,
                        format!("`{o} 0`: the kernel takes 1 millisecond at least"),
                        says,
                    ));
                }
            }
            return burst_overflows(inst, toks);
        }
        _ => {}
    }
    Ok(())
}

/// `CREDITS_PER_JIFFY × HZ / XT_HASHLIMIT_SCALE_v2` of xt_hashlimit: 137438953 with HZ 250 and
/// with HZ 1000 (CREDITS_PER_JIFFY is the power of two below 2^64 / (HZ × 86400)); HZ 100
/// and 300 kernels differ.
const CREDITS_PER_SCALE: u64 = 137_438_953;

/// xt_hashlimit refuses a packet rate whose bucket overflows (ERANGE, "overflow, try
/// lower"): `user2credits(avg × burst) < user2credits(avg)`, each product wrapping in 64
/// bits, with `avg = 1000000 × unit / n` as libxt_hashlimit computes it. A rate of `1/hour`
/// takes no burst of 38, `1/day` none of 2.
fn burst_overflows(inst: &Inst, toks: &[Tok]) -> Result<(), Unread> {
    let has = |id: u8| inst.seen.iter().find(|(s, _)| *s == id).map(|&(_, at)| at);
    let text = |at: usize| toks.get(at + 1).map_or("", |v| v.text.as_str());
    let Some(at) = has(1).or(has(2)).filter(|_| has(12).is_none()) else {
        return Ok(());
    };
    // a byte rate (`100kb/s`) has other arithmetic, and statewall refuses it
    let Some((n, unit)) = rate(text(at)).filter(|_| !text(at).to_ascii_lowercase().contains('b'))
    else {
        return Ok(());
    };
    let burst_at = has(5);
    let burst = match burst_at {
        Some(b) => match super::cnum::c_number(text(b)) {
            Some(v) => v,
            None => return Ok(()),
        },
        None => 5,
    };
    let avg = 1_000_000 * unit / n;
    let credits = |u: u64| u.wrapping_mul(CREDITS_PER_SCALE);
    if burst == 0 || credits(avg.wrapping_mul(burst)) < credits(avg) {
        let what = format!(
            "`{} {}` with a burst of {burst}: the kernel's count of credits for the bucket overflows",
            toks[at].text,
            text(at)
        );
        let says = "RULE_APPEND failed (Numerical result out of range)";
        return Err(refused(burst_at.unwrap_or(at) + 1, what, says));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal of a rule line, as a real line is read (names written out first).
    fn check(line: &str) -> Result<(), String> {
        let mut toks = super::super::lex::words(line, 0).unwrap();
        super::super::getopt::spell_out(&mut toks, Fam::V4)
            .and_then(|walk| checked(&toks, &walk, Fam::V4))
            .map_err(|u| format!("{} ({})", u.what, u.why))
    }

    /// The cases the kernel test proves against iptables-restore, read without root.
    #[test]
    fn refused_and_loaded_as_iptables_restore_does() {
        let cases = include_str!("../../../tests/data/import/xtables-checks.txt");
        let mut n = 0;
        for line in cases
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (want, rule) = line.split_once(": ").unwrap();
            match (want, check(rule)) {
                ("refuse", Err(why)) => assert!(why.contains("refuses it too"), "{rule}: {why}"),
                ("load", Ok(())) => {}
                (_, got) => panic!("{rule}: want {want}, got {got:?}"),
            }
            n += 1;
        }
        assert!(n >= 60);
    }

    #[test]
    fn the_refusal_names_the_option_and_quotes_iptables() {
        let why = check("-A INPUT -m state -j ACCEPT").unwrap_err();
        assert!(
            why.contains("`-m state` without `--state`")
                && why.contains("state: option \"--state\" must be specified"),
            "{why}"
        );
        let why = check("-A INPUT -p tcp --sport 1 --sport 2 -j ACCEPT").unwrap_err();
        assert!(why.contains("Only one `--source-port' allowed"), "{why}");
        // a rule of the other family is read only up to its `-6`
        assert_eq!(check("-A INPUT -p tcp -6 -m state -j ACCEPT"), Ok(()));
    }

    /// A policy element's options come again after `--next` (`XTOPT_MULTI`), which needs
    /// `--strict`; iptables loads such a rule (the importer refuses its elements after).
    #[test]
    fn policy_elements_come_again_after_next() {
        let line = "-A INPUT -m policy --dir in --strict --proto esp --next --proto ah -j ACCEPT";
        assert_eq!(check(line), Ok(()));
        let why = check("-A INPUT -m policy --dir in --strict --proto esp --proto ah -j ACCEPT")
            .unwrap_err();
        assert!(why.contains("policy match: double --proto option"), "{why}");
        let why = check("-A INPUT -m policy --dir in --proto esp --next -j ACCEPT").unwrap_err();
        assert!(
            why.contains("\"--next\" also requires \"--strict\""),
            "{why}"
        );
    }

    #[test]
    fn rates_read_as_parse_rate_reads_them() {
        assert_eq!(rate("5/s"), Some((5, 1)));
        assert_eq!(rate("3/MIN"), Some((3, 60)));
        assert_eq!(rate("7"), Some((7, 1)));
        assert_eq!(rate("2/d"), Some((2, 86_400)));
        assert_eq!(rate("2/fortnight"), None);
        assert_eq!(rate("0/s"), None);
        assert_eq!(rate("1/"), None);
        // atoi's reading: a sign, digits up to the first other character
        assert_eq!(rate("+5/s"), Some((5, 1)));
        assert_eq!(rate("5.5/s"), Some((5, 1)));
        assert_eq!(rate("0x5/s"), None);
        assert_eq!(rate("-1/s"), Some((u64::MAX, 1)));
        assert_eq!(rate("5/s/s"), None);
    }
}
