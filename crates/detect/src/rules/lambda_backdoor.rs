//! `lambda_backdoor`: a Lambda function opened to the world or made to run someone else's code.
//!
//! Persistence through Lambda needs one call: `AddPermission` granting `lambda:InvokeFunction`
//! (or `*`) to principal `*` or to another account (anyone can now invoke a function that runs
//! with its role's rights), or `UpdateFunctionConfiguration` adding layers (an extension layer
//! runs inside every invocation). Deploy pipelines change layers all day, so layer changes by
//! CI/CD identities or IaC agents stay quiet; opening a function to `*` or another account
//! fires whoever does it.
//!
//! Not covered: `UpdateFunctionCode` alone. Legacy pipelines deploy with IAM users and plain
//! aws-cli (a `programmatic_user` replacing code many times a day), so one code update cannot
//! be told from a deploy without a per-function history of who deploys it; Stratus
//! `lambda-overwrite-code` is out of scope until that history exists.
//!
//! | call | severity |
//! |---|---|
//! | `AddPermission` to `*` | high |
//! | `AddPermission` to another account | medium |
//! | layers added from another account | high |
//! | layers added (not CI/CD, not IaC) | medium |
//!
//! Failed attempts are findings one step lower. A machine identity raises one step. Events are
//! grouped per actor per `episode` (default 1 h) into one finding.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailhound_model::attack::PERSISTENCE;
use trailhound_model::time::EventTime;
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::episode::{remediation_for, Draft, Group, Groups};
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "lambda_backdoor",
    title: "Lambda function backdoored",
    severity: Severity::Medium,
    tactics: &[PERSISTENCE],
    techniques: &["T1546", "T1098", "T1525"],
    summary: "Lambda opened to * or another account, or given layers outside CI/CD",
    stateful: false,
};

/// Thresholds of `lambda_backdoor` (`[rules.lambda_backdoor]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// User-agent fragments (case-insensitive) of IaC tools whose code and layer changes are
    /// deploys. Default Terraform, Pulumi, CDK, CloudFormation, Serverless, SAM.
    pub iac_user_agents: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            iac_user_agents: ["terraform/", "pulumi", "aws-cdk", "cloudformation", "serverless", "aws-sam"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// The [`Common`](super::Common) keys this rule takes, with its defaults: `enabled`, `severity`,
/// `max_evidence` (default 10), `episode` (default 1h; `group` is its older name here).
pub const COMMON: CommonDefaults = CommonDefaults {
    max_evidence: Some(10),
    episode: Some(Duration::from_secs(3600)),
    episode_alias: Some("group"),
};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Facts {
    worst: Option<Severity>,
    what: BTreeSet<String>,
}

crate::state::weigh_fields! { Facts { what } }

/// The rule.
pub struct LambdaBackdoor {
    cfg: RuleConfig<Config>,
    groups: Groups<Facts>,
}

/// An account id or ARN naming another account than `own`.
fn foreign(principal: &str, own: Option<&str>) -> bool {
    let acct: String = principal.chars().filter(char::is_ascii_digit).collect();
    principal != "*" && acct.len() >= 12 && own.is_none_or(|o| !acct.contains(o))
}

impl LambdaBackdoor {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        let ms = crate::window::millis(cfg.common.episode);
        Self { groups: Groups::new(ms), cfg }
    }

    /// What this event does, and how bad it is (before the failed/machine adjustments).
    fn judge(&self, ev: &EventView<'_>, row: usize) -> Option<(Severity, String)> {
        let action = ev.action(row);
        if ev.service(row) != "lambda" {
            return None;
        }
        let deployer = ev.identity_class(row) == IdentityClass::CiCd
            || ev.identity_class(row) == IdentityClass::AwsService
            || ev.user_agent_matches(row, &self.cfg.iac_user_agents);
        let req = ev.request_json(row).unwrap_or(Value::Null);
        let fname = req["functionName"].as_str().unwrap_or("?").rsplit(':').next().unwrap_or("?").to_string();
        if action.starts_with("AddPermission") {
            let p = req["principal"].as_str().unwrap_or("");
            if p == "*" {
                return Some((Severity::High, format!("{fname} invocable by anyone (principal *)")));
            }
            if foreign(p, ev.account(row)) {
                return Some((Severity::Medium, format!("{fname} invocable by another account ({p})")));
            }
            return None;
        }
        if action.starts_with("UpdateFunctionConfiguration") {
            let layers: Vec<&str> =
                req["layers"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            if layers.is_empty() {
                return None;
            }
            if layers.iter().any(|l| foreign(l, ev.account(row))) {
                return Some((Severity::High, format!("{fname} given a layer from another account")));
            }
            return (!deployer).then(|| (Severity::Medium, format!("{fname} given layers {}", layers.join(", "))));
        }
        None
    }

    fn severity(g: &Group<Facts>) -> Severity {
        g.facts.worst.unwrap_or(Severity::Low)
    }

    fn render(&self, key: &str, bucket: EventTime, g: &Group<Facts>, activity: Activity, revision: u32) -> Finding {
        let s = &g.support;
        let arn = s.ident.as_ref().and_then(|i| i.arn.as_deref());
        Draft {
            meta: &META,
            key,
            anchor: bucket,
            support: s,
            severity: Self::severity(g),
            confidence: 80,
            techniques: Vec::new(),
            context: g.facts.what.iter().cloned().collect(),
            summary: format!(
                "{key} ({}) changed Lambda functions in a way that survives key rotation: {}.",
                s.class(),
                g.facts.what.iter().cloned().collect::<Vec<_>>().join("; ")
            ),
            remediation: remediation_for(
                key,
                arn,
                "Remove the permission / layer or roll the function back, and check who invoked it since.",
            ),
        }
        .finding(activity, revision)
    }
}

impl Rule for LambdaBackdoor {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        for &row in rows {
            let Some((mut sev, what)) = self.judge(ev, row) else { continue };
            let failed = ev.error_code(row).is_some();
            if failed {
                sev = match sev {
                    Severity::Critical => Severity::High,
                    Severity::High => Severity::Medium,
                    _ => Severity::Low,
                };
            } else if ev.identity_class(row).is_machine() {
                sev = sev.raised();
            }
            let what = if failed { format!("attempted: {what} ({})", ev.error_code(row).unwrap_or("")) } else { what };
            self.groups.add(
                ev.actor_key(row),
                ev,
                row,
                self.cfg.common.max_evidence,
                |f| {
                    f.worst = Some(f.worst.map_or(sev, |w| w.max(sev)));
                    f.what.insert(what);
                },
                Self::severity,
                |k, b, g, a, r| self.render(k, b, g, a, r),
                ctx,
            );
        }
    }

    super::keyed_state!(groups, groups);

    fn thresholds(&self) -> Vec<(String, String)> {
        super::config_pairs(&self.cfg)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{event, role_session, run, stratus};

    fn rule() -> Box<dyn Rule> {
        Box::new(LambdaBackdoor::new(Config::default()))
    }

    #[test]
    fn the_stratus_lambda_permission_and_layer_techniques_fire_and_a_bare_code_update_does_not() {
        assert!(
            run(rule(), &stratus("aws.persistence.lambda-overwrite-code")).is_empty(),
            "a code update alone is a deploy"
        );
        for (t, sev) in [
            ("aws.persistence.lambda-backdoor-function", Severity::Critical),
            ("aws.persistence.lambda-layer-extension", Severity::High),
        ] {
            let f = run(rule(), &stratus(t));
            assert_eq!(f.len(), 1, "{t}: {f:?}");
            assert_eq!(f[0].severity, sev, "{t} by an IAM user with a long-lived key: {:?}", f[0].context);
        }
    }

    #[test]
    fn deploy_pipelines_updating_code_and_layers_stay_quiet_but_opening_to_everyone_does_not() {
        let ci = role_session("gha-deploy", "GitHubActions", "ASIACI0000000000001");
        let tf = json!({"userAgent": "APN/1.0 HashiCorp/1.0 Terraform/1.9.5"});
        let quiet = vec![
            event(
                0,
                &ci,
                "lambda",
                "UpdateFunctionCode20150331v2",
                json!({"readOnly": false, "requestParameters": {"functionName": "api"}}),
            ),
            event(
                5,
                &ci,
                "lambda",
                "UpdateFunctionConfiguration20150331v2",
                json!({"readOnly": false, "requestParameters": {"functionName": "api", "layers": ["arn:aws:lambda:us-east-1:111122223333:layer:otel:3"]}}),
            ),
            event(9, &ci, "lambda", "UpdateFunctionCode20150331v2", tf),
        ];
        assert!(run(rule(), &quiet).is_empty());
        let open = vec![event(
            20,
            &ci,
            "lambda",
            "AddPermission20150331v2",
            json!({"readOnly": false, "requestParameters": {"functionName": "api", "principal": "*", "action": "lambda:InvokeFunction"}}),
        )];
        assert_eq!(run(rule(), &open).len(), 1);
    }

    #[test]
    fn grouped_findings_do_not_depend_on_arrival_order() {
        let mut lines = stratus("aws.persistence.lambda-backdoor-function");
        lines.extend(stratus("aws.persistence.lambda-layer-extension"));
        let forward = run(rule(), &lines);
        lines.reverse();
        assert_eq!(run(rule(), &lines), forward);
    }
}
