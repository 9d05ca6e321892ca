//! The TCP flags as nft names them (`tcp flags fin,syn / fin,syn`). Pure data, no I/O.

/// TCP flag bits, as nft names them, in the kernel's bit order.
pub const TCP_FLAGS: &[(&str, u8)] = &[
    ("fin", 0x01),
    ("syn", 0x02),
    ("rst", 0x04),
    ("psh", 0x08),
    ("ack", 0x10),
    ("urg", 0x20),
    ("ecn", 0x40),
    ("cwr", 0x80),
];

/// Flag bits as nft lists them: `fin,syn` (`0x0` for none).
pub fn tcp_flag_names(bits: u8) -> String {
    if bits == 0 {
        return "0x0".into();
    }
    TCP_FLAGS
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",")
}
