//! `from_file`: long source lists kept in their own file, one network per line. Parsing is
//! pure (files come from an in-memory loader here); the CLI reads them next to the policy.

use statewall::core::diag;
use statewall::core::model::Cidr;
use statewall::core::policy::parse_with;

fn parse(policy: &str, files: &[(&str, &str)]) -> (Option<statewall::core::model::Policy>, String) {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let load = |name: &str| -> Result<std::sync::Arc<(String, String)>, String> {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(n, t)| std::sync::Arc::new((n.clone(), t.clone())))
            .ok_or_else(|| "No such file or directory (os error 2)".to_string())
    };
    let (p, diags) = parse_with(policy, &load);
    (p, diag::render(&diags, "policy.toml", policy))
}

#[test]
fn networks_from_a_file_join_the_inline_ones() {
    let (p, out) = parse(
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\"198.51.100.0/24\"]\nfrom_file = \"office.txt\"\n",
        &[(
            "office.txt",
            "# office and VPN\n203.0.113.0/25\n\n  2001:db8:1::/48   # v6 office\n203.0.113.200\n",
        )],
    );
    assert_eq!(out, "");
    let p = p.unwrap();
    let from: Vec<String> = p.allow[0].from.iter().map(Cidr::to_string).collect();
    assert_eq!(
        from,
        [
            "198.51.100.0/24",
            "203.0.113.0/25",
            "2001:db8:1::/48",
            "203.0.113.200"
        ]
    );
}

#[test]
fn problems_in_the_list_point_into_the_list_file() {
    let (p, out) = parse(
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\"198.51.100.0/24\"]\nfrom_file = \"cdn.txt\"\n",
        &[(
            "cdn.txt",
            "192.0.2.0/24\n300.1.2.3\n198.51.100.7\n192.0.2.128/25\n10.0.0.1/8\n",
        )],
    );
    assert!(p.is_none());
    let expected = "\
error: invalid IP address \"300.1.2.3\"
  --> cdn.txt:2:1
   |
 2 | 300.1.2.3
   | ^^^^^^^^^
   = help: write an IPv4 or IPv6 address, optionally with a /prefix: \"198.51.100.0/24\", \"203.0.113.7\", \"2001:db8::/32\"
";
    assert!(out.starts_with(expected), "{out}");
    assert!(
        out.contains("198.51.100.7 is already inside 198.51.100.0/24"),
        "{out}"
    );
    assert!(
        out.contains("198.51.100.0/24 is listed in `from` at 4:9"),
        "{out}"
    );
    assert!(out.contains("  --> cdn.txt:3:1"), "{out}");
    assert!(
        out.contains("192.0.2.128/25 is already inside 192.0.2.0/24"),
        "{out}"
    );
    assert!(out.contains("192.0.2.0/24 is listed at line 1"), "{out}");
    assert!(out.contains("  --> cdn.txt:5:1"), "{out}");
    assert!(out.contains("host bits"), "{out}");
}

#[test]
fn an_unreadable_or_empty_list_is_an_error_at_the_key() {
    let (p, out) = parse(
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom_file = \"missing.txt\"\n",
        &[],
    );
    assert!(p.is_none());
    assert!(
        out.contains("cannot read missing.txt: No such file"),
        "{out}"
    );
    assert!(out.contains("  --> policy.toml:4:13"), "{out}");
    let (p, out) = parse(
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom_file = \"empty.txt\"\n",
        &[("empty.txt", "# nothing yet\n\n")],
    );
    assert!(p.is_none());
    assert!(out.contains("empty.txt lists no network"), "{out}");
}

#[test]
fn the_cli_reads_lists_next_to_the_policy() {
    let dir = std::env::temp_dir().join(format!("statewall-fromfile-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lists")).unwrap();
    std::fs::write(
        dir.join("policy.toml"),
        "[[allow]]\nname = \"web\"\ntcp = [443]\nfrom_file = \"lists/cdn.txt\"\n",
    )
    .unwrap();
    let mut list = String::new();
    for i in 0..10_000u32 {
        list.push_str(&format!(
            "{}\n",
            std::net::Ipv4Addr::from(0xC612_0000u32 + i * 4)
        ));
    }
    std::fs::write(dir.join("lists/cdn.txt"), &list).unwrap();
    let out = crate::support::bin(None)
        .args(["plan", "--no-live"])
        .arg(dir.join("policy.toml"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("set addr4_web {"), "{stdout}");
    assert!(
        stdout.contains("198.18.156.60"),
        "the last address is there"
    );
    assert!(stdout.contains("ip saddr @addr4_web tcp dport 443 ct state new"));
}
