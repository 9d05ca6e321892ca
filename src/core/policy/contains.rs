//! An entry's `contains` and `except_contains`: patterns searched for in a packet's bytes
//! (the kernel's xt_string, iptables' `-m string`; see `core::payload`).
//!
//! ```toml
//! contains = ["friendly-scanner", "sipvicious"]              # any of these, one rule each
//! contains = { hex = "0000ff0001", from_offset = 40 }        # bytes that are not text
//! except_contains = { text = "GET /", algo = "kmp", to_offset = 100, ignore_case = true }
//! ```
//!
//! A pattern is 1 to 128 bytes; it is searched from the network header on (offset 0 is the
//! IP header's first byte) between `from_offset` (0) and `to_offset` (65535), with `algo`
//! `"bm"` (Boyer-Moore, the default) or `"kmp"` (Knuth-Morris-Pratt).

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, type_name};
use crate::core::model::More;
use crate::core::payload::{Algo, Pattern, parse_hex};

const EXAMPLE: &str = "[\"friendly-scanner\"]";
const KEYS: &str =
    "a pattern is text = \"…\" or hex = \"…\", with algo, from_offset, to_offset and ignore_case";

impl Checker<'_> {
    /// `contains`, `except_contains` into the entry: each pattern once.
    pub(super) fn contains_key(
        &mut self,
        more: &mut More,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) {
        let Some(out) = self.each_once(key, value, EXAMPLE, Self::pattern) else {
            return;
        };
        if key == "contains" {
            more.contains = out;
        } else {
            more.except_contains = out;
        }
    }

    /// One pattern: a string (its text), or a table.
    fn pattern(&mut self, key: &str, item: &Spanned<DeValue<'_>>) -> Option<Pattern> {
        let span = item.span();
        let table = match item.get_ref() {
            DeValue::String(s) => {
                return self.made(key, span, s.as_bytes(), (Algo::Bm, 0, u16::MAX, false));
            }
            DeValue::Table(t) => t,
            other => {
                self.error(
                    span,
                    format!("expected a string or a table in `{key}`, found {}", type_name(other)),
                    Some(format!("write {key} = {EXAMPLE}, or {key} = {{ hex = \"0000ff0001\", from_offset = 40 }}")),
                );
                return None;
            }
        };
        let (mut bytes, mut algo, mut from, mut to, mut icase) =
            (None, Algo::Bm, 0, u16::MAX, false);
        let mut ok = true;
        for (k, v) in table.iter() {
            match k.get_ref().as_ref() {
                "text" | "hex" if bytes.is_some() => {
                    self.error(k.span(), format!("a second pattern in one item of `{key}`"), Some("write text or hex, once; several patterns are several items of the list".into()));
                    ok = false;
                }
                "text" => match v.get_ref().as_str() {
                    Some(s) => bytes = Some(s.as_bytes().to_vec()),
                    None => {
                        self.error(v.span(), "`text` is a string", None);
                        ok = false;
                    }
                },
                "hex" => match v.get_ref().as_str().map(parse_hex) {
                    Some(Ok(b)) => bytes = Some(b),
                    Some(Err(why)) => {
                        self.error(
                            v.span(),
                            format!("`hex` is pairs of hex digits: {why}"),
                            Some("write hex = \"0000ff0001\"".into()),
                        );
                        ok = false;
                    }
                    None => {
                        self.error(v.span(), "`hex` is a string of hex digits", None);
                        ok = false;
                    }
                },
                "algo" => match self.choice("algo", v, &["bm", "kmp"]) {
                    Some(a) => algo = Algo::from_name(a).expect("a choice"),
                    None => ok = false,
                },
                "from_offset" => match self.number("from_offset", v, 0, 65535) {
                    Some(n) => from = n as u16,
                    None => ok = false,
                },
                "to_offset" => match self.number("to_offset", v, 0, 65535) {
                    Some(n) => to = n as u16,
                    None => ok = false,
                },
                "ignore_case" => match v.get_ref() {
                    DeValue::Boolean(b) => icase = *b,
                    _ => {
                        self.error(v.span(), "`ignore_case` is true or false", None);
                        ok = false;
                    }
                },
                other => {
                    let help = match other {
                        "string" | "pattern" => "did you mean `text`?",
                        "hex_string" => "did you mean `hex`?",
                        "from" | "offset" => "did you mean `from_offset`?",
                        "to" => "did you mean `to_offset`?",
                        "icase" => "did you mean `ignore_case`?",
                        _ => KEYS,
                    };
                    self.error(
                        k.span(),
                        format!("unknown key `{other}` in a pattern of `{key}`"),
                        Some(help.into()),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let Some(bytes) = bytes else {
            self.error(
                span,
                format!("this pattern of `{key}` has no text or hex"),
                Some(KEYS.into()),
            );
            return None;
        };
        self.made(key, span, &bytes, (algo, from, to, icase))
    }

    fn made(
        &mut self,
        key: &str,
        span: std::ops::Range<usize>,
        bytes: &[u8],
        (algo, from, to, icase): (Algo, u16, u16, bool),
    ) -> Option<Pattern> {
        match Pattern::new(bytes, algo, from, to, icase) {
            Ok(p) => Some(p),
            Err(why) => {
                self.error(
                    span,
                    format!("`{key}` cannot search for {why}"),
                    Some(KEYS.into()),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::payload::Algo;
    use crate::core::policy::parse;

    #[test]
    fn patterns_are_read_as_text_or_hex_with_their_options() {
        let (p, d) = parse(
            "[[block]]\nname = \"sip\"\nudp = [5060]\ncontains = [\"friendly-scanner\", { hex = \"0000FF0001\", from_offset = 40 }]\n\
             except_contains = { text = \"ok\", algo = \"kmp\", to_offset = 100, ignore_case = true }\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        let m = &p.block[0].service.more;
        assert_eq!(m.contains[0].bytes(), b"friendly-scanner");
        assert_eq!(
            (m.contains[1].bytes(), m.contains[1].from),
            (&[0, 0, 0xff, 0, 1][..], 40)
        );
        let e = m.except_contains[0];
        assert_eq!(
            (e.bytes(), e.algo, e.to, e.icase),
            (&b"ok"[..], Algo::Kmp, 100, true)
        );
    }
}
