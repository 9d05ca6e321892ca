//! A line of iptables-save into words.

use std::ops::Range;

/// A word and where it is in the source.
#[derive(Debug, Clone)]
pub(super) struct Tok {
    pub(super) text: String,
    pub(super) span: Range<usize>,
}

/// Splits a line (starting at byte `base` of the source) into words; double quotes group,
/// `\"` and `\\` escape inside them.
pub(super) fn words(line: &str, base: usize) -> Result<Vec<Tok>, Range<usize>> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        if b[i] == b'"' {
            i += 1;
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        let c = line[i + 1..].chars().next().unwrap_or('\\');
                        text.push(c);
                        i += 1 + c.len_utf8();
                    }
                    b'"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    _ => {
                        let c = line[i..].chars().next().unwrap_or(' ');
                        text.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            if !closed {
                return Err(base + start..base + line.len());
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                let c = line[i..].chars().next().unwrap_or(' ');
                text.push(c);
                i += c.len_utf8();
            }
        }
        out.push(Tok {
            text,
            span: base + start..base + i,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn spans_are_in_the_source() {
        let w = words("-p  tcp", 10).unwrap();
        assert_eq!(w[1].span, 14..17);
    }
}
