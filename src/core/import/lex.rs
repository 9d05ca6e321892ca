//! A line of iptables-save into words.

use std::ops::Range;

/// A word and where it is in the source.
#[derive(Debug, Clone)]
pub(super) struct Tok {
    pub(super) text: String,
    pub(super) span: Range<usize>,
}

/// The most words a line may have: iptables-restore 1.8 refuses a rule of more than 251 with
/// "Parser cannot handle more arguments" (its argv holds 255, with its own name and `-t
/// TABLE`), and skips a `[packets:bytes]` counter before them.
pub(super) const WORDS_MAX: usize = 252;
/// The longest word: iptables-restore refuses one of 1,024 bytes or more ("Parameter too
/// long!").
pub(super) const WORD_MAX: usize = 1023;

/// Why a line is not words.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LexError {
    /// a quote opened and never closed (the rest of the line)
    Unclosed(Range<usize>),
    /// more than [`WORDS_MAX`] words (the word past them)
    TooMany(Range<usize>),
    /// a word longer than [`WORD_MAX`]
    TooLong(Range<usize>),
}

/// What separates words for iptables-restore (`add_param_to_argv`): a space, a tab, a line
/// end; a carriage return or a form feed is part of its word.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// Splits a line (starting at byte `base` of the source) into words as iptables-restore does:
/// double quotes group (opened anywhere in a word: `--comment="a b"` is one word; closing
/// ends it), `\"` and `\\` escape inside them. A long option with its value after `=` (`--dport=22`, as getopt
/// reads it) is two words. A line of more words, or a longer word, than iptables-restore reads
/// is refused where it passes them (so no line costs more than that many words).
pub(super) fn words(line: &str, base: usize) -> Result<Vec<Tok>, LexError> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if is_blank(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        let mut quoted = false;
        // where the first quote opened, in `text` (a word that starts quoted is a value)
        let mut first_quote: Option<usize> = None;
        while i < b.len() && (quoted || !is_blank(b[i])) {
            // past the longest word iptables-restore reads, the rest of it is not kept
            if text.len() > WORD_MAX {
                match b[i] {
                    b'\\' if quoted => i += 2,
                    b'"' if quoted => {
                        quoted = false;
                        i += 1;
                        break;
                    }
                    b'"' => {
                        quoted = true;
                        i += 1;
                    }
                    _ => i += 1,
                }
                continue;
            }
            match b[i] {
                b'\\' if quoted && i + 1 < b.len() => {
                    let c = line[i + 1..].chars().next().unwrap_or('\\');
                    text.push(c);
                    i += 1 + c.len_utf8();
                }
                // a closing quote ends the word (`"a b"-j X` is two), as iptables-restore
                // reads it; an opening one goes on with the word
                b'"' if quoted => {
                    quoted = false;
                    i += 1;
                    break;
                }
                b'"' => {
                    first_quote.get_or_insert(text.len());
                    quoted = true;
                    i += 1;
                }
                _ => {
                    let c = line[i..].chars().next().unwrap_or(' ');
                    text.push(c);
                    i += c.len_utf8();
                }
            }
        }
        if quoted {
            return Err(LexError::Unclosed(base + start..base + line.len()));
        }
        i = i.min(b.len());
        let span = base + start..base + i;
        if out.len() >= WORDS_MAX {
            return Err(LexError::TooMany(span));
        }
        if text.len() > WORD_MAX {
            return Err(LexError::TooLong(span));
        }
        match long_option_value(&text, first_quote) {
            Some(eq) => {
                let name_end = span.start + eq;
                out.push(Tok {
                    text: text[..eq].to_string(),
                    span: span.start..name_end,
                });
                out.push(Tok {
                    text: text[eq + 1..].to_string(),
                    span: name_end + 1..span.end,
                });
            }
            None => out.push(Tok { text, span }),
        }
    }
    Ok(out)
}

/// The long forms of iptables' own options that iptables-restore reads as a whole word
/// (`argv[optind - 1]`, not getopt's value): `--source=10.0.0.1` is a host name to it,
/// `--jump=ACCEPT` a chain, `--proto=tcp` (an abbreviation, getopt's too) a protocol name,
/// each refused. `--goto=CHAIN` and the modules' options take their value after `=`.
const OWN_LONG_OPTIONS: &[&str] = &[
    "source",
    "src",
    "destination",
    "dst",
    "protocol",
    "in-interface",
    "out-interface",
    "jump",
    "fragments",
];

/// Where the `=` of `--name=value` is, when `text` is a long option of a match or target
/// with its value (the name unquoted, of letters, digits and `-`), as getopt reads it.
fn long_option_value(text: &str, first_quote: Option<usize>) -> Option<usize> {
    let eq = text.find('=')?;
    let name = text[..eq].strip_prefix("--")?;
    let plain = !name.is_empty()
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && !OWN_LONG_OPTIONS.iter().any(|o| o.starts_with(name))
        && first_quote.is_none_or(|q| q > eq);
    plain.then_some(eq)
}

/// Where the options of a refused module that start at `toks[i]` end: the next option that
/// starts a new part of the rule (a `!` before one of the module's own options is its).
pub(super) fn skip_module(toks: &[Tok], mut i: usize) -> usize {
    while i < toks.len() {
        let t = toks[i].text.as_str();
        let negates_own = t == "!"
            && toks
                .get(i + 1)
                .is_some_and(|n| !RULE_OPTIONS.contains(&n.text.as_str()));
        if RULE_OPTIONS.contains(&t) && !negates_own {
            break;
        }
        i += 1;
    }
    i
}

/// Options that start a new part of a rule (where skipping an unknown module's options stops).
const RULE_OPTIONS: &[&str] = &[
    "!",
    "-p",
    "--protocol",
    "-s",
    "--source",
    "-d",
    "--destination",
    "-i",
    "--in-interface",
    "-o",
    "--out-interface",
    "-m",
    "--match",
    "-j",
    "--jump",
    "-g",
    "--goto",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_what_iptables_restore_reads_are_refused_where_they_pass_it() {
        // 251 words and a counter: read
        let line = format!(
            "[0:0] -A INPUT {}-j ACCEPT",
            "-m comment --comment x ".repeat(61) + "-f -p tcp "
        );
        assert_eq!(words(&line, 0).unwrap().len(), 252);
        let line = format!("-A INPUT {}-j ACCEPT", "-m comment --comment x ".repeat(70));
        match words(&line, 0) {
            Err(LexError::TooMany(span)) => assert_eq!(&line[span], "--comment"),
            other => panic!("{other:?}"),
        }
        let long = format!(
            "-A INPUT -m comment --comment \"{}\" -j ACCEPT",
            "é".repeat(600)
        );
        match words(&long, 5) {
            Err(LexError::TooLong(span)) => assert_eq!(span, 5 + 30..5 + long.len() - 10),
            other => panic!("{other:?}"),
        }
        // a word of 1,023 bytes is read; quotes and escapes in a long one do not end it early
        let ok = format!("-m comment --comment {} -j ACCEPT", "x".repeat(1023));
        assert_eq!(words(&ok, 0).unwrap()[4].text, "-j");
        let escaped = format!("--comment \"{}\\\" b\" -j", "x".repeat(2000));
        assert!(matches!(words(&escaped, 0), Err(LexError::TooLong(_))));
        assert!(matches!(
            words("--comment \"open", 0),
            Err(LexError::Unclosed(_))
        ));
    }

    #[test]
    fn words_quote_and_escape() {
        let w = words(r#"-m comment --comment "a \"b\" c" -j ACCEPT"#, 0).unwrap();
        let t: Vec<&str> = w.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            t,
            ["-m", "comment", "--comment", "a \"b\" c", "-j", "ACCEPT"]
        );
        assert!(words("--comment \"open", 0).is_err());
    }

    #[test]
    fn quotes_inside_a_word_and_long_options_with_their_value() {
        let w = words(
            r#"--comment="a b" --dport=22 "--x=y" -j ACCEPT --log-prefix="p: ""#,
            0,
        )
        .unwrap();
        let t: Vec<&str> = w.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            t,
            [
                "--comment",
                "a b",
                "--dport",
                "22",
                "--x=y",
                "-j",
                "ACCEPT",
                "--log-prefix",
                "p: "
            ]
        );
        assert_eq!(w[2].span, 16..23);
        assert_eq!(w[3].span, 24..26);
        assert!(words("--comment=\"open", 0).is_err());
        let w = words(r#"--comment "GIT SSH"-j LOGACCEPT"#, 0).unwrap();
        let t: Vec<&str> = w.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(t, ["--comment", "GIT SSH", "-j", "LOGACCEPT"]);
    }

    #[test]
    fn spans_are_in_the_source() {
        let w = words("-p  tcp", 10).unwrap();
        assert_eq!(w[1].span, 14..17);
    }
}
