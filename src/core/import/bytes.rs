//! An iptables-save file that is not UTF-8. iptables-restore reads bytes, and comments in
//! another encoding (GBK, Latin-1: a Chinese or a French admin's `-m comment --comment`, or a
//! `#` line) are common in real files. Bytes that are not UTF-8 are read as U+FFFD where they
//! are inside a comment — a `#` line, or the value of `--comment` — which only names or
//! explains; anywhere else (an interface or chain name, say) they would change what a rule
//! matches, and the file is refused there.

use super::lex::words;

/// The text of `bytes` (not UTF-8), with each run of bytes that are not UTF-8 read as
/// U+FFFD, and the lines (1-based) where that happened; Err with the offset (in the text
/// returned as the second value) of the first such run outside a comment.
pub fn decode_comments(bytes: &[u8]) -> Result<(String, Vec<usize>), (String, usize)> {
    let mut text = String::with_capacity(bytes.len() + 16);
    let mut at = Vec::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            at.push(text.len());
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    // one pass over the lines: each line with such bytes is read once, its words once
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let end = start + line.len();
        let j = i + at[i..].partition_point(|&o| o < end);
        if j > i {
            if let Some(off) = outside_comment(line.trim_end_matches('\n'), start, &at[i..j]) {
                return Err((text, off));
            }
            lines.push(n + 1);
        }
        (start, i) = (end, j);
    }
    Ok((text, lines))
}

/// The first of `offsets` (sorted, within `line`, which starts at byte `start` of the text)
/// that is in neither a `#` line nor a `--comment` value.
fn outside_comment(line: &str, start: usize, offsets: &[usize]) -> Option<usize> {
    if line.trim_start().starts_with('#') {
        return None;
    }
    let Ok(toks) = words(line, start) else {
        return offsets.first().copied();
    };
    // the spans of the `--comment` values, in order, walked along with the offsets
    let mut values = toks
        .windows(2)
        .filter(|w| w[0].text == "--comment")
        .map(|w| w[1].span.clone())
        .peekable();
    for &off in offsets {
        while values.next_if(|v| v.end <= off).is_some() {}
        if !values.peek().is_some_and(|v| v.contains(&off)) {
            return Some(off);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_utf8_are_taken_in_comments_only() {
        // GBK for 中文 in a `--comment` value and on a `#` line
        let gbk = [0xd6u8, 0xd0, 0xce, 0xc4];
        let mut f = b"*filter\n# ".to_vec();
        f.extend(gbk);
        f.extend(b"\n-A INPUT -p tcp --dport 22 -m comment --comment \"ssh ");
        f.extend(gbk);
        f.extend(b"\" -j ACCEPT\nCOMMIT\n");
        let (text, lines) = decode_comments(&f).unwrap();
        assert_eq!(lines, [2, 3]);
        assert!(
            text.contains("--comment \"ssh \u{fffd}\u{fffd}\u{fffd}\u{fffd}\" -j ACCEPT"),
            "{text}"
        );
        // in an interface name: refused where it is
        let mut g = b"*filter\n-A INPUT -i eth".to_vec();
        g.push(0xff);
        g.extend(b" -j ACCEPT\nCOMMIT\n");
        let (text, off) = decode_comments(&g).unwrap_err();
        assert_eq!(&text[off - 3..off], "eth");
        assert!(text[off..].starts_with('\u{fffd}'));
        // an unquoted comment word, and the word after a comment is not one
        let mut h = b"*filter\n-A INPUT -m comment --comment a".to_vec();
        h.push(0xe9);
        h.extend(b" -j ACCEPT\n");
        assert!(decode_comments(&h).is_ok());
        let mut k = b"*filter\n-A INPUT -m comment --comment a -j X".to_vec();
        k.push(0xe9);
        assert!(decode_comments(&k).is_err());
    }
}
