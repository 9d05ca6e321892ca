//! The unit tests of `diag`: rendering, locations, and the bounds.

use super::*;

#[test]
fn renders_like_rustc() {
    let src = "[[allow]]\nname = \"web\"\ntcp = [22, 70000]\n";
    let at = src.find("70000").unwrap();
    let d = Diagnostic::error(at..at + 5, src, "port 70000 is out of range")
        .with_help("ports are 0-65535");
    assert_eq!(d.loc, Loc { line: 3, col: 12 });
    assert_eq!(
        render(&[d], "policy.toml", src),
        "error: port 70000 is out of range\n\
         \x20 --> policy.toml:3:12\n\
         \x20  |\n\
         \x203 | tcp = [22, 70000]\n\
         \x20  |            ^^^^^\n\
         \x20  = help: ports are 0-65535\n"
    );
}

#[test]
fn wide_gutter_blank_separator_and_clipping() {
    let mut src = "\n".repeat(11);
    src.push_str("x = [1,\n  2]\n");
    let at = src.find('[').unwrap();
    let a = Diagnostic::warning(at..src.len(), &src, "multi-line");
    let b = Diagnostic::error(src.len()..src.len(), &src, "at the end");
    assert_eq!(b.loc, Loc { line: 13, col: 5 });
    let out = render(&[a, b], "f.toml", &src);
    assert_eq!(
        out,
        "warning: multi-line\n\
         \x20  --> f.toml:12:5\n\
         \x20   |\n\
         \x2012 | x = [1,\n\
         \x20   |     ^^^\n\
         \n\
         error: at the end\n\
         \x20  --> f.toml:13:5\n\
         \x20   |\n\
         \x2013 |   2]\n\
         \x20   |     ^\n"
    );
}

#[test]
fn columns_count_chars_and_has_errors() {
    let src = "name = \"é\" # é\nq = 1";
    let at = src.rfind('é').unwrap();
    let w = Diagnostic::warning(at..at + 2, src, "w");
    assert_eq!(w.loc, Loc { line: 1, col: 14 });
    assert!(!has_errors(std::slice::from_ref(&w)));
    let e = Diagnostic::error(100..200, src, "e");
    assert_eq!(e.span, src.len()..src.len());
    assert!(has_errors(&[w, e]));
    assert_eq!(render(&[], "x", src), "");
}

#[test]
fn columns_on_long_non_ascii_lines_are_counted_right() {
    let src = format!("{}\n{}x", "é".repeat(700), "aé".repeat(400));
    for at in [0, 2, 511, 512, 1400] {
        let at = src.floor_char_boundary(at);
        let naive = src[..at].rsplit('\n').next().unwrap().chars().count() + 1;
        assert_eq!(loc_of(&src, at).col as usize, naive, "at {at}");
    }
    let x = src.len() - 1;
    assert_eq!(loc_of(&src, x), Loc { line: 2, col: 801 });
}

#[test]
fn locations_asked_in_any_order_match_a_scan() {
    // a bare \r ends a line in a text of \r lines (the second), not in one of \n lines
    for src in ["a\nbé\r\n\rcc\rd\n\n€e", "a\r\nbé\r\n\rcc\rd\r\n\r€e"] {
        located_as_a_scan(src);
    }
    assert_eq!(loc_of("a\rb\nc", 4), Loc { line: 2, col: 1 });
    assert_eq!(loc_of("a\rb\r\nc", 5), Loc { line: 3, col: 1 });
}

fn located_as_a_scan(src: &str) {
    let bare_lf = src
        .char_indices()
        .any(|(i, c)| c == '\n' && !src[..i].ends_with('\r'));
    let naive = |at: usize| {
        // a line ends at \n, or at \r not followed by \n in a text without a bare \n
        let ends: Vec<usize> = src
            .char_indices()
            .filter(|&(i, c)| {
                c == '\n' || (!bare_lf && c == '\r' && !src[i + 1..].starts_with('\n'))
            })
            .map(|(i, _)| i)
            .filter(|&i| i < at)
            .collect();
        let line_start = ends.last().map_or(0, |i| i + 1);
        Loc {
            line: ends.len() as u32 + 1,
            col: src[line_start..at].chars().count() as u32 + 1,
        }
    };
    let offsets: Vec<usize> = (0..=src.len())
        .filter(|&i| src.is_char_boundary(i))
        .collect();
    for order in [offsets.clone(), offsets.iter().rev().copied().collect(), {
        let mut o = offsets.clone();
        o.sort_by_key(|&i| (i * 7) % 11);
        o
    }] {
        for at in order {
            assert_eq!(loc_of(src, at), naive(at), "at {at}");
        }
    }
}

#[test]
fn a_bare_cr_ends_a_line_and_a_long_line_is_cut_around_the_span() {
    // a file with classic-Mac line ends: one line each, not one line of everything
    let src = "a = 1\rb = [2\rc = 3\r\nd = 4";
    let at = src.find('2').unwrap();
    let d = Diagnostic::error(at..at + 1, src, "two");
    assert_eq!(d.loc, Loc { line: 2, col: 6 });
    assert!(
        d.render("f", src).contains(" 2 | b = [2\n"),
        "{}",
        d.render("f", src)
    );
    assert_eq!(loc_of(src, src.find('d').unwrap()).line, 4);
    assert_eq!(line_start(src, at), src.find('b').unwrap());

    let long = format!("x = [{}99, 1]\n", "1, ".repeat(300_000));
    let at = long.find("99").unwrap();
    let block = Diagnostic::error(at..at + 2, &long, "port 99").render("f", &long);
    assert!(
        block.len() < 2 * EXCERPT_COLS + 200,
        "{} bytes",
        block.len()
    );
    let lines: Vec<&str> = block.lines().collect();
    assert!(
        lines[3].starts_with(" 1 | …") && lines[3].ends_with("99, 1]"),
        "{block}"
    );
    // the carets stand under the span
    let col = |l: &str, pat: &str| l.find(pat).unwrap();
    assert_eq!(
        col(lines[4], "^^"),
        lines[3].find("99").unwrap() - "…".len() + 1
    );
}

#[test]
fn messages_are_cut_and_control_characters_shown_harmlessly() {
    let src = "k = 1\n";
    let d = Diagnostic::error(
        0..1,
        src,
        format!("unknown key `{}`\x1b[2J", "k".repeat(5000)),
    )
    .with_help("h".repeat(5000));
    let block = d.render("f", src);
    assert!(block.len() < 2 * TEXT_MAX + 200, "{} bytes", block.len());
    assert!(!block.contains('\x1b') && block.contains('…'));
    let mut diags = Diags::new();
    diags.push(d);
    assert!(diags[0].message.chars().count() <= TEXT_MAX + 1);
}

#[test]
fn bidirectional_controls_of_a_file_are_never_given_to_a_terminal_or_a_comment() {
    // U+202E would show `x = "a"  # b` of the line as something else; the excerpt keeps
    // its columns (one character for one)
    let src = "name = \"ssh\u{202e}x\u{2066}y\u{200f}\"\n";
    let at = src.find('x').unwrap();
    let block = Diagnostic::error(at..at + 1, src, "bad\u{202e}").render("f", src);
    for c in ['\u{202e}', '\u{2066}', '\u{200f}'] {
        assert!(!block.contains(c), "{block:?}");
    }
    assert!(block.contains("ssh\u{fffd}x\u{fffd}y\u{fffd}"), "{block:?}");
    assert_eq!(shorten("a\u{202d}b\u{061c}", 10), "a\u{fffd}b\u{fffd}");
    // what is not a control stays: Hebrew and Arabic text, accents, emoji
    assert_eq!(shorten("שלום مرحبا é 🙂", 100), "שלום مرحبا é 🙂");
}

#[test]
fn a_hundred_thousand_diagnostics_show_fifty_and_count_the_rest_by_kind() {
    let src = format!("tcp = [{}]\n", "80, ".repeat(100_000));
    let mut diags = Diags::new();
    for i in 0..100_000 {
        let at = 7 + 4 * i;
        diags.push(Diagnostic::error(
            at..at + 2,
            &src,
            "tcp port 80 is listed twice",
        ));
        if i % 1000 == 0 {
            let msg = format!("port {i} is out of range");
            diags.push(Diagnostic::warning(at..at + 2, &src, msg));
        }
    }
    assert_eq!(
        (diags.len(), diags.errors(), diags.warnings()),
        (SHOWN, 100_000, 100)
    );
    assert!(diags.counted.kinds.len() <= KINDS_KEPT);
    assert!(
        diags.iter().all(Diagnostic::is_error),
        "errors are kept before warnings"
    );
    assert_eq!(diags[0].loc.col, 8, "the first ones, in order");
    let summary = diags.summary().unwrap();
    assert_eq!(
        summary,
        "… and 100,050 more, by kind:\n\
         \x20 99,950 × error: tcp port 80 is listed twice\n\
         \x20    100 × warning: port … is out of range\n"
    );
    let out = diags.render("f", &src);
    assert!(out.len() < 30_000, "{} bytes", out.len());
    assert!(out.ends_with(&summary));
    assert_eq!(out.matches("\nerror: ").count() + 1, SHOWN);
}

#[test]
fn a_late_error_is_still_shown_among_many_warnings() {
    let src = "x\n".repeat(200);
    let mut diags = Diags::new();
    for i in 0..100 {
        diags.push(Diagnostic::warning(2 * i..2 * i + 1, &src, "w"));
    }
    diags.push(Diagnostic::error(398..399, &src, "the one error"));
    assert!(has_errors(&diags) && diags.has_errors());
    assert_eq!(diags.last().unwrap().message, "the one error");
    assert_eq!(diags.omitted(), 51);
}

#[test]
fn absorbed_diagnostics_keep_their_counts_and_groups() {
    let src = "a\nb\n";
    let mut list = Diags::new();
    for _ in 0..SHOWN + 5 {
        list.push(Diagnostic::error(2..3, src, "10.0.0.1 is listed twice"));
    }
    let mut main = Diags::new();
    main.push(Diagnostic::warning(0..1, src, "first"));
    main.absorb(1, list, |d| d.help = Some("in the list".into()));
    assert_eq!(
        (main.errors(), main.warnings(), main.omitted()),
        (SHOWN + 5, 1, 6)
    );
    let groups: Vec<u8> = main.groups().map(|(g, _)| g).collect();
    assert_eq!(groups.len(), SHOWN);
    assert!(groups.iter().all(|&g| g == 1), "errors first: {groups:?}");
    let summary = main.summary().unwrap();
    assert!(
        summary.contains("5 × error: 10.0.0.1 is listed twice"),
        "{summary}"
    );
    assert!(summary.contains("1 × warning: first"), "{summary}");
}

#[test]
fn kinds_blank_out_the_particulars() {
    assert_eq!(
        class_of("tcp port 80 is listed twice"),
        "tcp port … is listed twice"
    );
    assert_eq!(
        class_of("10.0.0.0/8 has host bits set: 2001:db8::/32."),
        "… has host bits set: ….",
    );
    assert_eq!(
        class_of("unknown key `tpc` in an allow entry"),
        "unknown key `…` in an allow entry"
    );
    assert_eq!(class_of("duplicate name \"web-1\""), "duplicate name \"…\"");
    assert_eq!(thousands(69_950), "69,950");
    assert_eq!(thousands(100), "100");
    assert_eq!(thousands(1_000_000), "1,000,000");
}

#[test]
fn a_new_text_at_the_old_address_gets_its_own_line_index() {
    // the same buffer, rewritten in place: same address, same length, other lines
    let mut buf = String::from("ab\ncd\nef");
    assert_eq!(loc_of(&buf, 4).line, 2);
    buf.clear();
    buf.push_str("\u{e9}\u{e9}\u{e9}\u{e9}x");
    assert_eq!(buf.len(), 9);
    new_texts();
    let l = loc_of(&buf, 4);
    assert_eq!((l.line, l.col), (1, 3));
}

#[test]
fn the_same_problem_found_twice_is_said_and_counted_once() {
    let src = "-A BAN -s 10.0.0.1 -m recent --set\n";
    let d = || Diagnostic::error(0..10, src, "a recent rule").with_help("why");
    let mut diags = Diags::new();
    diags.push_once(d());
    diags.push_once(d());
    // another problem at the same place is not; `push` adds every one
    diags.push_once(Diagnostic::error(0..10, src, "another"));
    assert_eq!((diags.total(), diags.errors(), diags.len()), (2, 2, 2));
    diags.push(d());
    assert_eq!(diags.total(), 3);
}
