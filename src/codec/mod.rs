//! The codec: nf_tables bytes, pure. A plan becomes one batch; a dumped rule becomes a plan
//! rule again. Nothing here opens a socket or knows how a rule is shown to a person.

pub mod decode;
pub mod encode;
mod expr;
pub mod nft;
mod patch;
pub mod sets;
pub mod wire;
