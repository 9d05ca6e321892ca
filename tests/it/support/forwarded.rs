//! The routed trio of `support::routed` (client — fw with forwarding — backend) as the hook
//! tests use it: the fw's interfaces named `veth-fc` (towards the client) and `veth-fb`
//! (towards the backend), and the four addresses by role.

use std::net::Ipv4Addr;

use super::routed::{BACKEND_LINK_V4, CLIENT_LINK_V4, Trio, TrioPlan};

pub const CLIENT: Ipv4Addr = CLIENT_LINK_V4.1;
pub const FW_FRONT: Ipv4Addr = CLIENT_LINK_V4.0;
pub const FW_BACK: Ipv4Addr = BACKEND_LINK_V4.0;
pub const BACKEND: Ipv4Addr = BACKEND_LINK_V4.1;
/// The fw's interface towards the client, and towards the backend.
pub const FW_CLIENT_IF: &str = "veth-fc";
pub const FW_BACKEND_IF: &str = "veth-fb";

/// A trio whose namespaces are named after `tag` (deleted with it).
pub fn trio(tag: &str) -> Trio {
    Trio::new(
        tag,
        &TrioPlan {
            fw_client_if: FW_CLIENT_IF.into(),
            fw_backend_if: FW_BACKEND_IF.into(),
            ..TrioPlan::default()
        },
    )
}
