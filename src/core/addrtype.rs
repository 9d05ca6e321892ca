//! The routing table's address types, as `fib … type` matches them and iptables'
//! `-m addrtype` names them. Pure data, no I/O.

/// The routing table's address types (`RTN_*`, linux/rtnetlink.h), by the names nft's `fib
/// … type` and the policy's `to_type`/`from_type` use (iptables' `-m addrtype` writes them in
/// capitals). Every address has exactly one.
pub const ADDR_TYPES: [(&str, u8); 12] = [
    ("unspec", 0),
    ("unicast", 1),
    ("local", 2),
    ("broadcast", 3),
    ("anycast", 4),
    ("multicast", 5),
    ("blackhole", 6),
    ("unreachable", 7),
    ("prohibit", 8),
    ("throw", 9),
    ("nat", 10),
    ("xresolve", 11),
];

/// The number of an address type's name (lower case).
pub fn addr_type(name: &str) -> Option<u8> {
    ADDR_TYPES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// An address type's name, or its number.
pub fn addr_type_name(t: u8) -> String {
    ADDR_TYPES
        .iter()
        .find(|(_, n)| *n == t)
        .map_or_else(|| t.to_string(), |(name, _)| (*name).to_string())
}

/// The address-type matches of an entry's rules: one variant per combination of a
/// `to_type` and a `from_type` (none of either: one variant without), each with every
/// `except_*_type` as `!=`. `[[]]` for an entry that uses none, whose rules stay as they were.
pub fn type_matches(m: &crate::core::model::More) -> Vec<Vec<crate::core::plan::Match>> {
    use crate::core::plan::Match;
    let any = |types: &[u8], dst: bool| -> Vec<Option<Match>> {
        if types.is_empty() {
            return vec![None];
        }
        types
            .iter()
            .map(|&ty| {
                Some(Match::AddrType {
                    dst,
                    ty,
                    not: false,
                })
            })
            .collect()
    };
    let mut out = Vec::new();
    for d in any(&m.to_type, true) {
        for s in any(&m.from_type, false) {
            let mut v: Vec<Match> = s.into_iter().chain(d).collect();
            for (types, dst) in [(&m.except_from_type, false), (&m.except_to_type, true)] {
                v.extend(
                    types
                        .iter()
                        .map(|&ty| Match::AddrType { dst, ty, not: true }),
                );
            }
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::More;
    use crate::core::plan::Match;

    #[test]
    fn one_rule_per_type_and_every_exception_in_each() {
        assert_eq!(type_matches(&More::default()), vec![Vec::<Match>::new()]);
        let m = More {
            to_type: vec![2, 3],
            except_from_type: vec![5],
            ..Default::default()
        };
        let t = |dst, ty, not| Match::AddrType { dst, ty, not };
        assert_eq!(
            type_matches(&m),
            vec![
                vec![t(true, 2, false), t(false, 5, true)],
                vec![t(true, 3, false), t(false, 5, true)],
            ]
        );
        assert_eq!(addr_type("local"), Some(2));
        assert_eq!(addr_type_name(5), "multicast");
        assert_eq!(addr_type_name(99), "99");
    }
}
