//! Identity context the engine, not each rule, knows about a call: how it was made (console,
//! infrastructure as code, an AWS service, directly), whether it undoes what the same
//! principal built through IaC a little earlier (a lifecycle, not an attack), and whether the
//! principal is a known security scanner.
//!
//! Real accounts are noisy in ways a generator rarely is: people browsing the console issue
//! bursts of reads across regions, Terraform and CloudFormation create trails, users, keys,
//! secrets and flow logs and delete them minutes later, scanners enumerate every service on a
//! schedule. Rules ask this module instead of keeping their own lists, and say in a finding's
//! `context` which of it applied.
//!
//! **The IaC ledger.** The engine shows every batch to [`IdentityContext::observe`] before
//! the rules see it. A successful mutating call made through IaC (`origin = iac`: CloudFormation
//! acting for the caller, or an IaC tool's user agent) that creates or configures a resource
//! records `(principal, resource)` with its time. A later IaC call by the same principal that
//! deletes or weakens that resource within `iac_lifecycle_window` is a lifecycle
//! ([`IdentityContext::lifecycle`]). The quieting covers only the events IaC made, on what the
//! same principal built: a `CreateAccessKey` for an existing user, made outside IaC by a
//! principal that also runs Terraform, is judged as ever; a forged Terraform user agent on a
//! stolen key quiets nothing that principal did not itself create through IaC.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trailhound_model::time::{to_rfc3339, EventTime};
use trailhound_model::Origin;

use crate::view::EventView;

/// `[engine.context]`: what the engine knows about who is acting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConfig {
    /// How long after a principal created a resource through IaC its IaC deletion or change is
    /// a lifecycle (test environments, set-up/teardown, ephemeral stacks). Default 12h.
    #[serde(with = "humantime_serde")]
    pub iac_lifecycle_window: Duration,
    /// Fragments (case-insensitive) of role, user or session names of known security scanners
    /// (CSPM, audit roles). Names are set by the account's owner, not by the caller, so a
    /// forged user agent cannot claim them. Default: common CSPM and audit role names.
    pub scanner_principals: Vec<String>,
}

impl Default for ContextConfig {
    fn default() -> Self {
        Self {
            iac_lifecycle_window: Duration::from_secs(12 * 3600),
            scanner_principals: [
                "securityaudit",
                "security-audit",
                "scanner",
                "cspm",
                "prowler",
                "wiz",
                "orca",
                "lacework",
                "prisma",
                "datadogintegration",
                "cloudsploit",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }
}

/// Request keys that name the resource a call acts on.
const REQUEST_NAME_KEYS: &[&str] = &[
    "name",
    "names",
    "trailName",
    "secretId",
    "detectorId",
    "configurationRecorderName",
    "flowLogIds",
    "flowLogId",
    "FlowLogId",
    "deliveryChannelName",
    "logGroupName",
    "bucketName",
    "functionName",
    "groupName",
    "instanceProfileName",
    "resolverQueryLogConfigId",
    "analyzerName",
];

/// Response keys that name the resource a create made (ids AWS assigns).
const RESPONSE_NAME_KEYS: &[&str] =
    &["detectorId", "flowLogIdSet", "flowLogIds", "flowLogId", "item", "arn", "name", "trailARN", "id"];

/// Verbs of calls that create or configure a resource (recorded in the ledger).
const BUILD_VERBS: &[&str] = &["Create", "Put", "Start", "Enable", "Attach", "Add", "Register", "Update", "Tag"];

/// One IaC-made resource of one principal.
type LedgerKey = (String, String);

/// The engine-owned identity context (see the module doc).
#[derive(Debug, Default)]
pub struct IdentityContext {
    window_ms: i64,
    scanners: crate::text::Fragments,
    ledger: BTreeMap<LedgerKey, EventTime>,
}

/// What [`IdentityContext`] checkpoints.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ContextState {
    ledger: Vec<(String, String, EventTime)>,
}

impl IdentityContext {
    /// Builds the context from its configuration.
    pub fn new(cfg: &ContextConfig) -> Self {
        Self {
            window_ms: crate::window::millis(cfg.iac_lifecycle_window),
            scanners: crate::text::Fragments::new(&cfg.scanner_principals),
            ledger: BTreeMap::new(),
        }
    }

    /// Records what IaC built in `rows` (called by the engine before the rules see them).
    pub fn observe(&mut self, ev: &EventView<'_>, rows: impl Iterator<Item = usize>) {
        for row in rows {
            if ev.origin(row) != Origin::Iac || ev.read_only(row) || ev.error_code(row).is_some() {
                continue;
            }
            let action = ev.action(row);
            if !BUILD_VERBS.iter().any(|v| action.starts_with(v)) {
                continue;
            }
            let t = ev.time(row);
            let principal = ev.principal(row);
            for name in resource_names(ev, row, true) {
                let at = self.ledger.entry((principal.to_string(), name)).or_insert(t);
                *at = (*at).min(t);
            }
        }
    }

    /// Forgets what was built longer ago than the lifecycle window behind `watermark`.
    pub fn expire(&mut self, watermark: EventTime) {
        let horizon = watermark.saturating_sub(self.window_ms);
        self.ledger.retain(|_, t| *t >= horizon);
    }

    /// When event `row` is an IaC call that deletes or changes a resource the same principal
    /// created through IaC within the lifecycle window: the context line that says so.
    pub fn lifecycle(&self, ev: &EventView<'_>, row: usize) -> Option<String> {
        if ev.origin(row) != Origin::Iac || ev.action(row).starts_with("Create") {
            return None;
        }
        self.lifecycle_of(ev.principal(row), &resource_names(ev, row, false), ev.time(row))
    }

    /// [`IdentityContext::lifecycle`] of a call already taken apart: its principal, the
    /// [`resource_names`] it acts on, its time. For rules that judge an IaC call once the
    /// watermark has passed it, when every earlier create has arrived.
    pub fn lifecycle_of(&self, principal: &str, names: &[String], t: EventTime) -> Option<String> {
        for name in names {
            if let Some(&at) = self.ledger.get(&(principal.to_string(), name.clone())) {
                if at <= t && t - at <= self.window_ms {
                    return Some(format!(
                        "IaC lifecycle: {name} was created through IaC by the same principal at {}",
                        to_rfc3339(at)
                    ));
                }
            }
        }
        None
    }

    /// When event `row` is an IaC call (a plan or refresh) touching a resource the same
    /// principal built through IaC within the lifecycle window (its create included): the
    /// resource. Secret reads of an IaC refresh are not a harvest.
    pub fn iac_managed(&self, ev: &EventView<'_>, row: usize) -> Option<String> {
        if ev.origin(row) != Origin::Iac {
            return None;
        }
        let t = ev.time(row);
        let principal = ev.principal(row);
        resource_names(ev, row, false).into_iter().find(|name| {
            self.ledger
                .get(&(principal.to_string(), name.clone()))
                .is_some_and(|&at| at <= t && t - at <= self.window_ms)
        })
    }

    /// The scanner-name fragment the caller's role, user or session name matches, if any.
    pub fn scanner(&self, ev: &EventView<'_>, row: usize) -> Option<&str> {
        if self.scanners.is_empty() {
            return None;
        }
        let names = [ev.session_issuer(row), ev.actor_arn(row)];
        for n in names.into_iter().flatten() {
            // The principal part of an ARN: `role/...`, `user/...`, `assumed-role/...`.
            let tail = n.rsplit_once(':').map_or(n, |(_, t)| t);
            if let Some(f) = self.scanners.first(tail) {
                return Some(f);
            }
        }
        None
    }

    /// Entries held (a metric).
    pub fn len(&self) -> usize {
        self.ledger.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.ledger.is_empty()
    }

    /// Approximate bytes held (principal and resource names of about 48 bytes each).
    pub fn bytes(&self) -> usize {
        use crate::state::cost;
        let n = self.ledger.len();
        cost::btree(n, std::mem::size_of::<(LedgerKey, EventTime)>()) + n * 2 * cost::alloc(48)
    }

    pub(crate) fn state(&self) -> ContextState {
        ContextState { ledger: self.ledger.iter().map(|((p, n), t)| (p.clone(), n.clone(), *t)).collect() }
    }

    pub(crate) fn set_state(&mut self, s: ContextState) {
        self.ledger = s.ledger.into_iter().map(|(p, n, t)| ((p, n), t)).collect();
    }
}

/// The names of the resources event `row` acts on, normalised (ARNs to their resource part,
/// Secrets Manager's random suffix dropped): the target user or role, names in the request,
/// and for a create (`created`) the ids in the response. Prefixed with the service.
pub fn resource_names(ev: &EventView<'_>, row: usize, created: bool) -> Vec<String> {
    let service = ev.service(row);
    let mut out = Vec::new();
    let mut push = |raw: &str| {
        let n = normalise(raw);
        if !n.is_empty() {
            let key = format!("{service}:{n}");
            if !out.contains(&key) {
                out.push(key);
            }
        }
    };
    if let Some(u) = ev.target_user(row) {
        push(&format!("user/{u}"));
    }
    if let Some(r) = ev.target_role(row) {
        push(&format!("role/{r}"));
    }
    if let Some(req) = ev.request_json(row) {
        collect(&req, REQUEST_NAME_KEYS, 0, &mut push);
    }
    if created {
        if let Some(resp) = ev.response_json(row) {
            collect(&resp, RESPONSE_NAME_KEYS, 0, &mut push);
        }
    }
    out
}

/// Calls `push` with every string (or string in an array) under one of `keys`, up to 4 levels.
fn collect(v: &serde_json::Value, keys: &[&str], depth: usize, push: &mut impl FnMut(&str)) {
    if depth > 4 {
        return;
    }
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if keys.contains(&k.as_str()) {
                    match v {
                        serde_json::Value::String(s) => push(s),
                        serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).for_each(&mut *push),
                        // `{"FlowLogId": {"tag": 1, "content": "fl-…"}}`: every string under it.
                        serde_json::Value::Object(o) => o.values().filter_map(|x| x.as_str()).for_each(&mut *push),
                        _ => {}
                    }
                } else {
                    collect(v, keys, depth + 1, push);
                }
            }
        }
        serde_json::Value::Array(a) => {
            for x in a.iter().take(64) {
                collect(x, keys, depth + 1, push);
            }
        }
        _ => {}
    }
}

/// An ARN to its resource part (`arn:aws:cloudtrail:r:a:trail/x` → `x`; a secret's ARN to its
/// name without the 6-character suffix Secrets Manager adds); other names as they are.
fn normalise(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix("arn:") {
        let resource = rest.splitn(5, ':').nth(4).unwrap_or(rest);
        if let Some(secret) = resource.strip_prefix("secret:") {
            return match secret.rsplit_once('-') {
                Some((name, suffix)) if suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                    name.to_string()
                }
                _ => secret.to_string(),
            };
        }
        let resource = resource.strip_prefix("trail/").unwrap_or(resource);
        return resource.to_string();
    }
    raw.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{batches, T0};
    use serde_json::json;

    const TF: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0";

    fn event(t: i64, name: &str, ua: &str, req: serde_json::Value, resp: serde_json::Value) -> String {
        json!({
            "eventVersion": "1.09", "eventTime": trailhound_model::time::to_rfc3339(t),
            "eventSource": if name.contains("Trail") || name.contains("Logging") { "cloudtrail.amazonaws.com" } else { "secretsmanager.amazonaws.com" },
            "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9", "userAgent": ua,
            "eventID": format!("e-{t}-{name}"), "readOnly": false, "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/gha-terraform/GitHubActions",
                "accessKeyId": "ASIAEXAMPLE", "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/gha-terraform", "userName": "gha-terraform"}}},
            "requestParameters": req, "responseElements": resp,
        })
        .to_string()
    }

    #[test]
    fn iac_deleting_what_the_same_principal_built_through_iac_is_a_lifecycle() {
        let lines = vec![
            event(
                T0,
                "CreateTrail",
                TF,
                json!({"name": "tf-test-trail-a1"}),
                json!({"name": "tf-test-trail-a1", "trailARN": "arn:aws:cloudtrail:us-east-1:111122223333:trail/tf-test-trail-a1"}),
            ),
            event(
                T0 + 1000,
                "CreateSecret",
                TF,
                json!({"name": "ephemeral/pr-12/db"}),
                json!({"arn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:ephemeral/pr-12/db-AbC123"}),
            ),
            // Torn down by the same principal through IaC: lifecycle.
            event(
                T0 + 600_000,
                "StopLogging",
                TF,
                json!({"name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/tf-test-trail-a1"}),
                json!(null),
            ),
            event(
                T0 + 601_000,
                "DeleteSecret",
                TF,
                json!({"secretId": "arn:aws:secretsmanager:us-east-1:111122223333:secret:ephemeral/pr-12/db-AbC123"}),
                json!(null),
            ),
            // The organisation trail, never built here: not a lifecycle, even with a Terraform agent.
            event(T0 + 602_000, "StopLogging", TF, json!({"name": "org-trail"}), json!(null)),
            // Same trail, but not through IaC: judged as ever.
            event(
                T0 + 603_000,
                "DeleteTrail",
                "aws-cli/2.15.30 os/macos#23.4.0",
                json!({"name": "tf-test-trail-a1"}),
                json!(null),
            ),
        ];
        let b = &batches(&lines, 100)[0];
        let ev = EventView::new(b).expect("view");
        let mut cx = IdentityContext::new(&ContextConfig::default());
        cx.observe(&ev, 0..ev.len());
        let got: Vec<bool> = (0..ev.len()).map(|r| cx.lifecycle(&ev, r).is_some()).collect();
        assert_eq!(got, [false, false, true, true, false, false]);
        assert!(cx.lifecycle(&ev, 2).is_some_and(|c| c.contains("tf-test-trail-a1")));
        // Past the window, the same teardown is judged as ever.
        cx.expire(T0 + 13 * 3600 * 1000);
        assert!(cx.lifecycle(&ev, 2).is_none());
        assert!(cx.is_empty());
    }

    #[test]
    fn an_iac_refresh_reading_the_secrets_it_built_is_managed_and_nothing_else_is() {
        let read = |t: i64, ua: &str, id: &str| {
            let mut v: serde_json::Value =
                serde_json::from_str(&event(t, "GetSecretValue", ua, json!({"secretId": id}), json!(null)))
                    .expect("json");
            v["readOnly"] = json!(true);
            v.to_string()
        };
        let lines = vec![
            event(
                T0,
                "CreateSecret",
                TF,
                json!({"name": "ephemeral/pr-12/db"}),
                json!({"arn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:ephemeral/pr-12/db-AbC123"}),
            ),
            read(T0 + 60_000, TF, "arn:aws:secretsmanager:us-east-1:111122223333:secret:ephemeral/pr-12/db-AbC123"),
            read(T0 + 61_000, TF, "prod/payments/stripe"),
            read(T0 + 62_000, "aws-cli/2.15.30 os/linux#6.5", "ephemeral/pr-12/db"),
        ];
        let b = &batches(&lines, 100)[0];
        let ev = EventView::new(b).expect("view");
        let mut cx = IdentityContext::new(&ContextConfig::default());
        cx.observe(&ev, 0..ev.len());
        let got: Vec<bool> = (0..ev.len()).map(|r| cx.iac_managed(&ev, r).is_some()).collect();
        assert_eq!(got, [true, true, false, false]);
    }

    #[test]
    fn scanners_are_known_by_role_names_the_caller_cannot_forge() {
        let mut line: serde_json::Value =
            serde_json::from_str(&event(T0, "ListSecrets", "prowler", json!({}), json!(null))).expect("json");
        let plain = line.to_string();
        line["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
            json!("arn:aws:iam::111122223333:role/SecurityAuditScanner");
        line["userIdentity"]["arn"] = json!("arn:aws:sts::111122223333:assumed-role/SecurityAuditScanner/wiz-scan-1");
        let b = &batches(&[plain, line.to_string()], 10)[0];
        let ev = EventView::new(b).expect("view");
        let cx = IdentityContext::new(&ContextConfig::default());
        assert_eq!(cx.scanner(&ev, 0), None, "a scanner's user agent alone says nothing");
        assert_eq!(cx.scanner(&ev, 1), Some("securityaudit"));
    }

    #[test]
    fn arns_are_normalised_to_resource_names() {
        assert_eq!(normalise("arn:aws:cloudtrail:us-east-1:1:trail/t1"), "t1");
        assert_eq!(normalise("arn:aws:secretsmanager:us-east-1:1:secret:prod/db-AbC123"), "prod/db");
        assert_eq!(normalise("prod/db"), "prod/db");
        assert_eq!(normalise("arn:aws:iam::1:user/bob"), "user/bob");
    }
}
