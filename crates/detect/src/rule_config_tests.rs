use std::time::Duration;

use trailhound_model::Severity;

use crate::rules::{self, RulesConfig};
use crate::testing::{finals, run_all_with, stratus};
use crate::DetectConfig;

fn rules(text: &str) -> Result<RulesConfig, String> {
    toml::from_str::<RulesConfig>(text).map_err(|e| e.to_string())
}

#[test]
fn the_defaults_round_trip_and_list_only_the_common_keys_a_rule_takes() {
    let d = RulesConfig::default();
    let t = toml::Table::try_from(&d).expect("serializes");
    let back: RulesConfig = toml::Value::Table(t.clone()).try_into().expect("reads back");
    assert_eq!(back, d);
    let keys = |id: &str| t[id].as_table().expect("a table").keys().cloned().collect::<Vec<_>>();
    for id in rules::RULE_IDS {
        assert!(keys(id).contains(&"enabled".to_string()), "{id}");
        assert!(!keys(id).contains(&"severity".to_string()), "{id}: unset, not written");
    }
    assert!(keys("enumeration_burst").contains(&"episode".to_string()));
    assert!(keys("lambda_backdoor").contains(&"episode".to_string()), "`group` is written as `episode`");
    assert!(!keys("lambda_backdoor").contains(&"group".to_string()));
    for id in ["attack_chain", "defense_evasion"] {
        assert!(!keys(id).contains(&"episode".to_string()) && !keys(id).contains(&"max_evidence".to_string()), "{id}");
    }
    assert_eq!(t["iam_role_backdoor"]["max_evidence"].as_integer(), Some(10));
    assert!(!keys("iam_role_backdoor").contains(&"episode".to_string()));
}

#[test]
fn common_and_own_keys_share_one_flat_table() {
    let c = rules(
        "[enumeration_burst]\nenabled = false\nmax_evidence = 5\nepisode = \"30m\"\nmin_regions = 12\nseverity = \"high\"\n",
    )
    .expect("loads");
    let e = &c.enumeration_burst;
    assert!(!e.common.enabled);
    assert_eq!(e.common.max_evidence, 5);
    assert_eq!(e.common.episode, Duration::from_secs(1800));
    assert_eq!(e.common.severity, Some(Severity::High));
    assert_eq!(e.min_regions, 12, "the rule's own key, through Deref");
    assert_eq!(e.min_denied, 10, "untouched keys keep their default");
    assert_eq!(c.credential_harvesting, Default::default(), "other rules untouched");
    assert_eq!(c.common("enumeration_burst"), Some(&e.common));
    assert_eq!(c.common("no_such_rule"), None);
    assert!(!rules::build(&c).iter().any(|r| r.meta().id == "enumeration_burst"), "disabled: not built");
}

#[test]
fn an_unknown_key_is_an_error_naming_the_key_and_the_rule() {
    let e = rules("[enumeration_burst]\nmin_regionz = 3\n").expect_err("unknown key");
    assert!(e.contains("rules.enumeration_burst") && e.contains("`min_regionz`"), "{e}");
    assert!(e.contains("episode") && e.contains("min_regions"), "lists the rule's keys, common ones too: {e}");
    let e = rules("[attack_chain]\nwindow = 3\n").expect_err("bad type");
    assert!(e.contains("rules.attack_chain") && e.contains("window"), "{e}");
    let e = rules("[lambda_backdoor]\nenabled = \"no\"\n").expect_err("bad common type");
    assert!(e.contains("rules.lambda_backdoor.enabled") && e.contains("true or false"), "{e}");
}

#[test]
fn episode_and_max_evidence_are_errors_on_a_rule_that_does_not_use_them() {
    let e = rules("[defense_evasion]\nepisode = \"1h\"\n").expect_err("no episodes");
    assert!(
        e.contains("rules.defense_evasion.episode") && e.contains("does not group its findings into episodes"),
        "{e}"
    );
    let e = rules("[iam_role_backdoor]\nepisode = \"1h\"\n").expect_err("no episodes");
    assert!(e.contains("rules.iam_role_backdoor.episode"), "{e}");
    let e = rules("[attack_chain]\nmax_evidence = 3\n").expect_err("no evidence list");
    assert!(e.contains("rules.attack_chain.max_evidence"), "{e}");
    let e = rules("[defense_evasion]\nepisode = \"1h\"\n[attack_chain]\nmax_evidence = 3\n").expect_err("both");
    assert!(e.contains("rules."), "{e}");
}

#[test]
fn group_is_still_read_as_episode_where_it_was_the_rule_s_name() {
    let c = rules("[lambda_backdoor]\ngroup = \"2h\"\n[iam_backdoor_credentials]\nepisode = \"3h\"\n").expect("loads");
    assert_eq!(c.lambda_backdoor.common.episode, Duration::from_secs(7200));
    assert_eq!(c.iam_backdoor_credentials.common.episode, Duration::from_secs(3 * 3600));
    let e = rules("[lambda_backdoor]\ngroup = \"2h\"\nepisode = \"1h\"\n").expect_err("both names");
    assert!(e.contains("rules.lambda_backdoor") && e.contains("`group`"), "{e}");
    let e = rules("[enumeration_burst]\ngroup = \"2h\"\n").expect_err("not an alias there");
    assert!(e.contains("`group`"), "{e}");
}

#[test]
fn severity_and_durations_are_checked_at_load_and_ranges_by_validate() {
    let e = rules("[defense_evasion]\nseverity = \"urgent\"\n").expect_err("bad severity");
    assert!(e.contains("rules.defense_evasion.severity") && e.contains("\"critical\""), "{e}");
    let e = rules("[enumeration_burst]\nepisode = \"soon\"\n").expect_err("bad duration");
    assert!(e.contains("rules.enumeration_burst.episode") && e.contains("soon"), "{e}");
    let mut cfg = DetectConfig::default();
    cfg.rules.instance_sprawl.common.max_evidence = 0;
    cfg.rules.termination_protection.common.episode = Duration::ZERO;
    cfg.rules.workload_credential_misuse.common.episode = Duration::from_secs(2 * 86_400);
    let errs = cfg.validate().expect_err("out of range").join("\n");
    assert!(errs.contains("rules.instance_sprawl.max_evidence must be between 1 and 1000"), "{errs}");
    assert!(errs.contains("rules.termination_protection.episode must be between 1s and 24h"), "{errs}");
    assert!(errs.contains("rules.workload_credential_misuse.episode"), "{errs}");
    assert!(crate::Engine::new(&cfg).is_err());
    let mut cfg = DetectConfig::default();
    cfg.rules.attack_chain.common.max_evidence = 0;
    cfg.rules.attack_chain.common.episode = Duration::ZERO;
    assert_eq!(cfg.validate(), Ok(()), "keys a rule does not take are not judged");
}

#[test]
fn the_configured_severity_replaces_the_rule_s_on_every_published_finding() {
    let lines = stratus("aws.defense-evasion.cloudtrail-stop");
    let run = |cfg: &DetectConfig| run_all_with(cfg, rules::build(&cfg.rules), &lines, 3);
    let plain = run(&DetectConfig::default());
    let judged: Vec<_> = plain.iter().filter(|f| f.rule_id == "defense_evasion").collect();
    assert!(!judged.is_empty() && judged.iter().all(|f| f.severity == Severity::Critical), "{judged:#?}");

    let cfg: DetectConfig = toml::from_str("[rules.defense_evasion]\nseverity = \"medium\"\n").expect("parses");
    let all = run(&cfg);
    assert_eq!(all.len(), plain.len(), "the same versions are published");
    for (f, p) in all.iter().zip(&plain) {
        assert_eq!((&f.uid, f.revision), (&p.uid, p.revision));
        if f.rule_id == "defense_evasion" {
            assert_eq!(f.severity, Severity::Medium);
            assert!(
                f.context.iter().any(|c| c == "severity medium set by rules.defense_evasion.severity (the rule judged it critical)"),
                "{:?}",
                f.context
            );
        } else {
            assert_eq!(f.severity, p.severity, "other rules keep theirs");
        }
    }
    // Judged against engine.min_severity at the rule's own severity: an informational override
    // still publishes (labelled informational); silencing a rule is `enabled = false`.
    let mut cfg = DetectConfig::default();
    cfg.rules.defense_evasion.common.severity = Some(Severity::Informational);
    let quiet = finals(&run(&cfg));
    assert!(quiet.iter().filter(|f| f.rule_id == "defense_evasion").all(|f| f.severity == Severity::Informational));
    assert_eq!(quiet.len(), finals(&plain).len());
}

#[test]
fn a_layer_s_older_name_replaces_the_episode_of_the_layer_below() {
    let mut base: toml::Table = toml::from_str("[lambda_backdoor]\nepisode = \"1h\"\n").expect("toml");
    let mut over: toml::Table = toml::from_str("[lambda_backdoor]\ngroup = \"2h\"\n").expect("toml");
    RulesConfig::canonical_names(&mut over);
    assert_eq!(over["lambda_backdoor"]["episode"].as_str(), Some("2h"));
    let both: toml::Table = toml::from_str("[lambda_backdoor]\ngroup = \"2h\"\nepisode = \"1h\"\n").expect("toml");
    let mut kept = both.clone();
    RulesConfig::canonical_names(&mut kept);
    assert_eq!(kept, both, "both names in one layer stay, to be refused when read");
    let t = base.get_mut("lambda_backdoor").and_then(toml::Value::as_table_mut).expect("table");
    t.extend(over["lambda_backdoor"].as_table().expect("table").clone());
    let c: RulesConfig = toml::Value::Table(base).try_into().expect("loads");
    assert_eq!(c.lambda_backdoor.common.episode, Duration::from_secs(7200));
}
