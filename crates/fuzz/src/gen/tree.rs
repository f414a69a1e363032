//! Stage 1: structure-aware mutations of the seed events.

use rand::seq::IndexedRandom as _;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::MAX_EVENT_BYTES;
use crate::json::{self, Layout, J};

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "1e308",
    "-1e308",
    "1e309",
    "1e999",
    "-1e999",
    "1E400",
    "4.9e-324",
    "2.2250738585072014e-308",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "4294967295",
    "4294967296",
    "2147483648",
    "123456789012345678901234567890",
    "0.000000000000000000000000000001",
    "253402300799",
    "253402300800000",
    "-62135596800000",
    "1700000000",
    "1700000000000",
    "1700000000000000",
    "1700000000000000000",
    "1e",
    "00",
    "01",
    "-",
    "1.",
    ".5",
    "+1",
    "0x10",
    "NaN",
    "Infinity",
    "-Infinity",
];

const TIMES: &[&str] = &[
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "2026-02-31T00:00:00Z",
    "2023-02-29T12:00:00Z",
    "2024-02-29T24:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-00-10T00:00:00Z",
    "2024-01-00T00:00:00Z",
    "2024-01-01T25:61:61Z",
    "2024-06-30T23:59:60Z",
    "2024-01-01T00:00:00.9999999999999999999999Z",
    "2024-01-01T00:00:00+99:99",
    "2024-01-01T00:00:00-23:59",
    "2024-01-01T00:00:00+0530",
    "2024-01-01T00:00:00+05",
    "-2024-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "",
    " ",
    "2024",
    "2024-01-01",
    "2022-09-30 15:11:25.000000000",
    "2024-01-01t00:00:00z",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
    "2038-01-19T03:14:08Z",
    "2106-02-07T06:28:16Z",
    "２０２４-01-01T00:00:00Z",
    "2024-01-01T00:00:00.Z",
    "2024-01-01T00:00:00ZZ",
    "2024-01-01T00:00:00Z ",
    " 2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00é",
    "2024-01-01T00:00:00+",
    "2024-01-01T00:00:00-",
    "...",
    "redacted",
];

/// Escaped-string fragments (written between quotes as is).
const HOSTILE: &[&[u8]] = &[
    b"\\u0000",
    b"\\ud800",
    b"\\udc00",
    b"\\ud800\\udc00",
    b"\\ud83d\\ude00",
    b"\\udbff\\udfff",
    b"\\u001b[2J\\u001b]0;pwned\\u0007",
    b"\\n",
    b"\\r\\n",
    b"\\\\",
    b"\\\"",
    b"\\x41",
    b"\\u12",
    b"\\u",
    b"\\",
    b"\\uZZZZ",
    b"\x00",
    b"\x01",
    b"\x1b[31m",
    b"\x7f",
    b"\xff",
    b"\xfe",
    b"\xc0\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xe2\x80\xae",
    b"\xef\xbb\xbf",
    b"=cmd|' /C calc'!A0",
    b"+SUM(1)",
    b"\xe2\x80\xa8",
    b"\xef\xbd\x85",
    b"\t",
    b"\n",
    b"\r",
    b"\"",
];

const KEYS: &[&str] = &[
    "eventTime",
    "eventName",
    "eventSource",
    "eventID",
    "awsRegion",
    "recipientAccountId",
    "errorCode",
    "sourceIPAddress",
    "userAgent",
    "readOnly",
    "eventType",
    "eventCategory",
    "managementEvent",
    "userIdentity",
    "requestParameters",
    "responseElements",
    "p_event_time",
    "Records",
    "insertId",
    "sessionCredentialFromConsole",
];

const IDENTITY_KEYS: &[&str] = &[
    "type",
    "arn",
    "accessKeyId",
    "accountId",
    "principalId",
    "userName",
    "invokedBy",
    "sessionContext",
    "webIdFederationData",
    "sessionIssuer",
    "attributes",
];

const IDENTITY_TYPES: &[&str] = &[
    "IAMUser",
    "AssumedRole",
    "Root",
    "AWSService",
    "AWSAccount",
    "FederatedUser",
    "WebIdentityUser",
    "IdentityCenterUser",
    "SAMLUser",
    "Unknown",
    "",
    "iamuser",
    "Root\u{0}",
];

const REQUEST_KEYS: &[&str] = &[
    "userName",
    "roleName",
    "policyArn",
    "instanceType",
    "maxCount",
    "minCount",
    "disableApiTermination",
    "instancesSet",
    "targetCapacitySpecification",
    "spotFleetRequestConfig",
    "desiredCapacity",
    "maxSize",
    "instanceCount",
    "count",
    "totalTargetCapacity",
    "targetCapacity",
];

fn interesting_value(rng: &mut ChaCha8Rng) -> J {
    match rng.random_range(0..12) {
        0 => J::Null,
        1 => J::Bool(rng.random()),
        2..=3 => J::Num((*NUMBERS.choose(rng).unwrap_or(&"0")).to_string()),
        4 => J::Arr(Vec::new()),
        5 => J::Obj(Vec::new()),
        6 => J::Arr(vec![J::Null, J::Num("1".into()), J::str("x")]),
        7 => J::Obj(vec![(Vec::new(), J::str("")), (b"value".to_vec(), J::Bool(true))]),
        8 => J::Str(hostile_string(rng)),
        9 => J::str(TIMES.choose(rng).unwrap_or(&"")),
        10 => J::Num(long_digits(rng)),
        _ => J::str(""),
    }
}

fn hostile_string(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut s = Vec::new();
    for _ in 0..rng.random_range(1..=4) {
        s.extend_from_slice(HOSTILE.choose(rng).unwrap_or(&&b""[..]));
        if rng.random_bool(0.5) {
            s.extend_from_slice(b"abc");
        }
    }
    s
}

pub(super) fn long_digits(rng: &mut ChaCha8Rng) -> String {
    let n = *[20usize, 20, 310, 310, 400, 400, 5000, 70_000].choose(rng).unwrap_or(&20);
    let mut s = String::with_capacity(n + 8);
    if rng.random_bool(0.3) {
        s.push('-');
    }
    s.push('9');
    for _ in 1..n {
        s.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    match rng.random_range(0..4) {
        0 => s.push_str(".5"),
        1 => s.push_str("e5"),
        _ => {}
    }
    s
}

/// A random (mostly impossible) calendar time, or one of the known hard ones, or a number.
fn interesting_time(rng: &mut ChaCha8Rng) -> J {
    match rng.random_range(0..6) {
        0..=1 => J::str(TIMES.choose(rng).unwrap_or(&"")),
        2..=3 => {
            let y = match rng.random_range(0..4) {
                0 => rng.random_range(0..=99_999u32),
                _ => rng.random_range(1960..=2100),
            };
            let width = if y > 9999 { 5 } else { 4 };
            let sep = *['T', ' ', 't', 'x'].choose(rng).unwrap_or(&'T');
            let mut s = format!(
                "{y:0width$}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
                rng.random_range(0..=13u32),
                rng.random_range(0..=32u32),
                rng.random_range(0..=25u32),
                rng.random_range(0..=61u32),
                rng.random_range(0..=61u32),
            );
            if rng.random_bool(0.4) {
                s.push('.');
                for _ in 0..rng.random_range(0..=12) {
                    s.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
            }
            let zones = ["Z", "Z", "z", "", "+00:00", "-23:59", "+24:00", "+99:99", "+0530", "+05", "-", " Z", "+1:0"];
            s.push_str(zones.choose(rng).unwrap_or(&"Z"));
            J::str(&s)
        }
        4 => J::Num((*NUMBERS.choose(rng).unwrap_or(&"0")).to_string()),
        _ => interesting_value(rng),
    }
}

/// Applies one structure-aware mutation to an event.
pub(super) fn mutate_tree(rng: &mut ChaCha8Rng, recipe: &mut Vec<&'static str>, ev: &mut J) {
    match rng.random_range(0..16) {
        0..=2 => {
            recipe.push("event-time");
            let key = if rng.random_ratio(1, 8) { "p_event_time" } else { "eventTime" };
            ev.set(key, interesting_time(rng));
        }
        3 => {
            recipe.push("remove-key");
            if let Some(J::Obj(fields)) = random_node(rng, ev, |j| matches!(j, J::Obj(f) if !f.is_empty())) {
                let i = rng.random_range(0..fields.len());
                fields.remove(i);
            }
        }
        4 => {
            recipe.push("replace-value");
            if let Some(node) = random_node(rng, ev, |_| true) {
                *node = interesting_value(rng);
            }
        }
        5 => {
            recipe.push("duplicate-key");
            if let Some(J::Obj(fields)) = random_node(rng, ev, |j| matches!(j, J::Obj(f) if !f.is_empty())) {
                let i = rng.random_range(0..fields.len());
                let key = fields[i].0.clone();
                let value = if rng.random_bool(0.5) { fields[i].1.clone() } else { interesting_value(rng) };
                fields.push((key, value));
            }
        }
        6 => {
            recipe.push("huge-string");
            let n = if rng.random_ratio(1, 4) {
                *[MAX_EVENT_BYTES - 600, MAX_EVENT_BYTES, MAX_EVENT_BYTES + 1, 200_000].choose(rng).unwrap_or(&1000)
            } else {
                *[300usize, 1000, 4000].choose(rng).unwrap_or(&1000)
            };
            let unit: &[u8] = [&b"A"[..], "é".as_bytes(), b"\\u00e9", b"\\\\"].choose(rng).copied().unwrap_or(b"A");
            let s = unit.repeat(n / unit.len());
            let key = KEYS.choose(rng).unwrap_or(&"eventName");
            ev.set(key, J::Str(s));
        }
        7 => {
            recipe.push("deep-nesting");
            let n = *[10usize, 63, 64, 65, 200, 5000, 10, 63, 64, 65, 200].choose(rng).unwrap_or(&10);
            let arrays = rng.random_bool(0.5);
            if let Some(node) = random_node(rng, ev, |_| true) {
                let inner = std::mem::replace(node, J::Null);
                let mut open = Vec::new();
                let mut close = Vec::new();
                for _ in 0..n {
                    open.extend_from_slice(if arrays { b"[" } else { b"{\"a\":" });
                    close.push(if arrays { b']' } else { b'}' });
                }
                let mut raw = open;
                json::write(&inner, Layout::COMPACT, &mut raw);
                raw.extend_from_slice(&close);
                *node = J::Raw(raw);
            }
        }
        8 => {
            recipe.push("hostile-string");
            if let Some(J::Str(s)) = random_node(rng, ev, |j| matches!(j, J::Str(_))) {
                let at = rng.random_range(0..=s.len());
                let frag = hostile_string(rng);
                s.splice(at..at, frag);
            }
        }
        9 => {
            recipe.push("identity");
            let value = match rng.random_range(0..6) {
                0 => J::str(IDENTITY_TYPES.choose(rng).unwrap_or(&"")),
                1 => J::str(
                    [
                        "arn:aws:iam::",
                        "arn:",
                        ":::::",
                        "arn:aws:sts::1:assumed-role/",
                        "arn:aws:iam::123456789012:user/é\u{202e}",
                    ]
                    .choose(rng)
                    .unwrap_or(&""),
                ),
                2 => J::str(["", "AKIA", "ASIA0000000000000000", "AKIAIOSFODNN7EXAMPLE"].choose(rng).unwrap_or(&"")),
                _ => interesting_value(rng),
            };
            match rng.random_range(0..8) {
                0 => ev.set("userIdentity", interesting_value(rng)),
                _ => {
                    if !matches!(ev.get_mut("userIdentity"), Some(J::Obj(_))) {
                        ev.set("userIdentity", J::Obj(Vec::new()));
                    }
                    if let Some(ui) = ev.get_mut("userIdentity") {
                        ui.set(IDENTITY_KEYS.choose(rng).unwrap_or(&"type"), value);
                    }
                }
            }
        }
        10 => {
            recipe.push("request-parameters");
            if !matches!(ev.get_mut("requestParameters"), Some(J::Obj(_))) {
                ev.set("requestParameters", J::Obj(Vec::new()));
            }
            let key = REQUEST_KEYS.choose(rng).unwrap_or(&"userName");
            let value = match rng.random_range(0..3) {
                0 => J::Obj(vec![(
                    b"items".to_vec(),
                    J::Arr(vec![J::Obj(vec![(b"maxCount".to_vec(), interesting_value(rng))])]),
                )]),
                _ => interesting_value(rng),
            };
            if let Some(req) = ev.get_mut("requestParameters") {
                req.set(key, value);
            }
            if rng.random_bool(0.5) {
                let name = ["RunInstances", "CreateFleet", "RequestSpotFleet", "CreateUser", "AttachRolePolicy"]
                    .choose(rng)
                    .unwrap_or(&"RunInstances");
                ev.set("eventName", J::str(name));
            }
        }
        11 => {
            recipe.push("escaped-key");
            if let J::Obj(fields) = ev {
                if !fields.is_empty() {
                    let i = rng.random_range(0..fields.len());
                    let key = &mut fields[i].0;
                    match rng.random_range(0..4) {
                        0 if !key.is_empty() => {
                            // `eventTime` -> `\u0065ventTime`: the same key once unescaped.
                            let first = key.remove(0);
                            let esc = format!("\\u{:04x}", first);
                            key.splice(0..0, esc.bytes());
                        }
                        1 => key.make_ascii_uppercase(),
                        2 => key.clear(),
                        _ => key.extend_from_slice(HOSTILE.choose(rng).unwrap_or(&&b""[..])),
                    }
                }
            }
        }
        12 => {
            recipe.push("not-an-object");
            *ev = match rng.random_range(0..3) {
                0 => J::Arr(vec![ev.clone()]),
                _ => interesting_value(rng),
            };
        }
        13 => {
            recipe.push("number");
            if let Some(node) = random_node(rng, ev, |j| matches!(j, J::Num(_) | J::Bool(_) | J::Null)) {
                *node = J::Num(if rng.random_bool(0.5) {
                    long_digits(rng)
                } else {
                    (*NUMBERS.choose(rng).unwrap_or(&"0")).to_string()
                });
            }
        }
        14 => {
            recipe.push("field-value");
            let key = KEYS.choose(rng).unwrap_or(&"eventName");
            let value = if rng.random_bool(0.5) { J::Str(hostile_string(rng)) } else { interesting_value(rng) };
            ev.set(key, value);
        }
        _ => {
            recipe.push("remove-field");
            if let J::Obj(fields) = ev {
                let key = KEYS.choose(rng).unwrap_or(&"eventTime");
                fields.retain(|(k, _)| k != key.as_bytes());
            }
        }
    }
}

/// A random node satisfying `want` (tries a few picks, then gives up).
fn random_node<'a>(rng: &mut ChaCha8Rng, ev: &'a mut J, want: impl Fn(&J) -> bool) -> Option<&'a mut J> {
    let size = ev.size();
    let mut found = None;
    for _ in 0..8 {
        let n = rng.random_range(0..size);
        if ev.nth_mut(n).is_some_and(|j| want(j)) {
            found = Some(n);
            break;
        }
    }
    ev.nth_mut(found?)
}
