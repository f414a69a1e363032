//! `identity_provider_backdoor`: a new way into the account that no key rotation closes.
//!
//! IAM Roles Anywhere trust anchors (`CreateTrustAnchor`, then `CreateProfile` naming roles)
//! let anyone holding a certificate from the attacker's CA assume those roles; a new OIDC or
//! SAML identity provider (`CreateOpenIDConnectProvider`, `CreateSAMLProvider`,
//! `UpdateSAMLProvider`, `AddClientIDToOpenIDConnectProvider`) does the same for tokens the
//! attacker mints. These are rare, deliberate changes (a platform team adds an IdP a few times
//! a year, through IaC), so any of them by a machine identity outside IaC is high; by a human
//! or an IaC agent, low (recorded for the chain and the analyst, not paged).
//!
//! Events are grouped per actor per `episode` (default 1 h). Failed attempts count, one step
//! lower.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_model::attack::PERSISTENCE;
use trailhound_model::time::EventTime;
use trailhound_model::{Activity, Finding, IdentityClass, Severity};

use super::{CommonDefaults, Rule, RuleConfig, RuleCtx, RuleMeta};
use crate::episode::{remediation_for, Draft, Group, Groups};
use crate::view::EventView;

static META: RuleMeta = RuleMeta {
    id: "identity_provider_backdoor",
    title: "New trust anchor or identity provider",
    severity: Severity::High,
    tactics: &[PERSISTENCE],
    techniques: &["T1484.002", "T1098"],
    summary: "Roles Anywhere trust anchors/profiles and OIDC/SAML providers created outside IaC",
    stateful: false,
};

/// The calls that add a way in: (service, action).
const CALLS: &[(&str, &str)] = &[
    ("rolesanywhere", "CreateTrustAnchor"),
    ("rolesanywhere", "UpdateTrustAnchor"),
    ("rolesanywhere", "CreateProfile"),
    ("iam", "CreateOpenIDConnectProvider"),
    ("iam", "AddClientIDToOpenIDConnectProvider"),
    ("iam", "UpdateOpenIDConnectProviderThumbprint"),
    ("iam", "CreateSAMLProvider"),
    ("iam", "UpdateSAMLProvider"),
];

/// Thresholds of `identity_provider_backdoor` (`[rules.identity_provider_backdoor]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// User-agent fragments (case-insensitive) of IaC tools. Default Terraform, Pulumi, CDK,
    /// CloudFormation.
    pub iac_user_agents: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            iac_user_agents: ["terraform/", "pulumi", "aws-cdk", "cloudformation"].map(String::from).to_vec(),
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
    calls: BTreeSet<String>,
}

crate::state::weigh_fields! { Facts { calls } }

/// The rule.
pub struct IdentityProviderBackdoor {
    cfg: RuleConfig<Config>,
    groups: Groups<Facts>,
}

impl IdentityProviderBackdoor {
    /// Builds the rule from its config.
    pub fn new(cfg: impl Into<RuleConfig<Config>>) -> Self {
        let cfg: RuleConfig<Config> = cfg.into();
        let ms = crate::window::millis(cfg.common.episode);
        Self { groups: Groups::new(ms), cfg }
    }

    fn severity(g: &Group<Facts>) -> Severity {
        g.facts.worst.unwrap_or(Severity::Low)
    }

    fn render(&self, key: &str, bucket: EventTime, g: &Group<Facts>, activity: Activity, revision: u32) -> Finding {
        let s = &g.support;
        let arn = s.ident.as_ref().and_then(|i| i.arn.as_deref());
        let calls: Vec<String> = g.facts.calls.iter().cloned().collect();
        Draft {
            meta: &META,
            key,
            anchor: bucket,
            support: s,
            severity: Self::severity(g),
            confidence: 75,
            techniques: Vec::new(),
            context: calls.clone(),
            summary: format!("{key} ({}) added a way into the account: {}.", s.class(), calls.join(", ")),
            remediation: remediation_for(
                key,
                arn,
                "Delete the trust anchor/profile or identity provider unless the platform team added it.",
            ),
        }
        .finding(activity, revision)
    }
}

impl Rule for IdentityProviderBackdoor {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn on_batch(&self, ev: &EventView<'_>, rows: &[usize], ctx: &mut RuleCtx<'_>) {
        for &row in rows {
            let (service, action) = (ev.service(row), ev.action(row));
            if !CALLS.iter().any(|(s, a)| *s == service && *a == action) {
                continue;
            }
            let class = ev.identity_class(row);
            let iac = ev.user_agent_matches(row, &self.cfg.iac_user_agents);
            let mut sev = if class.is_machine() && !iac { Severity::High } else { Severity::Low };
            if class == IdentityClass::Root {
                sev = Severity::High;
            }
            let failed = ev.error_code(row);
            if failed.is_some() && sev > Severity::Low {
                sev = Severity::Medium;
            }
            let what = match failed {
                Some(code) => format!("attempted {service}:{action} ({code})"),
                None => format!("{service}:{action}"),
            };
            self.groups.add(
                ev.actor_key(row),
                ev,
                row,
                self.cfg.common.max_evidence,
                |f| {
                    f.worst = Some(f.worst.map_or(sev, |w| w.max(sev)));
                    f.calls.insert(what);
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

    #[test]
    fn a_roles_anywhere_trust_anchor_from_stratus_fires_high() {
        let f = run(
            Box::new(IdentityProviderBackdoor::new(Config::default())),
            &stratus("aws.persistence.rolesanywhere-create-trust-anchor"),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].context.iter().any(|c| c == "rolesanywhere:CreateTrustAnchor"), "{:?}", f[0].context);
        assert!(f[0].context.iter().any(|c| c == "rolesanywhere:CreateProfile"));
    }

    #[test]
    fn the_platform_team_adding_an_oidc_provider_with_terraform_is_low() {
        let ci = role_session("platform-terraform", "GitHubActions", "ASIAPLAT00000000001");
        let tf = json!({"readOnly": false, "userAgent": "APN/1.0 HashiCorp/1.0 Terraform/1.9.5", "requestParameters": {"url": "https://token.actions.githubusercontent.com"}});
        let f = run(
            Box::new(IdentityProviderBackdoor::new(Config::default())),
            &[event(0, &ci, "iam", "CreateOpenIDConnectProvider", tf)],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Low);
    }
}
