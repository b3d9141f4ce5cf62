#!/usr/bin/python3
"""Tests of the reputation module: HELO sanity and reverse DNS."""
import modtest

LOCAL = "local_domains={example.org}"

CASES = [
    {"name": "nothing known, nothing said", "fixture": "plain.eml", "args": ["--ip", "", "--helo", ""],
     "only": [], "status": "clean"},
    {"name": "bare IPv4 HELO", "fixture": "plain.eml", "args": ["--ip", "192.0.2.1", "--helo", "192.0.2.1"],
     "present": ["REP_HELO_BARE_IP"], "absent": ["REP_HELO_NOT_FQDN"], "scores": {"REP_HELO_BARE_IP": 1.5}},
    {"name": "address literal HELO", "fixture": "plain.eml", "args": ["--ip", "192.0.2.1", "--helo", "[192.0.2.1]"],
     "present": ["REP_HELO_BARE_IP"]},
    {"name": "IPv6 literal HELO", "fixture": "plain.eml",
     "args": ["--ip", "2001:db8::1", "--helo", "[IPv6:2001:db8::1]"], "present": ["REP_HELO_BARE_IP"]},
    {"name": "HELO without a dot", "fixture": "plain.eml", "args": ["--ip", "192.0.2.1", "--helo", "DESKTOP-42"],
     "present": ["REP_HELO_NOT_FQDN"], "absent": ["REP_HELO_BARE_IP"], "details": {"REP_HELO_NOT_FQDN": "DESKTOP-42"}},
    {"name": "proper HELO", "fixture": "plain.eml", "args": ["--ip", "192.0.2.1", "--helo", "mx.other.test"],
     "opts": [LOCAL], "absent": ["REP_HELO_BARE_IP", "REP_HELO_NOT_FQDN", "REP_HELO_OURS"]},
    {"name": "stranger claims our domain", "fixture": "plain.eml", "opts": [LOCAL],
     "args": ["--ip", "192.0.2.1", "--helo", "example.org"], "present": ["REP_HELO_OURS"]},
    {"name": "stranger claims our subdomain, any case", "fixture": "plain.eml", "opts": [LOCAL],
     "args": ["--ip", "192.0.2.1", "--helo", "MX1.Example.Org"], "present": ["REP_HELO_OURS"]},
    {"name": "look-alike domain is not ours", "fixture": "plain.eml", "opts": [LOCAL],
     "args": ["--ip", "192.0.2.1", "--helo", "notexample.org"], "absent": ["REP_HELO_OURS"]},
    {"name": "trusted network may use our name", "fixture": "plain.eml",
     "opts": [LOCAL, "trusted_networks={10.0.0.0/8}"], "args": ["--ip", "10.1.2.3", "--helo", "mx1.example.org"],
     "only": [], "status": "clean"},
    {"name": "localhost trusted by default", "fixture": "plain.eml", "opts": [LOCAL],
     "args": ["--ip", "127.0.0.1", "--helo", "mx1.example.org"], "only": []},
    {"name": "no reverse DNS name for a client address", "fixture": "plain.eml",
     "args": ["--ip", "192.0.2.1", "--helo", "mx.other.test"], "present": ["REP_NO_RDNS"],
     "details": {"REP_NO_RDNS": "192.0.2.1"}},
    {"name": "no client address, no rDNS verdict", "fixture": "plain.eml",
     "args": ["--ip", "", "--helo", "mx.other.test"], "only": []},
    {"name": "authenticated users are not judged", "fixture": "plain.eml", "opts": [LOCAL],
     "args": ["--ip", "192.0.2.1", "--helo", "DESKTOP-42", "--auth-user", "alice"], "only": []},
    {"name": "scores are configurable", "fixture": "plain.eml",
     "opts": [LOCAL, "helo_ours_score=9", "no_rdns_score=0.25"],
     "args": ["--ip", "192.0.2.1", "--helo", "example.org"],
     "scores": {"REP_HELO_OURS": 9, "REP_NO_RDNS": 0.25}},
    {"name": "bad trusted network refused", "fixture": "plain.eml", "opts": ["trusted_networks={10.0.0.0/99}"],
     "rc": 2, "stderr": ["trusted_networks", "10.0.0.0/99"]},
    {"name": "history that never decays refused", "fixture": "plain.eml",
     "opts": ["history_half_life_hours=0"], "rc": 2, "stderr": ["history_half_life_hours", "positive"]},
    {"name": "negative half-life refused", "fixture": "plain.eml",
     "opts": ["history_half_life_hours=-5"], "rc": 2, "stderr": ["history_half_life_hours"]},
    {"name": "half-life unchecked without history", "fixture": "plain.eml",
     "opts": ["history=false", "history_half_life_hours=0"], "args": ["--ip", "", "--helo", ""],
     "only": []},
    {"name": "history kept for ever refused", "fixture": "plain.eml",
     "opts": ["history_forget_count=0"], "rc": 2, "stderr": ["history_forget_count"]},
    {"name": "negative sweep refused", "fixture": "plain.eml",
     "opts": ["sweep_keys=-1"], "rc": 2, "stderr": ["sweep_keys"]},
]

if __name__ == "__main__":
    modtest.main(CASES)
