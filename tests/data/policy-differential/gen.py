#!/usr/bin/env python3
"""Random statewall policies (NAME.toml) and, from the README's stated meaning, the
iptables-restore / ip6tables-restore files of the same meaning (NAME.rules, NAME.rules6).

usage: gen.py OUTDIR SEED COUNT [LEVEL]
LEVEL 1: input only, allows/rejects, ports, from; 2: + forward/output, blocks, exceptions,
interfaces, icmp, protocol, sport; 3: + tcp_flags, logs, limits (generous), state.
"""
import ipaddress
import json
import os
import random
import sys

SERVICES = {"ssh": ("tcp", 22), "http": ("tcp", 80), "https": ("tcp", 443),
            "smtp": ("tcp", 25), "ntp": ("udp", 123), "imaps": ("tcp", 993)}
TCP_PORTS = [22, 80, 443, 25, 8080, 3306, 5432, 993, 2222]
UDP_PORTS = [53, 123, 161, 514, 1194, 51820, 5353]
SRC4 = ["10.1.0.0/16", "10.1.2.0/24", "203.0.113.0/24", "192.0.2.0/24", "192.0.2.2",
        "100.64.0.0/10"]
SRC6 = ["2001:db8:5a::/64", "2001:db8:77::/48", "2001:db8:77:1::/64", "fd12::/16",
        "2001:db8:5a::2"]
DST4 = {"input": ["192.0.2.1", "10.9.0.0/24", "10.9.0.5"],
        "forward": ["198.51.100.2", "10.20.0.0/24", "10.20.0.7"],
        "output": ["198.51.100.2", "10.30.0.0/24"]}
DST6 = {"input": ["2001:db8:5a::1", "fd99::/64"],
        "forward": ["2001:db8:5b::2", "fd20::/64"],
        "output": ["2001:db8:5b::2", "fd30::/64"]}
IIF = ["eth0", "eth*", "eth0", "lan*", "ens3", "eth1"]
OIF = ["eth1", "eth*", "eth1", "wan*", "eth0"]
KINDS = {  # with -> (iptables, ip6tables)
    "port-unreachable": ("icmp-port-unreachable", "icmp6-port-unreachable"),
    "host-unreachable": ("icmp-host-unreachable", "icmp6-addr-unreachable"),
    "admin-prohibited": ("icmp-admin-prohibited", "icmp6-adm-prohibited"),
    "no-route": ("icmp-net-unreachable", "icmp6-no-route"),
    "host-prohibited": ("icmp-host-prohibited", "icmp6-adm-prohibited"),
    "net-prohibited": ("icmp-net-prohibited", "icmp6-adm-prohibited"),
    "proto-unreachable": ("icmp-proto-unreachable", "icmp6-port-unreachable"),
}
FINALS = ["drop", "drop", "accept", "reject"] + list(KINDS)
ICMP4 = [("echo-request", "8"), ("8", "8"), ("echo-reply", "0"), ("3/4", "3/4"),
         ("destination-unreachable/port-unreachable", "3/3"), ("host-unreachable", "3/1"),
         ("time-exceeded", "11"), ("13", "13")]
ICMP6 = [("echo-request", "128"), ("128", "128"), ("1/4", "1/4"), ("packet-too-big", "2"),
         ("echo-reply", "129")]
PROTOS = [("tcp", "tcp", "tcp"), ("udp", "udp", "udp"), (6, "6", "6"), (17, "17", "17"),
          ("esp", "esp", "esp"), (47, "47", "47"), ("icmp", "icmp", None),
          ("ipv6-icmp", None, "ipv6-icmp"), ("ah", "ah", None)]
FLAGS = [("syn/syn,ack", "SYN,ACK SYN"), ("syn,fin/syn,fin", "SYN,FIN SYN,FIN"),
         ("fin/fin,ack", "FIN,ACK FIN"), ("null", "FIN,SYN,RST,PSH,ACK,URG NONE"),
         ("syn-fin", "SYN,FIN SYN,FIN"), ("syn-rst", "SYN,RST SYN,RST"),
         ("fin-rst", "FIN,RST FIN,RST"), ("fin-noack", "FIN,ACK FIN"),
         ("psh-noack", "PSH,ACK PSH"), ("urg-noack", "URG,ACK URG"),
         ("ack/syn,ack", "SYN,ACK ACK"), ("rst/rst", "RST RST"),
         ("xmas", "FIN,SYN,RST,PSH,ACK,URG FIN,PSH,URG"), ("all", "FIN,SYN,RST,PSH,ACK,URG FIN,SYN,RST,PSH,ACK,URG")]
TYPES_TO = ["local", "broadcast"] if os.environ.get("NO_UNICAST") else ["local", "unicast", "broadcast"]
TYPES_EXC = ["local"] if os.environ.get("NO_UNICAST") else ["local", "unicast"]
TYPES_FROM = TYPES_EXC
ICMP6_BASE = [1, 2, 3, 4] + list(range(128, 137)) + [143]


def fam(a):
    return 6 if ":" in a else 4


def disjoint(nets):
    out = []
    for n in nets:
        a = ipaddress.ip_network(n)
        if all(a.version != b.version or not a.overlaps(b)
               for b in map(ipaddress.ip_network, out)):
            out.append(n)
    return out


def q(v):
    return json.dumps(v)


class Gen:
    def __init__(self, rng, level):
        self.r = rng
        self.level = level
        self.n = 0

    def name(self, kind):
        self.n += 1
        return f"{kind}{self.n}"

    def ports(self, proto):
        r = self.r
        out = []
        for _ in range(r.randint(1, 3)):
            x = r.random()
            if x < 0.55:
                out.append(r.choice(TCP_PORTS if proto == "tcp" else UDP_PORTS))
            elif x < 0.8:
                a = r.choice(TCP_PORTS if proto == "tcp" else UDP_PORTS)
                b = a + r.randint(1, 20)
                out.append(f"{a}-{b}")
            else:
                cands = [n for n, (p, _) in SERVICES.items() if p == proto]
                if cands:
                    out.append(r.choice(cands))
        # no duplicates (check refuses a port listed twice)
        seen, res = [], []
        for p in out:
            k = self.port_text(p, proto)
            a, _, b = k.partition(":")
            a, b = int(a), int(b or a)
            if all(b < x or a > y for x, y in seen):
                seen.append((a, b))
                res.append(p)
        return res

    @staticmethod
    def port_text(p, proto):
        if isinstance(p, int):
            return str(p)
        if p in SERVICES:
            return str(SERVICES[p][1])
        a, b = p.split("-")
        return f"{a}:{b}"

    def entry(self, section, kind, allow_names):
        r, lv = self.r, self.level
        e = {"name": self.name({"allow": "a", "reject": "r", "block": "b"}[kind])}
        # the protocol part
        x = r.random()
        if x < 0.45:
            if r.random() < 0.8:
                e["tcp"] = self.ports("tcp")
            if "tcp" not in e or r.random() < 0.3:
                e["udp"] = self.ports("udp")
            if lv >= 2 and r.random() < 0.15:
                e["tcp_sport" if "tcp" in e else "udp_sport"] = [r.choice([1024, "1000-2000", 53, 61000])]
        elif x < 0.55 and lv >= 2:
            e["icmp"] = [p for p, _ in r.sample(ICMP4, r.randint(1, 2))]
            if len({t for p, t in ICMP4 if p in e["icmp"]}) < len(e["icmp"]):
                e["icmp"] = e["icmp"][:1]
        elif x < 0.62 and lv >= 2:
            e["icmpv6"] = [r.choice(ICMP6)[0]]
        elif x < 0.72 and lv >= 2:
            ps = r.sample(PROTOS, r.randint(1, 2))
            if len(ps) == 2 and {ps[0][1], ps[1][1]} in ({"tcp", "6"}, {"udp", "17"}):
                ps = ps[:1]
            e["protocol"] = [p[0] for p in ps]
        elif x < 0.8 and lv >= 3:
            e["tcp_flags"] = [r.choice(FLAGS)[0]]
            if r.random() < 0.5:
                e["tcp"] = self.ports("tcp")
        # else: every protocol
        if kind in ("reject", "block") and "tcp" in e and "udp" not in e and r.random() < 0.4:
            e["with"] = "tcp-reset"
        elif kind in ("reject", "block") and r.random() < 0.8:
            if kind == "reject" or r.random() < 0.5:
                e["with"] = r.choice(list(KINDS))
        # addresses
        icmp_fam = 4 if "icmp" in e else 6 if "icmpv6" in e else None
        if "protocol" in e:
            fams = set()
            for p in e["protocol"]:
                if p == "icmp":
                    fams.add(4)
                elif p == "ipv6-icmp":
                    fams.add(6)
            if len(fams) == 1:
                icmp_fam = fams.pop()
            elif len(fams) == 2:
                e["protocol"] = e["protocol"][:1]
                icmp_fam = 4 if e["protocol"][0] == "icmp" else 6
        pool_src = (SRC4 if icmp_fam != 6 else []) + (SRC6 if icmp_fam != 4 else [])
        if r.random() < 0.4:
            e["from"] = disjoint(r.sample(pool_src, r.randint(1, 2)))
        if lv >= 2 and r.random() < 0.25:
            fams = {fam(a) for a in e.get("from", [])} or ({icmp_fam} if icmp_fam else {4, 6})
            pool = [a for a in DST4[section] + DST6[section] if fam(a) in fams]
            e["to"] = r.sample(pool, 1)
            # keep the families of from and to alike (one family each side would match nothing)
            if "from" in e and {fam(a) for a in e["from"]} != {fam(a) for a in e["to"]}:
                f = fam(e["to"][0])
                e["from"] = [a for a in e["from"] if fam(a) == f] or e.pop("from") and None
                if e.get("from") is None:
                    e.pop("from", None)
        if lv >= 2 and r.random() < 0.2:
            # an exception inside the sources where there are any
            if "from" in e:
                base = e["from"][0]
                inside = {"10.1.0.0/16": "10.1.2.0/24", "2001:db8:77::/48": "2001:db8:77:1::/64",
                          "192.0.2.0/24": "192.0.2.2", "2001:db8:5a::/64": "2001:db8:5a::2"}
                if base in inside:
                    e["except_from"] = [inside[base]]
            else:
                e["except_from"] = [r.choice([a for a in SRC4 + SRC6
                                              if icmp_fam is None or fam(a) == icmp_fam])]
        if lv >= 2 and section in ("input", "forward") and r.random() < 0.3:
            e["iif"] = r.choice(IIF)
        if lv >= 2 and section in ("forward", "output") and r.random() < 0.3:
            e["oif"] = r.choice(OIF)
        if lv >= 4:
            self.extra(section, kind, e)
        if ("from" not in e and "iif" not in e and (kind == "block" or every_protocol(e))
                and "tcp_flags" not in e):
            if section != "output" and r.random() < 0.4:
                e["iif"] = r.choice(IIF)
            else:
                e["from"] = disjoint(r.sample(pool_src, r.randint(1, 2)))
                e.pop("to", None) if "to" in e and {fam(a) for a in e["from"]} != {fam(a) for a in e["to"]} else None
        if kind == "block" and lv >= 2:
            places = ["first", "established", "baseline", "allows"] + allow_names
            p = r.choice(places)
            if p != "first":
                e["after"] = p
            if r.random() < 0.2:
                e["state"] = "new"
        if lv >= 3 and r.random() < 0.15:
            e["log"] = True
        if lv >= 3 and kind == "allow" and r.random() < 0.1:
            e["limit"] = r.choice(["1000/s", {"rate": "500/s", "per": "source"}])
        if (lv >= 5 and kind == "allow" and ("tcp" in e or "udp" in e) and r.random() < (0.12 if lv < 6 else 0.35)
                and not any(k.startswith("except") for k in e)):
            e["limit"] = r.choice(["5/s", {"rate": "4/s", "per": "source"}])
            e["tight"] = True
            if lv >= 6 and r.random() < 0.7:
                lim = e["limit"] if isinstance(e["limit"], dict) else {"rate": e["limit"]}
                lim["over"] = r.choice(["reject", "port-unreachable", "drop"])
                e["limit"] = lim
        return e

    def extra(self, section, kind, e):
        r = self.r
        proto_named = any(k in e for k in ("tcp", "udp", "tcp_sport", "udp_sport", "icmp",
                                              "icmpv6", "protocol", "tcp_flags"))
        if r.random() < 0.15 and section in ("input", "forward"):
            e["except_iif"] = r.choice([["lo"], ["eth1"], ["lan*", "eth1"], ["eth*"]])
        if r.random() < 0.12 and section in ("forward", "output"):
            e["except_oif"] = r.choice([["eth1"], ["wan*"], ["eth*"]])
        if r.random() < 0.12:
            e["except_to"] = [r.choice(DST4[section] + DST6[section])]
        if "tcp" in e and r.random() < 0.2:
            # an exception inside one of the ranges (or a port apart)
            e["except_tcp"] = [r.choice(TCP_PORTS)]
        elif not proto_named and r.random() < 0.3:
            c = r.random()
            if c < 0.3:
                e["except_tcp"] = r.sample(TCP_PORTS, 2)
            elif c < 0.45:
                e["except_udp"] = r.sample(UDP_PORTS, 2)
            elif c < 0.6:
                e["except_icmp"] = r.choice([["echo-request"], [13, "echo-reply"]])
            elif c < 0.7:
                e["except_icmpv6"] = [r.choice(["echo-request", 128, 2])]
            else:
                e["except_protocol"] = r.sample(["tcp", "udp", "icmp", "ipv6-icmp", 47], r.randint(1, 2))
        if r.random() < 0.08:
            e["pkttype"] = r.choice(["unicast", "broadcast", "multicast"])
        if r.random() < 0.08:
            e["to_type"] = r.choice(TYPES_TO)
        elif r.random() < 0.05:
            e["except_to_type"] = r.choice(TYPES_EXC)
        if r.random() < 0.05:
            e["from_type"] = r.choice(TYPES_FROM)
        # the families the exceptions of ICMP leave
        if "except_icmp" in e:
            e["from"] = [a for a in e.get("from", []) if fam(a) == 4] or e.pop("from", None) or None
            if e.get("from") is None:
                e.pop("from", None)
            if "to" in e and fam(e["to"][0]) != 4:
                del e["to"]
        if "except_icmpv6" in e:
            e["from"] = [a for a in e.get("from", []) if fam(a) == 6] or e.pop("from", None) or None
            if e.get("from") is None:
                e.pop("from", None)
            if "to" in e and fam(e["to"][0]) != 6:
                del e["to"]

    def section(self, section):
        r, lv = self.r, self.level
        s = {"baseline": {}, "allow": [], "reject": [], "block": []}
        if r.random() < 0.5:
            s["final"] = r.choice(FINALS)
        for k in ["established", "invalid", "icmp", "icmpv6"] + (["loopback"] if section != "forward" else []):
            if r.random() < 0.2:
                s["baseline"][k] = False
        for _ in range(r.randint(1 if section == "input" else 0, 4)):
            s["allow"].append(self.entry(section, "allow", []))
        if lv >= 4:
            for a in s["allow"]:
                if s["baseline"].get("established") is False and r.random() < 0.5:
                    a["state"] = r.choice([["new"], ["new", "established"],
                                           ["established", "related"],
                                           ["new", "established", "related", "untracked"]])
                elif s["baseline"].get("established") is not False and r.random() < 0.1:
                    a["state"] = ["new"]
        if lv >= 4 and r.random() < 0.2:
            s["log_final"] = True
        for _ in range(r.randint(0, 2)):
            s["reject"].append(self.entry(section, "reject", []))
        if lv >= 2:
            names = [a["name"] for a in s["allow"]]
            for _ in range(r.randint(0, 2)):
                s["block"].append(self.entry(section, "block", names))
        return s

    def policy(self):
        p = {"input": self.section("input")}
        if self.level >= 2:
            for sec in ("forward", "output"):
                if self.r.random() < 0.5:
                    p[sec] = self.section(sec)
        return p


# ------------------------------------------------------------------------------------------
# TOML

def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, str)):
        return q(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(p):
    out = []
    for sec in ("input", "forward", "output"):
        if sec not in p:
            continue
        s = p[sec]
        pre = "" if sec == "input" else sec + "."
        if sec != "input":
            out.append(f"\n[{sec}]")
        if "final" in s:
            out.append(f"final = {q(s['final'])}")
        if "log_final" in s:
            out.append("log_final = true")
        if s["baseline"]:
            out.append(f"\n[{pre}baseline]")
            for k, v in s["baseline"].items():
                out.append(f"{k} = {toml_value(v)}")
        for kind in ("allow", "block", "reject"):
            for e in s[kind]:
                out.append(f"\n[[{pre}{kind}]]")
                for k, v in e.items():
                    if k != "tight":
                        out.append(f"{k} = {toml_value(v)}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------
# iptables, from the README's meaning

def icmp_type_of(name):
    for p, t in ICMP4:
        if p == name:
            return t
    raise KeyError(name)


def icmp6_type_of(name):
    for p, t in ICMP6:
        if p == name:
            return t
    raise KeyError(name)


class Tables:
    def __init__(self):
        self.chains = {4: [], 6: []}  # user chains: (name, lines)
        self.rules = {4: {"INPUT": [], "FORWARD": [], "OUTPUT": []},
                      6: {"INPUT": [], "FORWARD": [], "OUTPUT": []}}
        self.k = 0

    def text(self, f):
        out = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
        for name, _ in self.chains[f]:
            out.append(f":{name} - [0:0]")
        for c in ("INPUT", "FORWARD", "OUTPUT"):
            for l in self.rules[f][c]:
                out.append(f"-A {c} {l}")
        for name, lines in self.chains[f]:
            for l in lines:
                out.append(f"-A {name} {l}")
        out.append("COMMIT")
        return "\n".join(out) + "\n"


def verdict(kind, e, f, tcp_rule=False):
    if kind == "allow":
        return "-j ACCEPT"
    w = e.get("with")
    if kind == "block" and (w is None or w == "drop"):
        return "-j DROP"
    if w is None:
        # README: not said; statewall's plan shows a reset on TCP rules, icmpx port-unreachable
        # on the others (a rule of every protocol included)
        if tcp_rule:
            return "-j REJECT --reject-with tcp-reset"
        w = "port-unreachable"
    if w == "tcp-reset":
        return "-j REJECT --reject-with tcp-reset"
    return f"-j REJECT --reject-with {KINDS[w][0 if f == 4 else 1]}"


def final_verdict(fin, f):
    if fin in (None, "drop"):
        return "-j DROP"
    if fin == "accept":
        return None
    if fin == "reject":
        fin = "port-unreachable"  # README: not said
    return f"-j REJECT --reject-with {KINDS[fin][0 if f == 4 else 1]}"


def ifname(x):
    return x[:-1] + "+" if x.endswith("*") else x


def proto_parts(e, f):
    """The entry's protocol matches for family f: a list of match strings ('' = any)."""
    parts = []
    named = False
    for proto in ("tcp", "udp"):
        dports = e.get(proto)
        sports = e.get(proto + "_sport")
        flags = e.get("tcp_flags") if proto == "tcp" else None
        if dports is None and sports is None and not (flags and proto == "tcp"):
            continue
        named = True
        dl = [Gen.port_text(p, proto) for p in dports] if dports else [None]
        sl = [Gen.port_text(p, proto) for p in sports] if sports else [None]
        fl = [dict(FLAGS)[x] for x in flags] if flags else [None]
        for d in dl:
            for s in sl:
                for fg in fl:
                    m = f"-p {proto} -m {proto}"
                    if s:
                        m += f" --sport {s}"
                    if d:
                        m += f" --dport {d}"
                    if fg:
                        m += f" --tcp-flags {fg}"
                    parts.append(m)
    if "icmp" in e:
        named = True
        if f == 4:
            for t in e["icmp"]:
                parts.append(f"-p icmp -m icmp --icmp-type {icmp_type_of(t)}")
    if "icmpv6" in e:
        named = True
        if f == 6:
            for t in e["icmpv6"]:
                parts.append(f"-p ipv6-icmp -m icmp6 --icmpv6-type {icmp6_type_of(t)}")
    if "protocol" in e:
        named = True
        for p in e["protocol"]:
            row = [x for x in PROTOS if x[0] == p][0]
            ip = row[1] if f == 4 else row[2]
            if ip is not None:
                parts.append(f"-p {ip}")
    if ("except_tcp" in e or "except_tcp_sport" in e) and "tcp" not in e and not named:
        named = True
        parts.append("-p tcp")
    if "except_udp" in e and "udp" not in e and not named:
        named = True
        parts.append("-p udp")
    if "except_icmp" in e:
        named = True
        if f == 4:
            parts.append("-p icmp")
    if "except_icmpv6" in e:
        named = True
        if f == 6:
            parts.append("-p ipv6-icmp")
    if not named:
        parts.append("")
    return parts


def every_protocol(e):
    return not any(k in e for k in ("tcp", "udp", "tcp_sport", "udp_sport", "icmp", "icmpv6",
                                    "protocol", "tcp_flags", "except_tcp", "except_udp",
                                    "except_icmp", "except_icmpv6"))


PNUM = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58}


def icmp_any_type(t):
    for p, n in ICMP4:
        if p == t:
            return n
    return str(t) if t != "echo-reply" else "0"


def returns(e, f):
    """The exceptions of e for family f as RETURN matches of its exception chain."""
    out = [f"-s {x}" for x in e.get("except_from", []) if fam(x) == f]
    out += [f"-d {x}" for x in e.get("except_to", []) if fam(x) == f]
    out += [f"-i {ifname(x)}" for x in e.get("except_iif", [])]
    out += [f"-o {ifname(x)}" for x in e.get("except_oif", [])]
    out += [f"-p {PNUM.get(p, p)}" for p in e.get("except_protocol", [])]
    out += [f"-p tcp -m tcp --dport {Gen.port_text(p, 'tcp')}" for p in e.get("except_tcp", [])]
    out += [f"-p udp -m udp --dport {Gen.port_text(p, 'udp')}" for p in e.get("except_udp", [])]
    if f == 4:
        out += [f"-p icmp -m icmp --icmp-type {icmp_any_type(t)}" for t in e.get("except_icmp", [])]
    if f == 6:
        out += [f"-p ipv6-icmp -m icmp6 --icmpv6-type {icmp6_type_of(t) if isinstance(t, str) else t}"
                for t in e.get("except_icmpv6", [])]
    return out


def entry_rules(t, chain, kind, e, f, established):
    """Appends the entry's rules for family f to chain."""
    srcs = [a for a in e.get("from", []) if fam(a) == f]
    dsts = [a for a in e.get("to", []) if fam(a) == f]
    if "from" in e and not srcs:
        return
    if "to" in e and not dsts:
        return
    parts = proto_parts(e, f)
    if not parts:
        return
    if f == 6 and "broadcast" in (e.get("to_type"), e.get("from_type")):
        return  # no IPv6 address is of type broadcast (ip6tables refuses the type)
    if f == 6 and e.get("pkttype") == "broadcast":
        pass
    state = ""
    if kind == "allow" and established:
        untracked = (every_protocol(e) or "ipv6-icmp" in e.get("protocol", [])
                     or "except_icmpv6" in e) and e.get("state") != ["new"]
        state = "-m conntrack --ctstate NEW,UNTRACKED" if untracked else "-m conntrack --ctstate NEW"
    if kind == "allow" and not established and "state" in e:
        state = "-m conntrack --ctstate " + ",".join(x.upper() for x in e["state"])
    if kind == "block" and e.get("state") == "new":
        state = "-m conntrack --ctstate NEW"
    excs = returns(e, f)
    v = verdict(kind, e, f)
    target = v
    lines = t.rules[f][chain]
    if "log" in e:
        pass  # below, per rule group
    if excs:
        t.k += 1
        cname = f"X{t.k}_{e['name']}"[:28]
        t.chains[f].append((cname, [f"{x} -j RETURN" for x in excs]
                          + (["-p tcp -j REJECT --reject-with tcp-reset"]
                             if kind == "reject" and e.get("with") is None and not every_protocol(e) else [])
                          + [("-p tcp " if "tcp-reset" in v else "") + v.strip()]))
        target = f"-j {cname}"
    ifs = ""
    if "iif" in e:
        ifs += f" -i {ifname(e['iif'])}"
    if "oif" in e:
        ifs += f" -o {ifname(e['oif'])}"
    if "pkttype" in e:
        ifs += f" -m pkttype --pkt-type {e['pkttype']}"
    if "to_type" in e:
        ifs += f" -m addrtype --dst-type {e['to_type'].upper()}"
    if "except_to_type" in e and not (f == 6 and e["except_to_type"] == "broadcast"):
        ifs += f" -m addrtype ! --dst-type {e['except_to_type'].upper()}"
    if "from_type" in e:
        ifs += f" -m addrtype --src-type {e['from_type'].upper()}"
    matches = []
    for s in srcs or [None]:
        for d in dsts or [None]:
            for p in parts:
                m = ""
                if s:
                    m += f" -s {s}"
                if d:
                    m += f" -d {d}"
                m += ifs
                if p:
                    m += " " + p
                matches.append(m.strip())
    if e.get("log"):
        # a log rule before the entry's rules, verdict continue (no effect on a verdict)
        for m in matches:
            lines.append(f"{m} -m limit --limit 5/min --limit-burst 5 -j LOG --log-prefix \"sw {e['name']}: \"".strip())
    if e.get("tight"):
        # README: an allow's limit counts NEW connections, even without the established rule;
        # what is within goes on to the entry's own rule (stateless there)
        lim = e["limit"]
        n, per = (lim if isinstance(lim, str) else lim["rate"]).split("/")
        mode = "" if isinstance(lim, str) or lim.get("per") != "source" else " --hashlimit-mode srcip" + (" --hashlimit-srcmask 64" if f == 6 else "")
        over = "drop" if isinstance(lim, str) else lim.get("over", "drop")
        unreach = "icmp-port-unreachable" if f == 4 else "icmp6-port-unreachable"
        for m in matches:
            lines.append(f"{m} -m conntrack --ctstate NEW -m hashlimit --hashlimit-upto {n}/sec --hashlimit-burst {n}"
                         f"{mode} --hashlimit-name T{f}{e['name']} -j ACCEPT")
        for m in matches:
            # README: over = "reject": a tcp reset for tcp, ICMP port unreachable otherwise;
            # "port-unreachable": ICMP port unreachable for tcp too
            if over == "drop":
                v = "-j DROP"
            elif over == "reject" and " -p tcp" in " " + m:
                v = "-j REJECT --reject-with tcp-reset"
            else:
                v = f"-j REJECT --reject-with {unreach}"
            lines.append(f"{m} -m conntrack --ctstate NEW {v}")
        if not state:
            for m in matches:
                lines.append(f"{m} -j ACCEPT")
        return
    if "limit" in e:
        lim = e["limit"]
        if isinstance(lim, str):
            n, per = lim.split("/")
            mode = ""
        else:
            n, per = lim["rate"].split("/")
            mode = " --hashlimit-mode srcip" + (" --hashlimit-srcmask 64" if f == 6 else "")
        unit = {"s": "sec", "m": "min"}[per[0]]
        for m in matches:
            st = "-m conntrack --ctstate NEW" if kind == "allow" else state
            lines.append(f"{m} {st} -m hashlimit --hashlimit-above {n}/{unit} --hashlimit-burst {n}"
                         f"{mode} --hashlimit-name L{f}{e['name']} -j DROP".replace("  ", " ").strip())
    for m in matches:
        tgt = target
        is_tcp = " -p tcp" in " " + m or " -p 6" in " " + m
        if not excs and kind != "allow" and e.get("with") is None and is_tcp:
            tgt = verdict(kind, e, f, True)
        lines.append(f"{m} {state} {tgt}".replace("  ", " ").strip())


def translate(p):
    t = Tables()
    for sec, chain in (("input", "INPUT"), ("forward", "FORWARD"), ("output", "OUTPUT")):
        if sec not in p:
            continue
        s = p[sec]
        b = {"established": True, "invalid": True, "icmp": True, "icmpv6": True,
             "loopback": sec != "forward"}
        b.update(s["baseline"])
        blocks = s["block"]
        at = lambda place: [x for x in blocks if x.get("after", "first") == place]
        for f in (4, 6):
            L = t.rules[f][chain]
            for x in at("first"):
                entry_rules(t, chain, "block", x, f, b["established"])
            if b["established"]:
                L.append("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            if b["invalid"]:
                L.append("-m conntrack --ctstate INVALID -j DROP")
            for x in at("established"):
                entry_rules(t, chain, "block", x, f, b["established"])
            if b["loopback"]:
                L.append("-i lo -j ACCEPT" if sec == "input" else "-o lo -j ACCEPT")
            if b["icmp"] and f == 4:
                L.append("-p icmp -j ACCEPT")
            if b["icmpv6"] and f == 6:
                for ty in ICMP6_BASE:
                    L.append(f"-p ipv6-icmp -m icmp6 --icmpv6-type {ty} -j ACCEPT")
            for x in at("baseline"):
                entry_rules(t, chain, "block", x, f, b["established"])
            for a in s["allow"]:
                entry_rules(t, chain, "allow", a, f, b["established"])
                for x in at(a["name"]):
                    entry_rules(t, chain, "block", x, f, b["established"])
            for x in at("allows"):
                entry_rules(t, chain, "block", x, f, b["established"])
            for x in s["reject"]:
                entry_rules(t, chain, "reject", x, f, b["established"])
            fv = final_verdict(s.get("final"), f)
            if fv:
                L.append(fv)
    return t.text(4), t.text(6)


def main():
    out, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    level = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        rng = random.Random(seed * 100000 + i)
        g = Gen(rng, level)
        p = g.policy()
        name = f"p{seed:02d}{i:03d}"
        r4, r6 = translate(p)
        open(f"{out}/{name}.toml", "w").write(f"# seed {seed} #{i}, level {level}\n" + to_toml(p))
        open(f"{out}/{name}.rules", "w").write(r4)
        open(f"{out}/{name}.rules6", "w").write(r6)


if __name__ == "__main__":
    main()
