//! Tests of the console people: page loads, sessions, the CLI and denied reads.

use super::pages::{BILLING, GLOBAL_VIEW, HOME, REGION_SELECTOR, S3, SECURITY_HUB, TRUSTED_ADVISOR};
use super::*;
use crate::background::tests::{max_window, run_sources, time};
use crate::engine::Emitter;
use rand::SeedableRng;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn distinct(w: &[(i64, &Value)], k: &str) -> usize {
    w.iter().filter_map(|(_, e)| e[k].as_str()).collect::<BTreeSet<_>>().len()
}

#[test]
fn a_dashboard_load_fans_out_over_regions_with_console_credentials() {
    let mut rng = Rng::seed_from_u64(5);
    let mut est = Estate::new(&mut rng);
    let mut em = Emitter::default();
    let acct = est.id(0).to_string();
    let ident = root_session(&acct, "ASIAEXAMPLEEXAMPLE00", 0, true);
    for (i, page) in [&HOME, &GLOBAL_VIEW, &BILLING, &TRUSTED_ADVISOR, &SECURITY_HUB, &REGION_SELECTOR, &EC2, &S3]
        .into_iter()
        .enumerate()
    {
        let t0 = 1_000_000 * (i as i64 + 1);
        let mut cx = Cx { em: &mut em, rng: &mut rng, est: &mut est };
        page_load(&mut cx, page, t0, &ident, &acct, "us-east-1", BROWSERS[0], "24.1.2.3", 0);
        let lines = em.drain();
        let evs: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).expect("json")).collect();
        let tv: Vec<(i64, &Value)> = evs.iter().map(|e| (time(e), e)).collect();
        let apis = max_window(&tv, 10_000, |w| distinct(w, "eventName"));
        assert!((8..=27 + page.fanout.len()).contains(&apis), "{apis} distinct APIs in 10 s");
        assert!(evs.iter().all(|e| e["readOnly"] == true && e["userIdentity"]["type"] == "Root"));
        let flagged: Vec<(i64, &Value)> =
            tv.iter().filter(|(_, e)| e["sessionCredentialFromConsole"] == "true").copied().collect();
        assert!(flagged.len() * 10 >= tv.len() * 8, "most calls carry the console flag");
        if !page.fanout.is_empty() {
            let regions = max_window(&flagged, 30_000, |w| distinct(w, "awsRegion"));
            assert!(regions >= 10, "{regions} regions in 30 s");
        }
        for e in &evs {
            let ua = e["userAgent"].as_str().unwrap_or("");
            assert!(
                [UA_CONSOLE, UA_CONSOLE_EC2, AWS_INTERNAL, UA_S3_CONSOLE, UA_CORAL, BROWSERS[0]].contains(&ua),
                "{ua}"
            );
            if e["sourceIPAddress"] == AWS_INTERNAL {
                assert_eq!(ua, AWS_INTERNAL);
                assert!(e.get("tlsDetails").is_none());
            }
        }
    }
}

#[test]
fn people_root_and_iam_users_work_in_the_console_and_the_cli() {
    let events = run_sources(
        |est, rng, start, out| {
            build(est, rng, start, out);
        },
        12 * HOUR,
    );
    let mut by: BTreeMap<String, Vec<(i64, &Value)>> = BTreeMap::new();
    let mut types = BTreeSet::new();
    let mut logins = BTreeSet::new();
    for e in &events {
        let ui = &e["userIdentity"];
        let typ = ui["type"].as_str().unwrap_or("");
        types.insert(typ.to_string());
        if e["eventName"] == "ConsoleLogin" {
            logins.insert(typ.to_string());
            continue;
        }
        let key = ui["accessKeyId"].as_str().unwrap_or("").to_string();
        assert!(key.starts_with("ASIA") || key.starts_with("AKIA"), "{e}");
        if typ == "Root" {
            assert_eq!(ui["arn"], format!("arn:aws:iam::{}:root", ui["accountId"].as_str().unwrap_or("")));
            assert!(key.starts_with("ASIA"));
            assert!(e["sessionCredentialFromConsole"] == "true" || e["userAgent"] == AWS_INTERNAL);
        }
        if typ == "IAMUser" && key.starts_with("ASIA") {
            assert!(ui["sessionContext"]["attributes"]["creationDate"].is_string());
        }
        by.entry(key).or_default().push((time(e), e));
    }
    assert!(["Root", "IAMUser", "AssumedRole"].iter().all(|t| types.contains(*t) && logins.contains(*t)), "{logins:?}");
    let mut bursts = 0;
    for (key, evs) in &mut by {
        evs.sort_by_key(|p| p.0);
        let console: Vec<(i64, &Value)> =
            evs.iter().filter(|(_, e)| e["sessionCredentialFromConsole"] == "true").copied().collect();
        if !console.is_empty() && max_window(&console, 10_000, |w| distinct(w, "eventName")) >= 8 {
            bursts += 1;
        }
        let denied: Vec<(i64, &Value)> = evs.iter().filter(|(_, e)| e.get("errorCode").is_some()).copied().collect();
        let d = max_window(&denied, 600_000, |w| w.len());
        assert!(d <= 6, "{key}: {d} denials in 10 min");
    }
    assert!(bursts >= 10, "{bursts} sessions with page-load bursts");
    let denied = events.iter().filter(|e| e["errorCode"] == "AccessDenied").count();
    assert!(denied > 0 && denied * 100 < events.len(), "{denied} denied of {}", events.len());
    let cli: Vec<&Value> =
        events.iter().filter(|e| e["userAgent"].as_str().is_some_and(|u| u.starts_with("aws-cli/2.15.30"))).collect();
    assert!(!cli.is_empty());
    assert!(cli.iter().all(|e| e.get("sessionCredentialFromConsole").is_none()));
    assert!(cli.iter().any(|e| e["userIdentity"]["accessKeyId"].as_str().is_some_and(|k| k.starts_with("AKIA"))));
    let per_hour = events.len() as i64 / 12;
    assert!((3_000..15_000).contains(&per_hour), "{per_hour} console events per hour");
}
