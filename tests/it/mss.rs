//! `clamp_mss` in the kernel: nft reads statewall's rule as `tcp option maxseg size set rt
//! mtu` (or a value), readback finds no drift, and a connection routed through the fw to a
//! link of a smaller MTU gets the MSS that link takes: the backend's side of the connection
//! (`TCP_MAXSEG` of its accepted socket) sees the lowered option. Everything runs in
//! namespaces the test creates.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;

use crate::support::flows::connect_from;
use crate::support::forwarded::{BACKEND, CLIENT, FW_BACKEND_IF, trio};
use crate::support::routed::Trio;
use crate::support::{PROBE_TIMEOUT, TempPolicy, packets_of, statewall, status_json};

/// The MTU of the fw's link towards the backend; the other links keep 1500.
const NARROW_MTU: u32 = 1280;

/// The MSS the backend's side of a new connection from the client uses (`TCP_MAXSEG` of the
/// accepted socket: the smaller of the SYN's MSS option and the backend's own, less the
/// timestamp option when both ends use it).
fn mss_at_backend(t: &Trio, port: u16) -> i32 {
    let listener = t
        .backend
        .run(|| TcpListener::bind(("0.0.0.0", port)).expect("listen in the backend"));
    let _client = connect_from(
        &t.client,
        CLIENT.into(),
        SocketAddr::from((BACKEND, port)),
        PROBE_TIMEOUT,
    )
    .expect("the connection is routed through the fw");
    let (conn, _) = listener.accept().expect("the backend accepts");
    let mut mss: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a getsockopt on a descriptor the stream owns, into an int that outlives it.
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&mut mss as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "TCP_MAXSEG: {}", std::io::Error::last_os_error());
    mss
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn clamp_mss_lowers_the_mss_of_forwarded_syns_to_the_narrow_link() {
    let t = trio("mss");
    let mtu = NARROW_MTU.to_string();
    t.fw.exec(["ip", "link", "set", FW_BACKEND_IF, "mtu", &mtu])
        .assert_ok();
    let apply = |tag: &str, extra: &str| {
        let policy = TempPolicy::new(tag, &format!("[forward]\nfinal = \"accept\"\n{extra}"));
        statewall(&t.fw, ["apply", &policy.path()]).assert_ok();
    };
    // without it, the backend sees the client's own MSS (its link is 1500)
    apply("mss-none", "");
    let plain = mss_at_backend(&t, 8080);
    let narrow = (NARROW_MTU - 40) as i32;
    assert!(plain > narrow, "unclamped MSS {plain}");
    // "pmtu": the route towards the backend takes 1280 bytes, so 1240 of TCP payload
    apply("mss-pmtu", "clamp_mss = \"pmtu\"\n");
    let pmtu = mss_at_backend(&t, 8081);
    assert!(
        pmtu <= narrow && pmtu > narrow - 20,
        "MSS {pmtu}, clamped to {narrow}"
    );
    let listed = t.fw.nft(["list", "chain", "inet", "statewall", "forward"]);
    listed.assert_ok();
    assert!(
        listed
            .stdout
            .contains("tcp flags syn / syn,rst counter packets")
            && listed
                .stdout
                .contains("tcp option maxseg size set rt mtu comment \"clamp_mss\""),
        "{listed}"
    );
    let st = status_json(&t.fw);
    assert_eq!(st["drift"], false, "{st}");
    // the SYN and the SYN-ACK both passed it
    assert_eq!(packets_of(&st, "clamp_mss"), 2, "{st}");
    // a value: lower than the route's, so it wins; never raised above the client's own
    apply("mss-value", "clamp_mss = 1000\n");
    let value = mss_at_backend(&t, 8082);
    assert!(value <= 1000 && value > 980, "MSS {value}, set to 1000");
    apply("mss-high", "clamp_mss = 9000\n");
    let high = mss_at_backend(&t, 8083);
    assert_eq!(high, plain, "a larger value never raises the option");
}

/// Clamp entries (`[[forward.clamp]]`, iptables' TCPMSS with matches) lower the MSS of the
/// SYNs their matches say only: the one of the backend's interface takes the client's SYN
/// (the backend sees 1000) and not the SYN-ACK (which leaves towards the client), one of an
/// interface no packet uses takes nothing; each counted by its rule, read back without
/// drift; nft reads `ok-clamp.toml` as statewall's batch.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn clamp_entries_lower_the_mss_of_the_syns_their_matches_say() {
    let path = crate::support::repo_path("tests/data/policy/ok-clamp.toml");
    crate::kernel::same_to_nft(path.to_str().unwrap(), &[]);
    let t = trio("mss-entries");
    let policy = TempPolicy::new(
        "mss-entries",
        &format!(
            "[forward]\nfinal = \"accept\"\n\n\
             [[forward.clamp]]\nname = \"narrow\"\nmss = 1000\noif = \"{FW_BACKEND_IF}\"\n\n\
             [[forward.clamp]]\nname = \"elsewhere\"\nmss = 700\noif = \"nowhere*\"\n"
        ),
    );
    statewall(&t.fw, ["apply", &policy.path()]).assert_ok();
    let mss = mss_at_backend(&t, 8084);
    assert!(
        mss <= 1000 && mss > 980,
        "MSS {mss}, set to 1000 on {FW_BACKEND_IF}"
    );
    let st = status_json(&t.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert_eq!(packets_of(&st, "narrow"), 1, "the SYN only: {st}");
    assert_eq!(packets_of(&st, "elsewhere"), 0, "{st}");
}

/// Both forms (`ok-clamp-mss.toml`): nft reads statewall's text as statewall's batch, and
/// the rules read back without drift.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn clamp_mss_means_the_same_to_nft_and_reads_back_without_drift() {
    let path = crate::support::repo_path("tests/data/policy/ok-clamp-mss.toml");
    let path = path.to_str().unwrap();
    crate::kernel::same_to_nft(path, &[]);
    let ns = crate::support::Netns::new("mss-drift");
    statewall(&ns, ["apply", path]).assert_ok();
    let st = status_json(&ns);
    assert_eq!(st["drift"], false, "{st}");
    assert_eq!(
        crate::support::rules_named(&st, "clamp_mss").len(),
        2,
        "{st}"
    );
}

/// The import of `-j TCPMSS --clamp-mss-to-pmtu` (`ok-tcpmss.rules`) against iptables-restore
/// of the same file, each in its own routed trio with the narrow link: the backend sees the
/// same MSS through both.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn imported_tcpmss_clamps_as_iptables_does() {
    let (theirs, ours) = mss_through_both("ok-tcpmss.rules");
    let narrow = (NARROW_MTU - 40) as i32;
    assert!(
        theirs <= narrow && theirs > narrow - 20,
        "iptables: MSS {theirs}"
    );
    assert_eq!(ours, theirs, "statewall's MSS, iptables'");
}

/// The import of TCPMSS rules with matches (`ok-tcpmss-matches.rules`: clamp entries)
/// against iptables-restore of the same file, through the narrow link: the backend sees the
/// 1000 of the rule of its interface through both, not the 700 or 600 of rules no SYN meets.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn imported_tcpmss_with_matches_clamps_as_iptables_does() {
    let (theirs, ours) = mss_through_both("ok-tcpmss-matches.rules");
    assert!(theirs <= 1000 && theirs > 980, "iptables: MSS {theirs}");
    assert_eq!(ours, theirs, "statewall's MSS, iptables'");
}

/// A plain TCPMSS after one whose `-m tcpmss` reads the MSS (`ok-tcpmss-order.rules`):
/// iptables lowers the SYN by each in turn, 1460 is not in 1000:1100, the plain one makes it
/// 1000; the import keeps both as clamp entries in the file's order (as `clamp_mss`, first,
/// the other would then lower its 1000 to 600): the backend sees 1000 through both.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn imported_tcpmss_rules_clamp_in_the_files_order() {
    let (theirs, ours) = mss_through_both("ok-tcpmss-order.rules");
    assert!(theirs <= 1000 && theirs > 980, "iptables: MSS {theirs}");
    assert_eq!(ours, theirs, "statewall's MSS, iptables'");
}

/// A TCPMSS after the ACCEPT that forwards the client's connections, whose other SYNs are
/// all dropped after it (`ok-tcpmss-dropped-after.rules`): iptables never clamps a SYN that
/// passes, and the import, which leaves the rule out, neither: the backend sees the
/// narrow link's MSS, not the rule's 1000, through both.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_tcpmss_whose_syns_are_dropped_after_it_clamps_nothing_that_passes() {
    let (theirs, ours) = mss_through_both("ok-tcpmss-dropped-after.rules");
    assert!(theirs > 1000, "iptables: MSS {theirs}");
    assert_eq!(ours, theirs, "statewall's MSS, iptables'");
}

/// The MSS the backend sees through iptables-restore of import file `name`, and through
/// statewall's import of it, each in its own routed trio with the narrow link.
fn mss_through_both(name: &str) -> (i32, i32) {
    let file = crate::support::repo_path(&format!("tests/data/import/{name}"));
    let file = file.to_str().unwrap();
    let mtu = NARROW_MTU.to_string();
    let seen = |tag: &str, load: &dyn Fn(&Trio)| {
        let t = trio(tag);
        t.fw.exec(["ip", "link", "set", FW_BACKEND_IF, "mtu", &mtu])
            .assert_ok();
        load(&t);
        mss_at_backend(&t, 8080)
    };
    let theirs = seen("mss-ipt", &|t| {
        t.fw.exec(["iptables-restore", file]).assert_ok();
    });
    let ours = seen("mss-sw", &|t| {
        statewall(&t.fw, ["apply", "--force", "--mirror-ipv6", file]).assert_ok();
    });
    (theirs, ours)
}
