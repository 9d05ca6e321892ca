//! Every nf_tables, nfnetlink and netlink number the codec and the system layer use, each
//! defined once and named exactly as in the kernel's uapi headers, so a name here can be
//! looked up there (and in the kernel source) without translation:
//!
//! - `linux/netlink.h`: framing, flags, control messages, socket options
//! - `linux/netfilter/nfnetlink.h`: the nfnetlink envelope and batches
//! - `linux/netfilter.h`: verdicts and protocol families
//! - `linux/netfilter/nf_tables.h`: messages, attributes and values, grouped by the enum
//!   they come from
//!
//! The test in `uapi_check` below reads the installed headers and compares every value
//! here with the header's definition; the few numbers that are not uapi constants (sizes,
//! libnftnl's userdata TLVs) are on its allow-list with the reason.
//!
//! Only numbers in use are here: add one by its header name, in its header's group. The
//! sock_diag protocol's own numbers stay in `system::sockdiag`, which alone speaks it.

/// Defines the constants and, for the test, the list of them with their values and widths.
macro_rules! numbers {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $value:expr;)*) => {
        $($(#[$doc])* pub const $name: $ty = $value;)*

        /// (name, value, width in bits) of every constant above.
        #[cfg(test)]
        const ALL: &[(&str, i128, u32)] = &[$((stringify!($name), $name as i128, <$ty>::BITS)),*];
    };
}

numbers! {
    // ---- linux/netlink.h ------------------------------------------------------------
    // protocols (the socket's third argument)
    /// `sock_diag`: listening sockets, see `system::sockdiag`
    NETLINK_SOCK_DIAG: i32 = 4;
    /// nfnetlink, which carries nf_tables
    NETLINK_NETFILTER: i32 = 12;

    // struct nlmsghdr flags
    NLM_F_REQUEST: u16 = 0x01;
    NLM_F_MULTI: u16 = 0x02;
    NLM_F_ACK: u16 = 0x04;
    /// the dump was inconsistent: the data changed while it ran
    NLM_F_DUMP_INTR: u16 = 0x10;
    /// `NLM_F_ROOT | NLM_F_MATCH`
    NLM_F_DUMP: u16 = 0x300;
    NLM_F_CREATE: u16 = 0x400;
    NLM_F_APPEND: u16 = 0x800;
    /// (on an error) only the request's header was echoed
    NLM_F_CAPPED: u16 = 0x100;
    /// (on an error) extended-ack attributes follow the echoed request
    NLM_F_ACK_TLVS: u16 = 0x200;

    // control message types
    NLMSG_ERROR: u16 = 0x2;
    NLMSG_DONE: u16 = 0x3;

    /// `NLMSG_ALIGN(sizeof(struct nlmsghdr))`
    NLMSG_HDRLEN: usize = 16;

    // enum nlmsgerr_attrs (extended ack)
    NLMSGERR_ATTR_MSG: u16 = 1;

    // socket options (level SOL_NETLINK, which is libc's)
    /// errors echo only the request's header
    NETLINK_CAP_ACK: i32 = 10;
    /// errors carry the kernel's explanation
    NETLINK_EXT_ACK: i32 = 11;

    // struct nlattr type bits
    NLA_F_NESTED: u16 = 1 << 15;
    NLA_F_NET_BYTEORDER: u16 = 1 << 14;
    /// the attribute type without the two flags above
    NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

    // ---- linux/netfilter/nfnetlink.h ------------------------------------------------
    /// struct nfgenmsg's version
    NFNETLINK_V0: u8 = 0;
    NFNL_SUBSYS_NFTABLES: u16 = 10;
    /// `NLMSG_MIN_TYPE`
    NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
    /// `NLMSG_MIN_TYPE + 1`
    NFNL_MSG_BATCH_END: u16 = 0x11;
    /// sizeof(struct nfgenmsg): family, version, resource id
    NFGENMSG_LEN: usize = 4;

    // enum nfnl_batch_attributes
    /// commit only if the ruleset generation still matches
    NFNL_BATCH_GENID: u16 = 1;

    // ---- linux/netfilter.h ----------------------------------------------------------
    // verdicts (also a base chain's policy)
    NF_DROP: i32 = 0;
    NF_ACCEPT: i32 = 1;
    NF_QUEUE: i32 = 3;

    // protocol families (struct nfgenmsg's family)
    /// the family of statewall's table
    NFPROTO_INET: u8 = 1;
    NFPROTO_IPV4: u8 = 2;
    NFPROTO_IPV6: u8 = 10;

    // ---- linux/netfilter/nf_tables.h ------------------------------------------------
    // enum nft_registers
    NFT_REG_1: u32 = 1;

    // enum nft_verdicts
    NFT_CONTINUE: i32 = -1;
    NFT_BREAK: i32 = -2;
    NFT_JUMP: i32 = -3;
    NFT_GOTO: i32 = -4;
    NFT_RETURN: i32 = -5;

    // enum nf_tables_msg_types
    NFT_MSG_GETTABLE: u16 = 1;
    NFT_MSG_GETCHAIN: u16 = 4;
    NFT_MSG_NEWRULE: u16 = 6;
    NFT_MSG_GETRULE: u16 = 7;
    NFT_MSG_NEWSET: u16 = 9;
    NFT_MSG_DELRULE: u16 = 8;
    NFT_MSG_GETSET: u16 = 10;
    NFT_MSG_NEWSETELEM: u16 = 12;
    NFT_MSG_GETSETELEM: u16 = 13;
    NFT_MSG_DELSETELEM: u16 = 14;
    NFT_MSG_NEWGEN: u16 = 15;
    NFT_MSG_GETGEN: u16 = 16;

    // enum nft_list_attributes
    NFTA_LIST_ELEM: u16 = 1;

    // enum nft_table_attributes
    NFTA_TABLE_NAME: u16 = 1;
    NFTA_TABLE_USERDATA: u16 = 6;

    // enum nft_chain_attributes
    NFTA_CHAIN_TABLE: u16 = 1;
    NFTA_CHAIN_NAME: u16 = 3;
    NFTA_CHAIN_HOOK: u16 = 4;
    NFTA_CHAIN_POLICY: u16 = 5;

    // enum nft_hook_attributes
    NFTA_HOOK_HOOKNUM: u16 = 1;
    NFTA_HOOK_PRIORITY: u16 = 2;

    // enum nft_rule_attributes
    NFTA_RULE_TABLE: u16 = 1;
    NFTA_RULE_CHAIN: u16 = 2;
    NFTA_RULE_HANDLE: u16 = 3;
    NFTA_RULE_EXPRESSIONS: u16 = 4;
    NFTA_RULE_POSITION: u16 = 6;
    NFTA_RULE_USERDATA: u16 = 7;

    // enum nft_set_flags
    NFT_SET_INTERVAL: u32 = 0x4;
    NFT_SET_TIMEOUT: u32 = 0x10;
    NFT_SET_EVAL: u32 = 0x20;

    // enum nft_set_desc_attributes
    NFTA_SET_DESC_SIZE: u16 = 1;

    // enum nft_set_attributes
    NFTA_SET_TABLE: u16 = 1;
    NFTA_SET_NAME: u16 = 2;
    NFTA_SET_FLAGS: u16 = 3;
    NFTA_SET_KEY_TYPE: u16 = 4;
    NFTA_SET_KEY_LEN: u16 = 5;
    NFTA_SET_DESC: u16 = 9;
    NFTA_SET_ID: u16 = 10;
    NFTA_SET_TIMEOUT: u16 = 11;
    NFTA_SET_USERDATA: u16 = 13;
    NFTA_SET_EXPR: u16 = 17;

    // enum nft_set_elem_flags
    NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;

    // enum nft_set_elem_attributes
    NFTA_SET_ELEM_KEY: u16 = 1;
    NFTA_SET_ELEM_FLAGS: u16 = 3;
    NFTA_SET_ELEM_TIMEOUT: u16 = 4;
    NFTA_SET_ELEM_EXPIRATION: u16 = 5;
    NFTA_SET_ELEM_EXPR: u16 = 7;
    NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;

    // enum nft_set_elem_list_attributes
    NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
    NFTA_SET_ELEM_LIST_SET: u16 = 2;
    NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
    NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;

    // enum nft_data_attributes
    NFTA_DATA_VALUE: u16 = 1;
    NFTA_DATA_VERDICT: u16 = 2;

    // enum nft_verdict_attributes
    NFTA_VERDICT_CODE: u16 = 1;
    NFTA_VERDICT_CHAIN: u16 = 2;

    // enum nft_expr_attributes
    NFTA_EXPR_NAME: u16 = 1;
    NFTA_EXPR_DATA: u16 = 2;

    // enum nft_immediate_attributes
    NFTA_IMMEDIATE_DREG: u16 = 1;
    NFTA_IMMEDIATE_DATA: u16 = 2;

    // enum nft_rt_keys, enum nft_rt_attributes
    NFT_RT_TCPMSS: u32 = 3;
    NFT_RT_XFRM: u32 = 4;
    NFTA_RT_DREG: u16 = 1;
    NFTA_RT_KEY: u16 = 2;

    // enum nft_bitwise_attributes
    NFTA_BITWISE_MASK: u16 = 4;
    NFTA_BITWISE_XOR: u16 = 5;

    // enum nft_cmp_ops
    NFT_CMP_EQ: u32 = 0;
    NFT_CMP_NEQ: u32 = 1;
    NFT_CMP_LT: u32 = 2;
    NFT_CMP_LTE: u32 = 3;
    NFT_CMP_GT: u32 = 4;
    NFT_CMP_GTE: u32 = 5;

    // enum nft_cmp_attributes
    NFTA_CMP_SREG: u16 = 1;
    NFTA_CMP_OP: u16 = 2;
    NFTA_CMP_DATA: u16 = 3;

    // enum nft_byteorder_ops
    NFT_BYTEORDER_HTON: u32 = 1;

    // enum nft_byteorder_attributes
    NFTA_BYTEORDER_SREG: u16 = 1;
    NFTA_BYTEORDER_DREG: u16 = 2;
    NFTA_BYTEORDER_OP: u16 = 3;
    NFTA_BYTEORDER_LEN: u16 = 4;
    NFTA_BYTEORDER_SIZE: u16 = 5;

    // enum nft_range_ops
    NFT_RANGE_NEQ: u32 = 1;

    // enum nft_range_attributes
    NFTA_RANGE_SREG: u16 = 1;
    NFTA_RANGE_OP: u16 = 2;
    NFTA_RANGE_FROM_DATA: u16 = 3;
    NFTA_RANGE_TO_DATA: u16 = 4;

    // enum nft_lookup_flags
    NFT_LOOKUP_F_INV: u32 = 1 << 0;

    // enum nft_lookup_attributes
    NFTA_LOOKUP_SET: u16 = 1;
    NFTA_LOOKUP_FLAGS: u16 = 5;

    // enum nft_dynset_ops
    NFT_DYNSET_OP_ADD: u32 = 0;
    NFT_DYNSET_OP_UPDATE: u32 = 1;
    NFT_DYNSET_OP_DELETE: u32 = 2;

    // enum nft_dynset_attributes
    NFTA_DYNSET_SET_NAME: u16 = 1;
    NFTA_DYNSET_SET_ID: u16 = 2;
    NFTA_DYNSET_OP: u16 = 3;
    NFTA_DYNSET_SREG_KEY: u16 = 4;
    NFTA_DYNSET_EXPR: u16 = 7;

    // enum nft_limit_type
    NFT_LIMIT_PKTS: u32 = 0;

    // enum nft_limit_flags
    NFT_LIMIT_F_INV: u32 = 1 << 0;

    // enum nft_limit_attributes
    NFTA_LIMIT_RATE: u16 = 1;
    NFTA_LIMIT_UNIT: u16 = 2;
    NFTA_LIMIT_BURST: u16 = 3;
    NFTA_LIMIT_TYPE: u16 = 4;
    NFTA_LIMIT_FLAGS: u16 = 5;

    // enum nft_connlimit_flags
    NFT_CONNLIMIT_F_INV: u32 = 1 << 0;

    // enum nft_connlimit_attributes
    NFTA_CONNLIMIT_COUNT: u16 = 1;
    NFTA_CONNLIMIT_FLAGS: u16 = 2;

    // enum nft_log_attributes
    NFTA_LOG_GROUP: u16 = 1;
    NFTA_LOG_PREFIX: u16 = 2;
    NFTA_LOG_LEVEL: u16 = 5;

    // enum nft_payload_bases
    NFT_PAYLOAD_LL_HEADER: u32 = 0;
    NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
    NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;

    // enum nft_payload_attributes
    NFTA_PAYLOAD_DREG: u16 = 1;
    NFTA_PAYLOAD_BASE: u16 = 2;
    NFTA_PAYLOAD_OFFSET: u16 = 3;
    NFTA_PAYLOAD_LEN: u16 = 4;

    // enum nft_meta_keys
    NFT_META_LEN: u32 = 0;
    NFT_META_MARK: u32 = 3;
    NFT_META_IIF: u32 = 4;
    NFT_META_IIFNAME: u32 = 6;
    NFT_META_OIF: u32 = 5;
    NFT_META_OIFNAME: u32 = 7;
    NFT_META_IIFTYPE: u32 = 8;
    NFT_META_SKUID: u32 = 10;
    NFT_META_SKGID: u32 = 11;
    NFT_META_NFPROTO: u32 = 15;
    NFT_META_L4PROTO: u32 = 16;
    NFT_META_PKTTYPE: u32 = 19;
    NFT_META_SECPATH: u32 = 25;
    NFT_META_TIME_NS: u32 = 30;
    NFT_META_TIME_DAY: u32 = 31;
    NFT_META_TIME_HOUR: u32 = 32;

    // enum nft_meta_attributes
    NFTA_META_DREG: u16 = 1;
    NFTA_META_KEY: u16 = 2;

    // linux/if_packet.h: skb->pkt_type, what `meta pkttype` loads
    PACKET_HOST: u8 = 0;
    PACKET_BROADCAST: u8 = 1;
    PACKET_MULTICAST: u8 = 2;

    // linux/if_arp.h: dev->type of an ethernet device, what `meta iiftype ether` compares
    ARPHRD_ETHER: u16 = 1;

    // enum nft_exthdr_attributes
    NFTA_EXTHDR_DREG: u16 = 1;
    NFTA_EXTHDR_TYPE: u16 = 2;
    NFTA_EXTHDR_OFFSET: u16 = 3;
    NFTA_EXTHDR_LEN: u16 = 4;
    NFTA_EXTHDR_FLAGS: u16 = 5;
    NFTA_EXTHDR_OP: u16 = 6;
    NFTA_EXTHDR_SREG: u16 = 7;

    // enum nft_exthdr_op
    NFT_EXTHDR_OP_IPV6: u32 = 0;
    NFT_EXTHDR_OP_TCPOPT: u32 = 1;

    // enum nft_exthdr_flags: the register says whether the header (option) is there
    NFT_EXTHDR_F_PRESENT: u32 = 1;

    // linux/in6.h: the routing header's next-header number, what `rt type` looks for
    IPPROTO_ROUTING: u8 = 43;

    // enum nft_ct_keys
    NFT_CT_STATE: u32 = 0;
    NFT_CT_STATUS: u32 = 2;
    NFT_CT_PROTOCOL: u32 = 10;
    NFT_CT_PROTO_DST: u32 = 12;
    NFT_CT_SRC_IP: u32 = 19;
    NFT_CT_DST_IP: u32 = 20;
    NFT_CT_SRC_IP6: u32 = 21;
    NFT_CT_DST_IP6: u32 = 22;

    // linux/netfilter/nf_conntrack_common.h: the status bit `ct status dnat` tests
    IPS_DST_NAT: u32 = 0x20;

    // enum nft_fib_attributes
    NFTA_FIB_DREG: u16 = 1;
    NFTA_FIB_RESULT: u16 = 2;
    NFTA_FIB_FLAGS: u16 = 3;

    // enum nft_fib_result
    NFT_FIB_RESULT_ADDRTYPE: u32 = 3;

    // enum nft_fib_flags
    NFTA_FIB_F_SADDR: u32 = 1;
    NFTA_FIB_F_DADDR: u32 = 2;

    // enum nft_ct_attributes
    NFTA_CT_DREG: u16 = 1;
    NFTA_CT_KEY: u16 = 2;
    NFTA_CT_DIRECTION: u16 = 3;

    // ---- linux/netfilter/nf_conntrack_tuple_common.h --------------------------------
    // enum ip_conntrack_dir
    IP_CT_DIR_ORIGINAL: u8 = 0;

    // enum nft_reject_types
    NFT_REJECT_ICMP_UNREACH: u32 = 0;
    NFT_REJECT_TCP_RST: u32 = 1;
    NFT_REJECT_ICMPX_UNREACH: u32 = 2;

    // enum nft_reject_inet_code
    NFT_REJECT_ICMPX_NO_ROUTE: u8 = 0;
    NFT_REJECT_ICMPX_PORT_UNREACH: u8 = 1;
    NFT_REJECT_ICMPX_HOST_UNREACH: u8 = 2;
    NFT_REJECT_ICMPX_ADMIN_PROHIBITED: u8 = 3;

    // enum nft_reject_attributes
    NFTA_REJECT_TYPE: u16 = 1;
    NFTA_REJECT_ICMP_CODE: u16 = 2;

    // enum nft_counter_attributes
    NFTA_COUNTER_BYTES: u16 = 1;
    NFTA_COUNTER_PACKETS: u16 = 2;
    /// the kernel may put an empty one between the two above
    NFTA_COUNTER_PAD: u16 = 3;

    // enum nft_gen_attributes
    NFTA_GEN_ID: u16 = 1;

    // ---- linux/netfilter/nf_tables_compat.h: an x_tables match run by nf_tables --------
    // enum nft_match_attributes
    NFTA_MATCH_NAME: u16 = 1;
    NFTA_MATCH_REV: u16 = 2;
    NFTA_MATCH_INFO: u16 = 3;

    // ---- linux/netfilter/xt_string.h: the match `contains` is ---------------------------
    XT_STRING_MAX_PATTERN_SIZE: u32 = 128;
    XT_STRING_MAX_ALGO_NAME_SIZE: u32 = 16;
    XT_STRING_FLAG_INVERT: u8 = 0x01;
    XT_STRING_FLAG_IGNORECASE: u8 = 0x02;

    // ---- linux/netfilter/xt_u32.h: the match `u32` is -----------------------------------
    XT_U32_MAXSIZE: u32 = 10;
    // enum xt_u32_ops
    XT_U32_AND: u8 = 0;
    XT_U32_LEFTSH: u8 = 1;
    XT_U32_RIGHTSH: u8 = 2;
    XT_U32_AT: u8 = 3;

    // ---- not kernel uapi: libnftnl's userdata TLVs (libnftnl's udata.h), which `nft`
    // reads out of NFTA_*_USERDATA -----------------------------------------------------
    /// `comment "…"` of a table
    NFTNL_UDATA_TABLE_COMMENT: u8 = 0;
    /// `comment "…"` of a rule
    NFTNL_UDATA_RULE_COMMENT: u8 = 0;
    /// a set key's byte order, so `nft list` prints keys right
    NFTNL_UDATA_SET_KEYBYTEORDER: u8 = 0;
}

/// The header reader, for other tests that check numbers against headers.
#[cfg(test)]
pub(crate) use uapi_check::Constants;

#[cfg(test)]
mod uapi_check {
    //! The numbers in `nft.rs` against the kernel's uapi headers as installed (Debian's
    //! `linux-libc-dev`; `UAPI_INCLUDE_DIR` points elsewhere). The headers are read at test time
    //! by a small C reader: object-like `#define NAME value` and enum members (implicitly
    //! numbered from 0 or from the member before, or `= value`), values being C integer
    //! expressions (decimal, hex or octal literals, other constants, `- ~ + ( ) << >> | & ^ * / %`).
    //! What it cannot evaluate (`sizeof`, casts, function-like macros) counts as absent.

    use std::collections::HashMap;

    use super::ALL;

    /// The headers `nft.rs` takes its numbers from.
    const HEADERS: [&str; 12] = [
        "linux/netlink.h",
        "linux/if_packet.h",
        "linux/if_arp.h",
        "linux/in6.h",
        "linux/netfilter.h",
        "linux/netfilter/nfnetlink.h",
        "linux/netfilter/nf_tables.h",
        "linux/netfilter/nf_conntrack_tuple_common.h",
        "linux/netfilter/nf_conntrack_common.h",
        "linux/netfilter/nf_tables_compat.h",
        "linux/netfilter/xt_string.h",
        "linux/netfilter/xt_u32.h",
    ];

    /// Numbers in `nft.rs` the installed headers do not define as an integer constant: why.
    const NOT_IN_HEADERS: &[(&str, &str)] = &[
        (
            "NLMSG_HDRLEN",
            "defined with sizeof(struct nlmsghdr); checked against libc's struct below",
        ),
        (
            "NFGENMSG_LEN",
            "sizeof(struct nfgenmsg), which has no constant: u8 family, u8 version, be16 res_id",
        ),
        (
            "NFTNL_UDATA_TABLE_COMMENT",
            "libnftnl's userdata TLV (udata.h), not kernel uapi",
        ),
        (
            "NFTNL_UDATA_RULE_COMMENT",
            "libnftnl's userdata TLV (udata.h), not kernel uapi",
        ),
        (
            "NFTNL_UDATA_SET_KEYBYTEORDER",
            "libnftnl's userdata TLV (udata.h), not kernel uapi",
        ),
    ];

    /// The integer constants of some C headers.
    #[derive(Default)]
    pub(crate) struct Constants {
        /// enum members, already evaluated
        enums: HashMap<String, i128>,
        /// object-like macros, evaluated on demand (they may name later definitions); a name
        /// defined twice with different bodies is kept as None
        defines: HashMap<String, Option<Vec<String>>>,
    }

    impl Constants {
        /// Reads headers relative to `/usr/include` (or `UAPI_INCLUDE_DIR`); panics with what
        /// to install when one is missing.
        pub(crate) fn installed(headers: &[&str]) -> Constants {
            let dir = std::env::var("UAPI_INCLUDE_DIR").unwrap_or_else(|_| "/usr/include".into());
            let mut c = Constants::default();
            for h in headers {
                let path = std::path::Path::new(&dir).join(h);
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                    panic!(
                        "cannot read {}: {e} (the uapi headers come with Debian's linux-libc-dev)",
                        path.display()
                    )
                });
                c.add(&text);
            }
            c
        }

        pub(crate) fn add(&mut self, text: &str) {
            let text = strip_comments(text).replace("\\\n", " ");
            let mut code = Vec::new();
            for line in text.lines() {
                let t = line.trim_start();
                let Some(directive) = t.strip_prefix('#') else {
                    code.extend(tokens(line));
                    continue;
                };
                let directive = directive.trim_start();
                let Some(rest) = directive.strip_prefix("define") else {
                    continue;
                };
                let toks = tokens(rest);
                let Some(name) = toks.first().filter(|n| is_ident(n)) else {
                    continue;
                };
                // function-like: `NAME(` with no space in between
                let after = rest.trim_start()[name.len()..].to_string();
                if after.starts_with('(') {
                    continue;
                }
                let body = toks[1..].to_vec();
                self.defines
                    .entry(name.clone())
                    .and_modify(|old| {
                        if old.as_ref() != Some(&body) {
                            *old = None;
                        }
                    })
                    .or_insert(Some(body));
            }
            self.enums_in(&code);
        }

        /// Every `enum [tag] { A, B = expr, … }` in the non-directive tokens.
        fn enums_in(&mut self, toks: &[String]) {
            let mut i = 0;
            while i < toks.len() {
                if toks[i] != "enum" {
                    i += 1;
                    continue;
                }
                let mut j = i + 1;
                if toks.get(j).is_some_and(|t| is_ident(t)) {
                    j += 1;
                }
                if toks.get(j).map(String::as_str) != Some("{") {
                    i = j;
                    continue;
                }
                j += 1;
                // an implicit member is the one before plus one (unknown after an unknown one)
                let mut next = Some(0i128);
                while j < toks.len() && toks[j] != "}" {
                    let name = toks[j].clone();
                    j += 1;
                    let mut value = next;
                    if toks.get(j).map(String::as_str) == Some("=") {
                        let start = j + 1;
                        let mut depth = 0;
                        j = start;
                        while j < toks.len() && !(depth == 0 && (toks[j] == "," || toks[j] == "}"))
                        {
                            match toks[j].as_str() {
                                "(" => depth += 1,
                                ")" => depth -= 1,
                                _ => {}
                            }
                            j += 1;
                        }
                        value = self.eval(&toks[start..j], &mut Vec::new());
                    }
                    if let Some(v) = value {
                        self.enums.insert(name, v);
                    }
                    next = value.map(|v| v + 1);
                    if toks.get(j).map(String::as_str) == Some(",") {
                        j += 1;
                    }
                }
                i = j;
            }
        }

        /// The value of a constant: None when it is not defined or not an integer expression.
        pub(crate) fn value(&self, name: &str) -> Option<i128> {
            self.lookup(name, &mut Vec::new())
        }

        fn lookup(&self, name: &str, seen: &mut Vec<String>) -> Option<i128> {
            if let Some(v) = self.enums.get(name) {
                return Some(*v);
            }
            let body = self.defines.get(name)?.as_ref()?;
            if seen.iter().any(|s| s == name) {
                return None; // defined in terms of itself
            }
            seen.push(name.to_string());
            let v = self.eval(body, seen);
            seen.pop();
            v
        }

        fn eval(&self, toks: &[String], seen: &mut Vec<String>) -> Option<i128> {
            let mut p = Parser {
                toks,
                at: 0,
                c: self,
                seen,
            };
            let v = p.expr(0)?;
            (p.at == toks.len()).then_some(v)
        }
    }

    struct Parser<'a, 'b> {
        toks: &'a [String],
        at: usize,
        c: &'a Constants,
        seen: &'b mut Vec<String>,
    }

    impl Parser<'_, '_> {
        fn peek(&self) -> Option<&str> {
            self.toks.get(self.at).map(String::as_str)
        }

        /// Precedence climbing over C's binary operators (as far as constants use them).
        fn expr(&mut self, min: u8) -> Option<i128> {
            let mut lhs = self.unary()?;
            while let Some(op) = self.peek() {
                let prec = match op {
                    "*" | "/" | "%" => 10,
                    "+" | "-" => 9,
                    "<<" | ">>" => 8,
                    "&" => 5,
                    "^" => 4,
                    "|" => 3,
                    _ => break,
                };
                if prec < min {
                    break;
                }
                let op = op.to_string();
                self.at += 1;
                let rhs = self.expr(prec + 1)?;
                lhs = match op.as_str() {
                    "*" => lhs.checked_mul(rhs)?,
                    "/" => lhs.checked_div(rhs)?,
                    "%" => lhs.checked_rem(rhs)?,
                    "+" => lhs.checked_add(rhs)?,
                    "-" => lhs.checked_sub(rhs)?,
                    "<<" => lhs.checked_shl(u32::try_from(rhs).ok()?)?,
                    ">>" => lhs.checked_shr(u32::try_from(rhs).ok()?)?,
                    "&" => lhs & rhs,
                    "^" => lhs ^ rhs,
                    _ => lhs | rhs,
                };
            }
            Some(lhs)
        }

        fn unary(&mut self) -> Option<i128> {
            let t = self.peek()?.to_string();
            self.at += 1;
            match t.as_str() {
                "-" => self.unary()?.checked_neg(),
                "~" => Some(!self.unary()?),
                "+" => self.unary(),
                "(" => {
                    let v = self.expr(0)?;
                    (self.peek() == Some(")")).then(|| self.at += 1)?;
                    Some(v)
                }
                t if t.starts_with(|c: char| c.is_ascii_digit()) => literal(t),
                t if is_ident(t) => self.c.lookup(t, self.seen),
                _ => None,
            }
        }
    }

    /// A C integer literal: decimal, `0x` hex or `0` octal, with `u`/`l` suffixes.
    fn literal(t: &str) -> Option<i128> {
        let t = t.trim_end_matches(['u', 'U', 'l', 'L']);
        if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            i128::from_str_radix(hex, 16).ok()
        } else if t.len() > 1 && t.starts_with('0') {
            i128::from_str_radix(&t[1..], 8).ok()
        } else {
            t.parse().ok()
        }
    }

    fn is_ident(t: &str) -> bool {
        t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    }

    /// C source without its comments (string literals kept as they are).
    fn strip_comments(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("/*") {
                let end = r.find("*/").map_or(r.len(), |e| e + 2);
                // keep line breaks, so directives stay on their own lines
                out.extend(r[..end].chars().filter(|c| *c == '\n'));
                out.push(' ');
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix("//") {
                rest = &r[r.find('\n').unwrap_or(r.len())..];
            } else if rest.starts_with('"') {
                let end = rest[1..]
                    .find('"')
                    .map_or(rest.len(), |e| e + 2)
                    .min(rest.len());
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            } else {
                let c = rest.chars().next().unwrap();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }

    /// Identifiers, numbers and punctuation (`<<` and `>>` as one token).
    fn tokens(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i] as char;
            if c.is_whitespace() {
                i += 1;
            } else if c.is_ascii_alphanumeric() || c == '_' {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(s[start..i].to_string());
            } else if s[i..].starts_with("<<") || s[i..].starts_with(">>") {
                out.push(s[i..i + 2].to_string());
                i += 2;
            } else {
                let len = s[i..].chars().next().map_or(1, char::len_utf8);
                out.push(s[i..i + len].to_string());
                i += len;
            }
        }
        out
    }

    /// The same number in a constant of `bits` bits: the same bit pattern, and the header's value
    /// has no significant bits beyond the width (so `~(…)` of a C int matches its u16 form, and a
    /// value that would be cut does not).
    fn same(header: i128, ours: i128, bits: u32) -> bool {
        let mask = (1i128 << bits) - 1;
        header & mask == ours & mask && matches!(header >> bits, 0 | -1)
    }

    #[test]
    fn every_number_is_the_one_in_the_uapi_headers() {
        let headers = Constants::installed(&HEADERS);
        let mut wrong = Vec::new();
        for &(name, ours, bits) in ALL {
            match (
                headers.value(name),
                NOT_IN_HEADERS.iter().any(|(n, _)| *n == name),
            ) {
                (Some(v), _) if same(v, ours, bits) => {}
                (Some(v), _) => wrong.push(format!("{name} is {ours} here, {v} in the headers")),
                (None, true) => {}
                (None, false) => wrong.push(format!(
                    "{name} is not in {HEADERS:?}: a typo, or add it to NOT_IN_HEADERS with the reason"
                )),
            }
        }
        for (name, _) in NOT_IN_HEADERS {
            if !ALL.iter().any(|(n, _, _)| n == name) {
                wrong.push(format!(
                    "{name} is allowed to be missing but is not in nft.rs"
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "nft.rs and the uapi headers disagree:\n{}",
            wrong.join("\n")
        );
        assert_eq!(super::NLMSG_HDRLEN, std::mem::size_of::<libc::nlmsghdr>());
    }

    #[test]
    fn the_reader_evaluates_what_the_headers_use() {
        let mut c = Constants::default();
        c.add(
            "#ifndef _X_H\n#define _X_H\n#define NLMSG_MIN_TYPE\t\t0x10\t/* < 0x10: reserved */\n\
             #define BEGIN NLMSG_MIN_TYPE\n#define END NLMSG_MIN_TYPE+1\n\
             #define F_ROOT 0x100\n#define F_MATCH 0x200\n#define F_DUMP (F_ROOT|F_MATCH)\n\
             #define NESTED (1 << 15)\n#define ORDER (1 << 14)\n#define MASK ~(NESTED | ORDER)\n\
             #define MACRO(x) ((x) << 16)\n#define SIZED ((int) sizeof(struct s))\n\
             #define LONG \\\n 077\n\
             enum msg_types {\n\tMSG_A,\n\tMSG_B, // one\n\tMSG_C = 8,\n\tMSG_D,\n\t__MSG_MAX\n};\n\
             #define MSG_MAX (__MSG_MAX - 1)\n\
             enum verdicts { V_CONT = -1, V_BREAK = -2, };\n\
             enum { ANON_A = MSG_D + 1, ANON_B = (1 << 2), ANON_C = 0x20 };\n#endif\n",
        );
        let v = |n: &str| c.value(n);
        assert_eq!(
            (v("BEGIN"), v("END"), v("F_DUMP")),
            (Some(16), Some(17), Some(0x300))
        );
        assert_eq!((v("NESTED"), v("MASK")), (Some(0x8000), Some(!0xc000)));
        assert!(same(v("MASK").unwrap(), 0x3fff, 16));
        assert!(
            !same(0x1_0000, 0, 16),
            "a value that does not fit is not the same"
        );
        assert_eq!(
            (v("MACRO"), v("SIZED"), v("LONG")),
            (None, None, Some(0o77))
        );
        let members = ["MSG_A", "MSG_B", "MSG_C", "MSG_D", "__MSG_MAX", "MSG_MAX"];
        assert_eq!(members.map(v), [0, 1, 8, 9, 10, 9].map(Some));
        assert_eq!((v("V_CONT"), v("V_BREAK")), (Some(-1), Some(-2)));
        assert_eq!(
            ["ANON_A", "ANON_B", "ANON_C"].map(v),
            [10, 4, 0x20].map(Some)
        );
        assert_eq!(v("_X_H"), None, "an empty define has no value");
    }
}
