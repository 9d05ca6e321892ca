//! Unit tests of the policy model's values (`Cidr`).

use super::Cidr;

fn net(s: &str) -> Cidr {
    let (a, l) = s.split_once('/').unwrap();
    match a.parse().unwrap() {
        std::net::IpAddr::V4(a) => Cidr::V4(a, l.parse().unwrap()),
        std::net::IpAddr::V6(a) => Cidr::V6(a, l.parse().unwrap()),
    }
}

/// The integer order is the order of the variants, addresses and lengths.
#[test]
fn cidr_order_is_variant_address_length() {
    let v4 = |a: [u8; 4], l| Cidr::V4(a.into(), l);
    let v6 = |a: u128, l| Cidr::V6(a.into(), l);
    let mut all = vec![
        v6(1, 128),
        v4([10, 0, 0, 0], 8),
        v4([9, 255, 255, 255], 32),
        v6(0, 0),
        v4([10, 0, 0, 0], 16),
        v4([255, 0, 0, 0], 8),
        v6(u128::MAX, 128),
        v4([0, 0, 0, 0], 0),
    ];
    all.sort();
    assert_eq!(
        all,
        [
            v4([0, 0, 0, 0], 0),
            v4([9, 255, 255, 255], 32),
            v4([10, 0, 0, 0], 8),
            v4([10, 0, 0, 0], 16),
            v4([255, 0, 0, 0], 8),
            v6(0, 0),
            v6(1, 128),
            v6(u128::MAX, 128),
        ]
    );
}

#[test]
fn durations() {
    use super::parse_duration as d;
    assert_eq!(d("600"), Ok(600));
    assert_eq!(d("90s"), Ok(90));
    assert_eq!(d("10m"), Ok(600));
    assert_eq!(d("1h30m"), Ok(5400));
    assert_eq!(d("2d"), Ok(172_800));
    for bad in [
        "",
        "0",
        "0s",
        "1x",
        "h",
        "1h30",
        "-5s",
        "99999999999999999999s",
        "3651d",
        "1h1h",
        "30m1h",
        "1d2d3h",
    ] {
        assert!(d(bad).is_err(), "{bad:?}");
    }
    assert_eq!(d("1d2h3m4s"), Ok(93_784));
    assert!(
        d("1h1h")
            .unwrap_err()
            .contains("from the largest down, each once")
    );
}

#[test]
fn masks_containment_and_cover() {
    assert_eq!(Cidr::mask_bytes(24, 4), vec![255, 255, 255, 0]);
    assert_eq!(Cidr::mask_bytes(0, 4), vec![0; 4]);
    assert_eq!(Cidr::mask_bytes(32, 4), vec![255; 4]);
    assert_eq!(Cidr::mask_bytes(65, 16)[8], 0x80);
    assert_eq!(Cidr::mask_bytes(128, 16), vec![255; 16]);
    assert_eq!(Cidr::prefix_of_mask(&[255, 255, 240, 0]), Some(20));
    assert_eq!(Cidr::prefix_of_mask(&[255, 0, 255, 0]), None);
    assert!(net("10.0.0.0/8").contains("10.200.1.1".parse().unwrap()));
    assert!(!net("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
    assert!(!net("0.0.0.0/0").contains("::1".parse().unwrap()));
    assert!(net("::/0").contains("2001:db8::1".parse().unwrap()));
    assert!(net("10.0.0.0/8").covers(net("10.1.0.0/16")));
    assert!(!net("10.1.0.0/16").covers(net("10.0.0.0/8")));
    assert!(!net("0.0.0.0/0").covers(net("::/0")));
    assert_eq!(net("192.0.2.0/24").interval().2, u128::from(0xc000_02ffu32));
}
