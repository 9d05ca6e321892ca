//! The system layer: the only code that touches the world — netlink sockets, network
//! namespaces, the state directory, `/proc`.

pub mod host;
pub mod kernel;
pub mod netlink;
pub mod netns;
pub mod readback;
pub mod sockdiag;
pub mod state;
pub mod textfile;
