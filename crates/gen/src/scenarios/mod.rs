//! Injected attack scenarios, one file each, registered in [`ALL`].
//!
//! A scenario is planned when the generator reaches its trigger point: it picks a victim
//! credential that exists in the estate at that moment, emits its events (all at or after the
//! trigger time) and returns the victim, from which the engine writes the [`crate::Label`].
//! To add one (IAM persistence, instance sprawl, defense evasion, ...), add a file with a
//! `pub(crate) const DEF: ScenarioDef` and list it in [`ALL`].

use rand::Rng as _;

use crate::engine::ScenarioOut;
use crate::estate::Estate;
use crate::json::alnum_id;
use crate::Rng;

pub(crate) mod enum_denied;
pub(crate) mod enum_distinct_apis;
pub(crate) mod enum_regions;

/// Who a scenario attacked: becomes the label's `actor_key` and `account`.
#[derive(Debug, Clone)]
pub(crate) struct Victim {
    /// The access key id the attacker used.
    pub actor_key: String,
    /// The account id attacked.
    pub account: String,
}

/// Plans one instance: `(estate, now, instance number, force, out)`. Returns `None` (having
/// emitted nothing) when no suitable victim exists yet; with `force` it must not.
pub(crate) type PlanFn = fn(&Estate, i64, u32, bool, &mut ScenarioOut<'_>) -> Option<Victim>;

/// A registered scenario.
pub(crate) struct ScenarioDef {
    /// Name used in config and labels.
    pub name: &'static str,
    /// The detection rule that should fire.
    pub rule_id: &'static str,
    /// The planner.
    pub plan: PlanFn,
}

/// Every scenario, in a stable order.
pub(crate) const ALL: &[ScenarioDef] = &[enum_distinct_apis::DEF, enum_regions::DEF, enum_denied::DEF];

/// Names of [`ALL`], for the public API.
pub(crate) const NAMES: &[&str] = &[enum_distinct_apis::DEF.name, enum_regions::DEF.name, enum_denied::DEF.name];

/// First octets of attacker infrastructure (VPS and anonymising ranges, disjoint from every
/// range the background uses).
pub(crate) const ATTACKER_OCTETS: [u8; 8] = [5, 45, 89, 91, 103, 185, 193, 194];

/// A random attacker address.
pub(crate) fn attacker_ip(rng: &mut Rng) -> String {
    crate::estate::public_ip(rng, &ATTACKER_OCTETS)
}

/// A recon API: service prefix, event name, whether it is global (logged in us-east-1).
pub(crate) type Recon = (&'static str, &'static str, bool);

/// Read-only reconnaissance calls attackers try with a fresh credential (distinct names).
pub(crate) const RECON: [Recon; 47] = [
    ("iam", "ListUsers", true),
    ("iam", "ListRoles", true),
    ("iam", "ListGroups", true),
    ("iam", "ListPolicies", true),
    ("iam", "GetAccountAuthorizationDetails", true),
    ("iam", "GetAccountSummary", true),
    ("iam", "ListAccessKeys", true),
    ("iam", "ListAttachedUserPolicies", true),
    ("iam", "GetUser", true),
    ("iam", "ListMFADevices", true),
    ("iam", "ListInstanceProfiles", true),
    ("iam", "GetAccountPasswordPolicy", true),
    ("s3", "ListBuckets", true),
    ("s3", "GetBucketPolicy", true),
    ("s3", "GetBucketAcl", true),
    ("ec2", "DescribeInstances", false),
    ("ec2", "DescribeVpcs", false),
    ("ec2", "DescribeSecurityGroups", false),
    ("ec2", "DescribeSnapshots", false),
    ("ec2", "DescribeImages", false),
    ("ec2", "DescribeKeyPairs", false),
    ("ec2", "DescribeSubnets", false),
    ("ec2", "DescribeVolumes", false),
    ("ec2", "DescribeRegions", false),
    ("lambda", "ListFunctions20150331", false),
    ("lambda", "GetAccountSettings20160819", false),
    ("lambda", "ListLayers20181031", false),
    ("rds", "DescribeDBInstances", false),
    ("rds", "DescribeDBClusters", false),
    ("rds", "DescribeDBSnapshots", false),
    ("secretsmanager", "ListSecrets", false),
    ("kms", "ListKeys", false),
    ("kms", "ListAliases", false),
    ("ssm", "DescribeParameters", false),
    ("dynamodb", "ListTables", false),
    ("sns", "ListTopics", false),
    ("sqs", "ListQueues", false),
    ("cloudtrail", "DescribeTrails", false),
    ("cloudtrail", "GetTrailStatus", false),
    ("guardduty", "ListDetectors", false),
    ("organizations", "DescribeOrganization", true),
    ("ecr", "DescribeRepositories", false),
    ("ecs", "ListClusters", false),
    ("elasticloadbalancing", "DescribeLoadBalancers", false),
    ("logs", "DescribeLogGroups", false),
    ("cloudformation", "DescribeStacks", false),
    ("route53", "ListHostedZones", true),
];

/// The IAM action of an event: `lambda:ListFunctions` for `ListFunctions20150331`.
fn action(service: &str, name: &str) -> String {
    let prefix = match service {
        "monitoring" => "cloudwatch",
        "tagging" => "tag",
        s => s,
    };
    let end = name.find(|c: char| c.is_ascii_digit()).unwrap_or(name.len());
    format!("{prefix}:{}", &name[..end])
}

/// The `errorCode` and `errorMessage` CloudTrail records when `arn` may not call `name`.
pub(crate) fn denied(rng: &mut Rng, service: &str, name: &str, arn: &str) -> (&'static str, String) {
    let act = action(service, name);
    match service {
        "ec2" => (
            "Client.UnauthorizedOperation",
            format!(
                "You are not authorized to perform this operation. User: {arn} is not authorized to perform: {act} because no identity-based policy allows the {act} action. Encoded authorization failure message: {}",
                alnum_id(rng, "", 48)
            ),
        ),
        "lambda" | "kms" | "dynamodb" | "ecs" | "ecr" | "logs" | "ssm" | "organizations" | "guardduty" | "secretsmanager" => (
            "AccessDeniedException",
            format!("User: {arn} is not authorized to perform: {act} because no identity-based policy allows the {act} action"),
        ),
        "s3" => ("AccessDenied", "Access Denied".to_string()),
        _ => (
            "AccessDenied",
            format!("User: {arn} is not authorized to perform: {act} on resource: * because no identity-based policy allows the {act} action"),
        ),
    }
}

/// Returns `pool` shuffled (Fisher–Yates with the scenario RNG).
pub(crate) fn shuffled<T: Copy>(rng: &mut Rng, pool: &[T]) -> Vec<T> {
    let mut v = pool.to_vec();
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recon_names_are_distinct_and_actions_strip_versions() {
        let mut names: Vec<&str> = RECON.iter().map(|r| r.1).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RECON.len());
        assert_eq!(action("lambda", "ListFunctions20150331"), "lambda:ListFunctions");
        assert_eq!(action("monitoring", "GetMetricData"), "cloudwatch:GetMetricData");
    }
}
