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
//! The test in `nft/uapi_check.rs` reads the installed headers and compares every value
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
    NFT_MSG_NEWSETELEM: u16 = 12;
    NFT_MSG_GETSETELEM: u16 = 13;
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
    NFTA_RULE_USERDATA: u16 = 7;

    // enum nft_set_flags
    NFT_SET_INTERVAL: u32 = 0x4;
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
    NFTA_SET_USERDATA: u16 = 13;
    NFTA_SET_EXPR: u16 = 17;

    // enum nft_set_elem_flags
    NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;

    // enum nft_set_elem_attributes
    NFTA_SET_ELEM_KEY: u16 = 1;
    NFTA_SET_ELEM_FLAGS: u16 = 3;
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
    NFTA_IMMEDIATE_DATA: u16 = 2;

    // enum nft_bitwise_attributes
    NFTA_BITWISE_MASK: u16 = 4;
    NFTA_BITWISE_XOR: u16 = 5;

    // enum nft_cmp_ops
    NFT_CMP_EQ: u32 = 0;
    NFT_CMP_NEQ: u32 = 1;
    NFT_CMP_LTE: u32 = 3;
    NFT_CMP_GTE: u32 = 5;

    // enum nft_cmp_attributes
    NFTA_CMP_SREG: u16 = 1;
    NFTA_CMP_OP: u16 = 2;
    NFTA_CMP_DATA: u16 = 3;

    // enum nft_lookup_flags
    NFT_LOOKUP_F_INV: u32 = 1 << 0;

    // enum nft_lookup_attributes
    NFTA_LOOKUP_SET: u16 = 1;
    NFTA_LOOKUP_FLAGS: u16 = 5;

    // enum nft_dynset_ops
    NFT_DYNSET_OP_UPDATE: u32 = 1;

    // enum nft_dynset_attributes
    NFTA_DYNSET_SET_NAME: u16 = 1;
    NFTA_DYNSET_SET_ID: u16 = 2;
    NFTA_DYNSET_OP: u16 = 3;
    NFTA_DYNSET_SREG_KEY: u16 = 4;

    // enum nft_payload_bases
    NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
    NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;

    // enum nft_payload_attributes
    NFTA_PAYLOAD_DREG: u16 = 1;
    NFTA_PAYLOAD_BASE: u16 = 2;
    NFTA_PAYLOAD_OFFSET: u16 = 3;
    NFTA_PAYLOAD_LEN: u16 = 4;

    // enum nft_meta_keys
    NFT_META_IIF: u32 = 4;
    NFT_META_IIFNAME: u32 = 6;
    NFT_META_NFPROTO: u32 = 15;
    NFT_META_L4PROTO: u32 = 16;

    // enum nft_meta_attributes
    NFTA_META_DREG: u16 = 1;
    NFTA_META_KEY: u16 = 2;

    // enum nft_ct_keys
    NFT_CT_STATE: u32 = 0;

    // enum nft_ct_attributes
    NFTA_CT_KEY: u16 = 2;

    // enum nft_reject_types
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

    // ---- not kernel uapi: libnftnl's userdata TLVs (libnftnl's udata.h), which `nft`
    // reads out of NFTA_*_USERDATA -----------------------------------------------------
    /// `comment "…"` of a table
    NFTNL_UDATA_TABLE_COMMENT: u8 = 0;
    /// `comment "…"` of a rule
    NFTNL_UDATA_RULE_COMMENT: u8 = 0;
    /// a set key's byte order, so `nft list` prints keys right
    NFTNL_UDATA_SET_KEYBYTEORDER: u8 = 0;
}

#[cfg(test)]
pub(crate) mod uapi_check;
