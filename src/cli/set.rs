//! `statewall set add|del|list`: members of live sets at run time.

use std::io::Read;

use super::args::SetCmd;
use super::error::CliError;
use super::{Ctx, kernel, out, outln};
use crate::core::model::Cidr;
use crate::core::policy::parse_member;
use crate::core::usecase::sets::{self, SetRequest};
use crate::system::host::SystemClock;

/// At most this many bad elements are listed; the rest are counted.
const SHOWN: usize = 20;

pub fn run(cx: &Ctx, op: SetCmd) -> Result<(), CliError> {
    match op {
        SetCmd::Add {
            name,
            elements,
            timeout,
            force,
        } => change(cx, &name, &elements, true, timeout, force),
        SetCmd::Del { name, elements } => change(cx, &name, &elements, false, None, false),
        SetCmd::List { name, json } => list(cx, &name, json),
    }
}

/// The elements as given: arguments, and for `-` the words of stdin (`#` starts a comment).
/// Every bad one is reported (the first [`SHOWN`]) and nothing is sent.
fn elements(args: &[String]) -> Result<Vec<Cidr>, CliError> {
    let mut words: Vec<(String, String)> = Vec::new();
    let mut stdin_read = false;
    for a in args {
        if a != "-" {
            words.push((a.clone(), format!("argument {a:?}")));
            continue;
        }
        if stdin_read {
            continue;
        }
        stdin_read = true;
        let mut bytes = Vec::new();
        let max = super::load::LIST_MAX;
        std::io::stdin()
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::usage(format!("reading elements from stdin: {e}")))?;
        if bytes.len() as u64 > max {
            return Err(CliError::usage(format!(
                "stdin holds more than {} MiB of elements: split it",
                max >> 20
            )));
        }
        words.extend(stdin_words(bytes)?);
    }
    let mut out = Vec::with_capacity(words.len());
    let mut bad = Vec::new();
    let mut bad_count = 0;
    for (w, at) in &words {
        match parse_member(w) {
            Ok(c) => out.push(c),
            Err(why) => {
                bad_count += 1;
                if bad.len() < SHOWN {
                    bad.push(format!("{at}: {why}"));
                }
            }
        }
    }
    if bad_count > 0 {
        let more = if bad_count > bad.len() {
            format!("\n... and {} more", bad_count - bad.len())
        } else {
            String::new()
        };
        return Err(CliError::usage(format!(
            "{bad_count} element(s) are not addresses or networks; nothing was changed:\n{}{more}",
            bad.join("\n")
        )));
    }
    if out.is_empty() {
        return Err(CliError::usage("no elements given (stdin was empty)"));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The words of stdin's bytes (split at whitespace and commas, `#` starting a comment), each
/// with its line; or where the bytes stop being UTF-8: the line, and the byte's offset as a
/// `from_file` list's error gives it.
fn stdin_words(bytes: Vec<u8>) -> Result<Vec<(String, String)>, CliError> {
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count();
        let why = super::load::not_utf8(at, "a list of addresses and networks");
        CliError::usage(format!("stdin:{line}: {why}"))
    })?;
    // an editor's byte order mark, read past as in a policy or a `from_file` list
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut words = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for w in line.split(|c: char| c.is_whitespace() || c == ',') {
            if !w.is_empty() {
                words.push((w.to_string(), format!("stdin:{}", i + 1)));
            }
        }
    }
    Ok(words)
}

fn change(
    cx: &Ctx,
    name: &str,
    args: &[String],
    add: bool,
    timeout: Option<u64>,
    force: bool,
) -> Result<(), CliError> {
    let nets = elements(args)?;
    // the admin's own connection (SSH_CONNECTION, else the sshd this runs under), when it
    // reaches this ruleset
    cx.enter_netns()?;
    let peers: Vec<std::net::IpAddr> =
        crate::system::host::admin_connection(crate::system::host::sshd_ports)
            .map(|c| vec![c.client])
            .unwrap_or_default();
    let (add_list, del_list): (&[Cidr], &[Cidr]) = if add { (&nets, &[]) } else { (&[], &nets) };
    let req = SetRequest {
        table: &cx.table,
        set: name,
        add: add_list,
        del: del_list,
        timeout,
        force,
        admin_peers: &peers,
    };
    let mut k = kernel();
    let result = sets::change(&mut k, &cx.state, &SystemClock, &req);
    k.finish();
    let done = result?;
    for p in &done.present {
        eprintln!("statewall: {p} is already in \"{name}\": kept as it was");
    }
    for a in &done.absent {
        eprintln!("statewall: {a} is not in \"{name}\": nothing to delete");
    }
    let (n, verb, prep) = if add {
        (done.added, "added", "to")
    } else {
        (done.deleted, "deleted", "from")
    };
    let life = match (add, timeout) {
        (true, Some(t)) => format!(" for {t}s"),
        _ => String::new(),
    };
    outln(format!(
        "{verb} {n} member{} {prep} \"{name}\"{life} (generation {})",
        if n == 1 { "" } else { "s" },
        done.generation
    ))
}

fn list(cx: &Ctx, name: &str, json: bool) -> Result<(), CliError> {
    cx.enter_netns()?;
    let mut k = kernel();
    let result = sets::list(&mut k, &cx.table, name);
    k.finish();
    let (members, timeout) = result?;
    if json {
        let rows: Vec<serde_json::Value> = members
            .iter()
            .map(|m| {
                serde_json::json!({
                    "member": m.net.to_string(),
                    "packets": m.packets,
                    "bytes": m.bytes,
                    "expires_in_ms": m.expires_ms,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "schema": "statewall.set/1",
            "table": cx.table,
            "set": name,
            "timeout_s": timeout,
            "members": rows,
        });
        return outln(doc.to_string());
    }
    let mut s = format!(
        "set \"{name}\": {} member{}{}\n",
        members.len(),
        if members.len() == 1 { "" } else { "s" },
        match timeout {
            Some(t) => format!(", default timeout {t}s"),
            None => String::new(),
        }
    );
    if !members.is_empty() {
        s.push_str(&format!(
            "{:<44} {:>12} {:>14}  {}\n",
            "MEMBER", "PACKETS", "BYTES", "EXPIRES IN"
        ));
    }
    for m in &members {
        let exp = match m.expires_ms {
            Some(ms) => format!("{}s", ms.div_ceil(1000)),
            None => "never".to_string(),
        };
        s.push_str(&format!(
            "{:<44} {:>12} {:>14}  {exp}\n",
            m.net.to_string(),
            m.packets,
            m.bytes
        ));
    }
    out(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_words_say_their_line_read_past_a_bom_and_place_a_byte_that_is_not_utf8() {
        let words =
            stdin_words(b"\xef\xbb\xbf10.0.0.1, 10.0.0.2 # two\n\n2001:db8::/32\n".to_vec())
                .unwrap();
        let got: Vec<(&str, &str)> = words.iter().map(|(w, a)| (&w[..], &a[..])).collect();
        assert_eq!(
            got,
            [
                ("10.0.0.1", "stdin:1"),
                ("10.0.0.2", "stdin:1"),
                ("2001:db8::/32", "stdin:3")
            ]
        );
        let err = stdin_words(b"10.0.0.1\n10.0.0.2\xff\n".to_vec()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("stdin:2: it is not UTF-8 text (byte 17 is not)"),
            "{err}"
        );
    }
}
