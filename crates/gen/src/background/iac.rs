//! Infrastructure-as-code lifecycles: Terraform, Pulumi, CDK and CloudFormation creating
//! environments and destroying them minutes to hours later.
//!
//! | actor | who | what |
//! |---|---|---|
//! | Terratest | GitHub Actions (`corp/terraform-aws-modules`, `gha-terratest` role) in dev | a module test per environment (`tf-test-<module>-<suffix>`): apply, an idempotence plan, destroy within 3–25 min, one job session throughout |
//! | PR environments | GitHub Actions (`corp/platform`, `gha-ephemeral-envs`) in staging | `ephemeral-pr-<n>-...` created when a pull request opens, planned/applied on pushes, destroyed 40 min–8 h later, each step a new job session |
//! | sandboxes | people's laptops (SSO admin or power-user session, or an IAM user's `AKIA` key) in dev | `sandbox-<name>-<n>-...`: frequent plans, destroyed 15 min–5 h later |
//! | Pulumi | a person's laptop in dev | like a sandbox, with the Pulumi AWS provider's agent |
//! | CDK | GitHub Actions (`corp/data-pipelines`) in staging and a person's laptop in dev | `aws-cdk` assumes the bootstrap deploy role, drives CloudFormation change sets; CloudFormation (`invokedBy` `cloudformation.amazonaws.com`) acts through the bootstrap `cfn-exec-role` |
//! | CloudFormation | a person's laptop in dev | `aws cloudformation deploy`; CloudFormation acts with the caller's own session (`invokedBy`) |
//!
//! Resources (each a real provider's calls, with the reads after each create): CloudTrail
//! trails (`CreateTrail`, `StartLogging`, `PutEventSelectors`; sometimes logging turned off
//! or selectors changed before `DeleteTrail`), VPC flow logs, IAM users with access keys,
//! login profiles and managed or inline policies, IAM roles, Secrets Manager secrets
//! (`CreateSecret`, `PutSecretValue`; every plan reads them back with `GetSecretValue`),
//! GuardDuty detectors and Config recorders (in a second region of the dev account), security
//! groups. A plan (refresh) reads every managed resource within seconds; a destroy refreshes,
//! then deletes exactly what the environment created, by the principal that created it.

use rand::Rng as _;

use super::cicd::{oidc_session, terraform_ua, UA_GHA_CLI};
use super::console::{Operator, OperatorCred};
use super::workload::emit_service_assume;
use super::{exp, one_resource, sts_credentials_resp, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{session_key, unique_id, user_key, Estate, DEV, STAGING};
use crate::event::{Call, Host};
use crate::identity::{assumed_role, github_provider, Role, SessionOpts};
use crate::json::{alnum_id, hex, iam_date_string, uuid};
use crate::Rng;
use trailhound_model::time::{HOUR, MINUTE, SECOND};

/// The CloudFormation service principal (source address and user agent of its calls).
pub(crate) const CFN: &str = "cloudformation.amazonaws.com";
/// The CDK CLI's user agent on a laptop.
pub(crate) const UA_CDK: &str = "aws-cdk/2.160.0 aws-sdk-js/2.1691.0 nodejs/v20.17.0 darwin/arm64";
/// The CDK CLI's user agent on a CI runner.
pub(crate) const UA_CDK_CI: &str = "aws-cdk/2.160.0 aws-sdk-js/2.1691.0 nodejs/v20.17.0 linux/x64";

/// The IaC tool of an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Terraform,
    Pulumi,
    Cdk,
    CloudFormation,
}

/// How an actor's environments live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Module tests: apply, one plan, destroy within minutes, one session throughout.
    Terratest,
    /// Pull-request environments.
    PrEnv,
    /// A person's sandbox.
    Sandbox,
    /// A CDK or CloudFormation stack.
    Stack,
}

/// Who runs the tool.
enum Who {
    /// A GitHub Actions workflow federating into `role`.
    Ci { role: Role, repo: &'static str },
    /// A person's SSO session (`aws sso login`) on a laptop.
    Sso { role: Role, email: String, ip: String },
    /// A person's IAM user key on a laptop.
    User { ident: String, ip: String },
}

/// A session the tool runs with.
#[derive(Debug, Clone)]
struct Sess {
    ident: String,
    ip: String,
    created: i64,
    /// The same principal as CloudFormation uses it (`invokedBy`), for [`Tool::CloudFormation`].
    cfn_ident: String,
}

/// One managed resource.
#[derive(Debug, Clone)]
enum Res {
    Trail { name: String, arn: String, bucket: String, logging: bool },
    FlowLog { id: String, vpc: String, group: String },
    User { name: String, key: String, login: bool, policy: Option<String>, inline: String },
    Role { name: String, policy: String },
    Secret { name: String, arn: String },
    Detector { id: String },
    Recorder { name: String },
    SecurityGroup { id: String, name: String, vpc: String },
}

/// One environment (a Terraform state, a Pulumi stack, a CloudFormation stack).
struct Env {
    name: String,
    region: &'static str,
    /// Region of the GuardDuty detector and Config recorder (one each per region and account).
    alt_region: &'static str,
    res: Vec<Res>,
    /// Plans (or diffs) left before the destroy.
    steps: u32,
    gap: i64,
    next: i64,
    /// The job session of a Terratest run.
    sess: Option<Sess>,
}

/// A call to make: (service, API, region, requestParameters, responseElements).
type Op = (&'static str, &'static str, &'static str, String, String);

fn op(svc: &'static str, name: &'static str, region: &'static str, req: String, resp: String) -> Op {
    let region = if svc == "iam" { "us-east-1" } else { region };
    (svc, name, region, req, resp)
}

const GLOBAL_TRUST: &str = "{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":{\\\"Service\\\":\\\"ecs-tasks.amazonaws.com\\\"},\\\"Action\\\":\\\"sts:AssumeRole\\\"}]}";

impl Res {
    /// The calls creating the resource, with the provider's reads after each create.
    fn create(&self, acct: &str, env: &Env, t: i64, rng: &mut Rng) -> Vec<Op> {
        let r = env.region;
        let a = env.alt_region;
        match self {
            Res::Trail { name, arn, bucket, .. } => {
                let mut v = vec![
                    op(
                        "s3",
                        "CreateBucket",
                        r,
                        format!("{{\"bucketName\":\"{bucket}\",\"Host\":\"{bucket}.s3.{r}.amazonaws.com\"}}"),
                        String::new(),
                    ),
                    op(
                        "s3",
                        "PutBucketPolicy",
                        r,
                        format!(
                            "{{\"bucketName\":\"{bucket}\",\"Host\":\"{bucket}.s3.{r}.amazonaws.com\",\"policy\":\"\"}}"
                        ),
                        String::new(),
                    ),
                    op(
                        "cloudtrail",
                        "CreateTrail",
                        r,
                        format!(
                            "{{\"name\":\"{name}\",\"s3BucketName\":\"{bucket}\",\"includeGlobalServiceEvents\":true,\"isMultiRegionTrail\":false,\"enableLogFileValidation\":true,\"isOrganizationTrail\":false}}"
                        ),
                        format!(
                            "{{\"name\":\"{name}\",\"s3BucketName\":\"{bucket}\",\"includeGlobalServiceEvents\":true,\"isMultiRegionTrail\":false,\"trailARN\":\"{arn}\",\"logFileValidationEnabled\":true,\"isOrganizationTrail\":false}}"
                        ),
                    ),
                    op("cloudtrail", "StartLogging", r, format!("{{\"name\":\"{arn}\"}}"), String::new()),
                ];
                if rng.random_bool(0.5) {
                    let sel = "[{\"readWriteType\":\"All\",\"includeManagementEvents\":true,\"dataResources\":[],\"excludeManagementEventSources\":[]}]";
                    v.push(op(
                        "cloudtrail",
                        "PutEventSelectors",
                        r,
                        format!("{{\"trailName\":\"{arn}\",\"eventSelectors\":{sel}}}"),
                        format!("{{\"trailARN\":\"{arn}\",\"eventSelectors\":{sel}}}"),
                    ));
                }
                v.extend(self.reads(acct, env));
                v
            }
            Res::FlowLog { id, vpc, group } => {
                let mut v = vec![
                    op("logs", "CreateLogGroup", r, format!("{{\"logGroupName\":\"{group}\"}}"), String::new()),
                    op(
                        "ec2",
                        "CreateFlowLogs",
                        r,
                        format!(
                            "{{\"CreateFlowLogsRequest\":{{\"ResourceId\":{{\"tag\":1,\"content\":\"{vpc}\"}},\"ResourceType\":\"VPC\",\"TrafficType\":\"ALL\",\"LogDestinationType\":\"cloud-watch-logs\",\"LogGroupName\":\"{group}\",\"DeliverLogsPermissionArn\":\"arn:aws:iam::{acct}:role/{}-flowlogs\",\"ClientToken\":\"{}\"}}}}",
                            env.name,
                            uuid(rng)
                        ),
                        format!(
                            "{{\"CreateFlowLogsResponse\":{{\"xmlns\":\"http://ec2.amazonaws.com/doc/2016-11-15/\",\"requestId\":\"{}\",\"flowLogIdSet\":{{\"item\":\"{id}\"}},\"unsuccessful\":\"\"}}}}",
                            uuid(rng)
                        ),
                    ),
                ];
                v.extend(self.reads(acct, env));
                v
            }
            Res::User { name, key, login, policy, inline } => {
                let date = iam_date_string(t);
                let mut v = vec![
                    op(
                        "iam",
                        "CreateUser",
                        r,
                        format!(
                            "{{\"userName\":\"{name}\",\"path\":\"/\",\"tags\":[{{\"key\":\"Environment\",\"value\":\"{}\"}}]}}",
                            env.name
                        ),
                        format!(
                            "{{\"user\":{{\"path\":\"/\",\"userName\":\"{name}\",\"userId\":\"{}\",\"arn\":\"arn:aws:iam::{acct}:user/{name}\",\"createDate\":\"{date}\"}}}}",
                            unique_id(rng, "AIDA")
                        ),
                    ),
                    op("iam", "GetUser", r, format!("{{\"userName\":\"{name}\"}}"), String::new()),
                    op(
                        "iam",
                        "CreateAccessKey",
                        r,
                        format!("{{\"userName\":\"{name}\"}}"),
                        format!(
                            "{{\"accessKey\":{{\"userName\":\"{name}\",\"accessKeyId\":\"{key}\",\"status\":\"Active\",\"createDate\":\"{date}\"}}}}"
                        ),
                    ),
                ];
                if *login {
                    v.push(op("iam", "CreateLoginProfile", r, format!("{{\"userName\":\"{name}\",\"passwordResetRequired\":true}}"),
                        format!("{{\"loginProfile\":{{\"userName\":\"{name}\",\"createDate\":\"{date}\",\"passwordResetRequired\":true}}}}")));
                }
                match policy {
                    Some(p) => v.push(op("iam", "AttachUserPolicy", r, format!("{{\"userName\":\"{name}\",\"policyArn\":\"{p}\"}}"), String::new())),
                    None => v.push(op("iam", "PutUserPolicy", r,
                        format!("{{\"userName\":\"{name}\",\"policyName\":\"{inline}\",\"policyDocument\":\"{{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{{\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\":[\\\"s3:GetObject\\\",\\\"s3:ListBucket\\\"],\\\"Resource\\\":\\\"arn:aws:s3:::{}-artifacts*\\\"}}]}}\"}}", env.name),
                        String::new())),
                }
                v.extend(self.reads(acct, env));
                v
            }
            Res::Role { name, policy } => {
                let mut v = vec![
                    op(
                        "iam",
                        "CreateRole",
                        r,
                        format!(
                            "{{\"roleName\":\"{name}\",\"assumeRolePolicyDocument\":\"{GLOBAL_TRUST}\",\"description\":\"Managed by IaC ({})\"}}",
                            env.name
                        ),
                        format!(
                            "{{\"role\":{{\"path\":\"/\",\"roleName\":\"{name}\",\"roleId\":\"{}\",\"arn\":\"arn:aws:iam::{acct}:role/{name}\",\"createDate\":\"{}\"}}}}",
                            unique_id(rng, "AROA"),
                            iam_date_string(t)
                        ),
                    ),
                    op(
                        "iam",
                        "AttachRolePolicy",
                        r,
                        format!("{{\"roleName\":\"{name}\",\"policyArn\":\"{policy}\"}}"),
                        String::new(),
                    ),
                ];
                v.extend(self.reads(acct, env));
                v
            }
            Res::Secret { name, arn } => {
                let mut v = vec![
                    op(
                        "secretsmanager",
                        "CreateSecret",
                        r,
                        format!(
                            "{{\"name\":\"{name}\",\"description\":\"{} database credentials\",\"clientRequestToken\":\"{}\"}}",
                            env.name,
                            uuid(rng)
                        ),
                        format!("{{\"arn\":\"{arn}\",\"name\":\"{name}\"}}"),
                    ),
                    op(
                        "secretsmanager",
                        "PutSecretValue",
                        r,
                        format!("{{\"secretId\":\"{arn}\",\"clientRequestToken\":\"{}\"}}", uuid(rng)),
                        format!(
                            "{{\"arn\":\"{arn}\",\"name\":\"{name}\",\"versionId\":\"{}\",\"versionStages\":[\"AWSCURRENT\"]}}",
                            uuid(rng)
                        ),
                    ),
                ];
                v.extend(self.reads(acct, env));
                v
            }
            Res::Detector { id } => {
                let mut v = vec![op(
                    "guardduty",
                    "CreateDetector",
                    a,
                    format!(
                        "{{\"enable\":true,\"findingPublishingFrequency\":\"SIX_HOURS\",\"clientToken\":\"{}\",\"tags\":{{\"Environment\":\"{}\"}}}}",
                        uuid(rng),
                        env.name
                    ),
                    format!("{{\"detectorId\":\"{id}\"}}"),
                )];
                v.extend(self.reads(acct, env));
                v
            }
            Res::Recorder { name } => {
                let mut v = vec![
                    op(
                        "config",
                        "PutConfigurationRecorder",
                        a,
                        format!(
                            "{{\"configurationRecorder\":{{\"name\":\"{name}\",\"roleARN\":\"arn:aws:iam::{acct}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig\",\"recordingGroup\":{{\"allSupported\":true,\"includeGlobalResourceTypes\":false}}}}}}"
                        ),
                        String::new(),
                    ),
                    op(
                        "config",
                        "PutDeliveryChannel",
                        a,
                        format!(
                            "{{\"deliveryChannel\":{{\"name\":\"{name}\",\"s3BucketName\":\"{name}-config-{acct}\"}}}}"
                        ),
                        String::new(),
                    ),
                    op(
                        "config",
                        "StartConfigurationRecorder",
                        a,
                        format!("{{\"configurationRecorderName\":\"{name}\"}}"),
                        String::new(),
                    ),
                ];
                v.extend(self.reads(acct, env));
                v
            }
            Res::SecurityGroup { id, name, vpc } => {
                let mut v = vec![
                    op(
                        "ec2",
                        "CreateSecurityGroup",
                        r,
                        format!(
                            "{{\"groupName\":\"{name}\",\"groupDescription\":\"Managed by IaC\",\"vpcId\":\"{vpc}\"}}"
                        ),
                        format!("{{\"requestId\":\"{}\",\"_return\":true,\"groupId\":\"{id}\"}}", uuid(rng)),
                    ),
                    op(
                        "ec2",
                        "AuthorizeSecurityGroupIngress",
                        r,
                        format!(
                            "{{\"groupId\":\"{id}\",\"ipPermissions\":{{\"items\":[{{\"ipProtocol\":\"tcp\",\"fromPort\":443,\"toPort\":443,\"ipRanges\":{{\"items\":[{{\"cidrIp\":\"10.0.0.0/8\"}}]}}}}]}}}}"
                        ),
                        "{\"_return\":true}".to_string(),
                    ),
                ];
                v.extend(self.reads(acct, env));
                v
            }
        }
    }

    /// The reads a refresh makes of the resource.
    fn reads(&self, _acct: &str, env: &Env) -> Vec<Op> {
        let r = env.region;
        let a = env.alt_region;
        match self {
            Res::Trail { arn, bucket, .. } => {
                let b = format!("{{\"bucketName\":\"{bucket}\",\"Host\":\"{bucket}.s3.{r}.amazonaws.com\"}}");
                vec![
                    op(
                        "cloudtrail",
                        "DescribeTrails",
                        r,
                        format!("{{\"trailNameList\":[\"{arn}\"],\"includeShadowTrails\":false}}"),
                        String::new(),
                    ),
                    op("cloudtrail", "GetTrailStatus", r, format!("{{\"name\":\"{arn}\"}}"), String::new()),
                    op("cloudtrail", "GetEventSelectors", r, format!("{{\"trailName\":\"{arn}\"}}"), String::new()),
                    op("cloudtrail", "ListTags", r, format!("{{\"resourceIdList\":[\"{arn}\"]}}"), String::new()),
                    op("cloudtrail", "GetInsightSelectors", r, format!("{{\"trailName\":\"{arn}\"}}"), String::new()),
                    op("s3", "GetBucketPolicy", r, b.clone(), String::new()),
                    op("s3", "GetBucketAcl", r, b.clone(), String::new()),
                    op("s3", "GetBucketVersioning", r, b, String::new()),
                ]
            }
            Res::FlowLog { id, group, .. } => vec![
                op(
                    "ec2",
                    "DescribeFlowLogs",
                    r,
                    format!("{{\"DescribeFlowLogsRequest\":{{\"FlowLogId\":{{\"tag\":1,\"content\":\"{id}\"}}}}}}"),
                    String::new(),
                ),
                op("logs", "DescribeLogGroups", r, format!("{{\"logGroupNamePrefix\":\"{group}\"}}"), String::new()),
                op("logs", "ListTagsLogGroup", r, format!("{{\"logGroupName\":\"{group}\"}}"), String::new()),
            ],
            Res::User { name, login, policy, inline, .. } => {
                let mut v = vec![
                    op("iam", "GetUser", r, format!("{{\"userName\":\"{name}\"}}"), String::new()),
                    op("iam", "ListAccessKeys", r, format!("{{\"userName\":\"{name}\"}}"), String::new()),
                ];
                if *login {
                    v.push(op("iam", "GetLoginProfile", r, format!("{{\"userName\":\"{name}\"}}"), String::new()));
                }
                v.push(match policy {
                    Some(_) => {
                        op("iam", "ListAttachedUserPolicies", r, format!("{{\"userName\":\"{name}\"}}"), String::new())
                    }
                    None => op(
                        "iam",
                        "GetUserPolicy",
                        r,
                        format!("{{\"userName\":\"{name}\",\"policyName\":\"{inline}\"}}"),
                        String::new(),
                    ),
                });
                v
            }
            Res::Role { name, .. } => vec![
                op("iam", "GetRole", r, format!("{{\"roleName\":\"{name}\"}}"), String::new()),
                op("iam", "ListRolePolicies", r, format!("{{\"roleName\":\"{name}\"}}"), String::new()),
                op("iam", "ListAttachedRolePolicies", r, format!("{{\"roleName\":\"{name}\"}}"), String::new()),
            ],
            Res::Secret { arn, .. } => vec![
                op("secretsmanager", "DescribeSecret", r, format!("{{\"secretId\":\"{arn}\"}}"), String::new()),
                op("secretsmanager", "GetResourcePolicy", r, format!("{{\"secretId\":\"{arn}\"}}"), String::new()),
                op(
                    "secretsmanager",
                    "GetSecretValue",
                    r,
                    format!("{{\"secretId\":\"{arn}\",\"versionStage\":\"AWSCURRENT\"}}"),
                    String::new(),
                ),
            ],
            Res::Detector { id } => {
                vec![op("guardduty", "GetDetector", a, format!("{{\"detectorId\":\"{id}\"}}"), String::new())]
            }
            Res::Recorder { name } => vec![
                op(
                    "config",
                    "DescribeConfigurationRecorders",
                    a,
                    format!("{{\"configurationRecorderNames\":[\"{name}\"]}}"),
                    String::new(),
                ),
                op(
                    "config",
                    "DescribeConfigurationRecorderStatus",
                    a,
                    format!("{{\"configurationRecorderNames\":[\"{name}\"]}}"),
                    String::new(),
                ),
                op(
                    "config",
                    "DescribeDeliveryChannels",
                    a,
                    format!("{{\"deliveryChannelNames\":[\"{name}\"]}}"),
                    String::new(),
                ),
            ],
            Res::SecurityGroup { id, .. } => vec![
                op(
                    "ec2",
                    "DescribeSecurityGroups",
                    r,
                    format!("{{\"securityGroupIdSet\":{{\"items\":[{{\"groupId\":\"{id}\"}}]}}}}"),
                    String::new(),
                ),
                op(
                    "ec2",
                    "DescribeSecurityGroupRules",
                    r,
                    format!(
                        "{{\"DescribeSecurityGroupRulesRequest\":{{\"Filter\":{{\"Name\":\"group-id\",\"Value\":{{\"content\":\"{id}\",\"tag\":1}},\"tag\":1}}}}}}"
                    ),
                    String::new(),
                ),
            ],
        }
    }

    /// A change an apply makes to the resource now and then (trail logging off, narrower
    /// event selectors), if any.
    fn update(&mut self, env_region: &'static str, rng: &mut Rng) -> Option<Op> {
        match self {
            Res::Trail { arn, logging, .. } if *logging => {
                if rng.random_bool(0.4) {
                    *logging = false;
                    Some(op("cloudtrail", "StopLogging", env_region, format!("{{\"name\":\"{arn}\"}}"), String::new()))
                } else {
                    let sel = "[{\"readWriteType\":\"WriteOnly\",\"includeManagementEvents\":true,\"dataResources\":[],\"excludeManagementEventSources\":[]}]";
                    Some(op(
                        "cloudtrail",
                        "PutEventSelectors",
                        env_region,
                        format!("{{\"trailName\":\"{arn}\",\"eventSelectors\":{sel}}}"),
                        format!("{{\"trailARN\":\"{arn}\",\"eventSelectors\":{sel}}}"),
                    ))
                }
            }
            _ => None,
        }
    }

    /// The calls deleting the resource.
    fn destroy(&self, env: &Env, rng: &mut Rng) -> Vec<Op> {
        let r = env.region;
        let a = env.alt_region;
        match self {
            Res::Trail { arn, bucket, logging, .. } => {
                let mut v = Vec::new();
                if *logging && rng.random_bool(0.3) {
                    v.push(op("cloudtrail", "StopLogging", r, format!("{{\"name\":\"{arn}\"}}"), String::new()));
                }
                v.push(op("cloudtrail", "DeleteTrail", r, format!("{{\"name\":\"{arn}\"}}"), String::new()));
                let b = format!("{{\"bucketName\":\"{bucket}\",\"Host\":\"{bucket}.s3.{r}.amazonaws.com\"}}");
                v.push(op("s3", "DeleteBucketPolicy", r, b.clone(), String::new()));
                v.push(op("s3", "DeleteBucket", r, b, String::new()));
                v
            }
            Res::FlowLog { id, group, .. } => vec![
                op(
                    "ec2",
                    "DeleteFlowLogs",
                    r,
                    format!("{{\"DeleteFlowLogsRequest\":{{\"FlowLogId\":{{\"tag\":1,\"content\":\"{id}\"}}}}}}"),
                    format!(
                        "{{\"DeleteFlowLogsResponse\":{{\"xmlns\":\"http://ec2.amazonaws.com/doc/2016-11-15/\",\"requestId\":\"{}\",\"unsuccessful\":\"\"}}}}",
                        uuid(rng)
                    ),
                ),
                op("logs", "DeleteLogGroup", r, format!("{{\"logGroupName\":\"{group}\"}}"), String::new()),
            ],
            Res::User { name, key, login, policy, inline } => {
                let mut v = vec![
                    op("iam", "ListGroupsForUser", r, format!("{{\"userName\":\"{name}\"}}"), String::new()),
                    op(
                        "iam",
                        "DeleteAccessKey",
                        r,
                        format!("{{\"userName\":\"{name}\",\"accessKeyId\":\"{key}\"}}"),
                        String::new(),
                    ),
                ];
                if *login {
                    v.push(op("iam", "DeleteLoginProfile", r, format!("{{\"userName\":\"{name}\"}}"), String::new()));
                }
                v.push(match policy {
                    Some(p) => op(
                        "iam",
                        "DetachUserPolicy",
                        r,
                        format!("{{\"userName\":\"{name}\",\"policyArn\":\"{p}\"}}"),
                        String::new(),
                    ),
                    None => op(
                        "iam",
                        "DeleteUserPolicy",
                        r,
                        format!("{{\"userName\":\"{name}\",\"policyName\":\"{inline}\"}}"),
                        String::new(),
                    ),
                });
                v.push(op("iam", "DeleteUser", r, format!("{{\"userName\":\"{name}\"}}"), String::new()));
                v
            }
            Res::Role { name, policy } => vec![
                op("iam", "ListInstanceProfilesForRole", r, format!("{{\"roleName\":\"{name}\"}}"), String::new()),
                op(
                    "iam",
                    "DetachRolePolicy",
                    r,
                    format!("{{\"roleName\":\"{name}\",\"policyArn\":\"{policy}\"}}"),
                    String::new(),
                ),
                op("iam", "DeleteRole", r, format!("{{\"roleName\":\"{name}\"}}"), String::new()),
            ],
            Res::Secret { name, arn } => vec![op(
                "secretsmanager",
                "DeleteSecret",
                r,
                format!("{{\"secretId\":\"{arn}\",\"forceDeleteWithoutRecovery\":true}}"),
                format!("{{\"arn\":\"{arn}\",\"name\":\"{name}\",\"deletionDate\":\"Nov 2, 2026, 6:07:00 AM\"}}"),
            )],
            Res::Detector { id } => {
                vec![op("guardduty", "DeleteDetector", a, format!("{{\"detectorId\":\"{id}\"}}"), String::new())]
            }
            Res::Recorder { name } => vec![
                op(
                    "config",
                    "StopConfigurationRecorder",
                    a,
                    format!("{{\"configurationRecorderName\":\"{name}\"}}"),
                    String::new(),
                ),
                op(
                    "config",
                    "DeleteDeliveryChannel",
                    a,
                    format!("{{\"deliveryChannelName\":\"{name}\"}}"),
                    String::new(),
                ),
                op(
                    "config",
                    "DeleteConfigurationRecorder",
                    a,
                    format!("{{\"configurationRecorderName\":\"{name}\"}}"),
                    String::new(),
                ),
            ],
            Res::SecurityGroup { id, .. } => vec![op(
                "ec2",
                "DeleteSecurityGroup",
                r,
                format!("{{\"groupId\":\"{id}\"}}"),
                "{\"_return\":true}".to_string(),
            )],
        }
    }
}

/// Which kinds of resource an environment may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Trail,
    FlowLog,
    User,
    Role,
    Secret,
    Detector,
    Recorder,
    SecurityGroup,
}

fn new_res(kind: Kind, env: &str, acct: &str, region: &str, vpc: &str, n: usize, rng: &mut Rng) -> Res {
    let sfx = if n == 0 { String::new() } else { format!("-{n}") };
    match kind {
        Kind::Trail => {
            let name = if env.starts_with("tf-test") {
                format!("tf-test-trail-{}", &env[env.len() - 6..])
            } else {
                format!("{env}-trail{sfx}")
            };
            Res::Trail {
                arn: format!("arn:aws:cloudtrail:{region}:{acct}:trail/{name}"),
                bucket: format!("{name}-logs-{acct}"),
                name,
                logging: true,
            }
        }
        Kind::FlowLog => Res::FlowLog {
            id: format!("fl-{}", hex(rng, 17)),
            vpc: vpc.to_string(),
            group: format!("/aws/vpc/{env}-flowlogs{sfx}"),
        },
        Kind::User => {
            let policy = match rng.random_range(0..100u32) {
                0..45 => Some("arn:aws:iam::aws:policy/ReadOnlyAccess".to_string()),
                45..60 => Some("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess".to_string()),
                60..65 => Some("arn:aws:iam::aws:policy/AdministratorAccess".to_string()),
                65..75 => Some(format!("arn:aws:iam::{acct}:policy/{env}-deployer")),
                _ => None,
            };
            Res::User {
                name: format!("{env}-user{sfx}"),
                key: user_key(rng),
                login: rng.random_bool(0.35),
                policy,
                inline: format!("{env}-inline"),
            }
        }
        Kind::Role => Res::Role {
            name: format!("{env}-task{sfx}"),
            policy: [
                "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
                "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
            ][rng.random_range(0..3)]
            .to_string(),
        },
        Kind::Secret => {
            let name = format!("{env}/db{sfx}");
            Res::Secret {
                arn: format!("arn:aws:secretsmanager:{region}:{acct}:secret:{name}-{}", alnum_id(rng, "", 6)),
                name,
            }
        }
        Kind::Detector => Res::Detector { id: hex(rng, 32) },
        Kind::Recorder => Res::Recorder { name: format!("{env}-recorder") },
        Kind::SecurityGroup => Res::SecurityGroup {
            id: format!("sg-{}", hex(rng, 17)),
            name: format!("{env}-sg{sfx}"),
            vpc: vpc.to_string(),
        },
    }
}

/// One IaC actor: a tool, run by someone, managing environments in one account.
pub(crate) struct Actor {
    who: Who,
    tool: Tool,
    style: Style,
    account: usize,
    region: &'static str,
    alt_region: &'static str,
    vpc: String,
    kinds: &'static [(u32, Kind)],
    envs: Vec<Env>,
    next_new: i64,
    new_mean: f64,
    life: (i64, i64),
    steps: (u32, u32),
    uas: Vec<(&'static str, String)>,
    sess: Option<Sess>,
    /// CDK bootstrap roles (deploy, cfn-exec).
    cdk: Option<(Role, Role)>,
    counter: u32,
    name: String,
    s: Scratch,
}

const TF_SERVICES: [(&str, &str); 12] = [
    ("iam", "1.35.3"),
    ("sts", "1.30.7"),
    ("ec2", "1.177.3"),
    ("s3", "1.61.2"),
    ("cloudtrail", "1.42.7"),
    ("secretsmanager", "1.32.8"),
    ("guardduty", "1.45.3"),
    ("config", "1.48.3"),
    ("logs", "1.37.3"),
    ("cloudformation", "1.53.5"),
    ("kms", "1.35.7"),
    ("organizations", "1.32.1"),
];

fn tf_laptop_ua(service: &str, version: &str) -> String {
    format!(
        "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.5 ua/2.1 os/macos lang/go#1.22.7 md/GOOS#darwin md/GOARCH#arm64 api/{service}#{version}"
    )
}

fn pulumi_ua(service: &str, version: &str) -> String {
    format!(
        "APN/1.0 HashiCorp/1.0 Terraform (+https://www.terraform.io) terraform-provider-aws/dev (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.4 ua/2.1 os/macos lang/go#1.22.6 md/GOOS#darwin md/GOARCH#arm64 api/{service}#{version} pulumi/3.134.1 pulumi-aws/6.54.0"
    )
}

impl Actor {
    fn ua(&self, svc: &str) -> &str {
        self.uas.iter().find(|(s, _)| *s == svc).map_or(UA_GHA_CLI, |(_, u)| u.as_str())
    }

    fn acct(&self, cx: &Cx<'_>) -> String {
        cx.est.id(self.account).to_string()
    }

    /// The session for a run starting at `now`: a new GitHub job (logged federation) for CI,
    /// the person's `aws sso login` session (renewed after 8 h), or the IAM user's key.
    fn session(&mut self, now: i64, cx: &mut Cx<'_>) -> Sess {
        let cfn = self.tool == Tool::CloudFormation;
        match &self.who {
            Who::Ci { role, repo } => {
                let env = cx.est.accounts[self.account].name;
                let (key, ident, ip, created) =
                    oidc_session(cx, &mut self.s, now, self.account, role, repo, env, self.region);
                let cfn_ident = if cfn {
                    let provider = github_provider(&role.account);
                    assumed_role(
                        role,
                        "GitHubActions",
                        &key,
                        created,
                        SessionOpts { web_provider: Some(&provider), invoked_by: Some(CFN), ..Default::default() },
                    )
                } else {
                    String::new()
                };
                Sess { ident, ip, created, cfn_ident }
            }
            Who::Sso { role, email, ip } => {
                if let Some(s) = self.sess.as_ref().filter(|s| now - s.created < 8 * HOUR) {
                    return s.clone();
                }
                let key = session_key(cx.rng);
                let created = now - uni(cx.rng, 0, 10 * MINUTE);
                let ident = assumed_role(role, email, &key, created, SessionOpts::default());
                let cfn_ident = if cfn {
                    assumed_role(
                        role,
                        email,
                        &key,
                        created,
                        SessionOpts { invoked_by: Some(CFN), ..Default::default() },
                    )
                } else {
                    String::new()
                };
                let s = Sess { ident, ip: ip.clone(), created, cfn_ident };
                self.sess = Some(s.clone());
                s
            }
            Who::User { ident, ip } => {
                Sess { ident: ident.clone(), ip: ip.clone(), created: now, cfn_ident: String::new() }
            }
        }
    }

    /// Emits the tool's own calls `ops` with the session, from `t`, `gap` ms apart on
    /// average (parallel refreshes: short gaps). Returns the time after the last one.
    fn direct(&self, cx: &mut Cx<'_>, sess: &Sess, ops: &[Op], mut t: i64, gap: (i64, i64)) -> i64 {
        let acct = self.acct(cx);
        for (svc, name, region, req, resp) in ops {
            let c = Call::new(t, &sess.ident, svc, name, region, &sess.ip, self.ua(svc), &acct).req(req).resp(resp);
            cx.em.bg(&c, cx.rng);
            t += uni(cx.rng, gap.0, gap.1);
        }
        t
    }

    /// Emits `ops` as CloudFormation makes them with `ident` (`invokedBy` CloudFormation).
    fn via_cfn(&self, cx: &mut Cx<'_>, ident: &str, ops: &[Op], mut t: i64) -> i64 {
        let acct = self.acct(cx);
        for (svc, name, region, req, resp) in ops {
            let c = Call::new(t, ident, svc, name, region, CFN, CFN, &acct).req(req).resp(resp).host(Host::None);
            cx.em.bg(&c, cx.rng);
            t += uni(cx.rng, 200, 4 * SECOND);
        }
        t
    }

    /// The start of a Terraform or Pulumi run: caller identity and data sources.
    fn preamble(&self, cx: &mut Cx<'_>, sess: &Sess, env: &Env, t: i64) -> i64 {
        let r = env.region;
        let ops = vec![
            op("sts", "GetCallerIdentity", r, String::new(), String::new()),
            op(
                "ec2",
                "DescribeVpcs",
                r,
                format!("{{\"vpcSet\":{{\"items\":[{{\"vpcId\":\"{}\"}}]}},\"filterSet\":{{}}}}", self.vpc),
                String::new(),
            ),
            op(
                "ec2",
                "DescribeAvailabilityZones",
                r,
                "{\"availabilityZoneSet\":{},\"availabilityZoneIdSet\":{}}".to_string(),
                String::new(),
            ),
        ];
        self.direct(cx, sess, &ops, t, (100, 600))
    }

    fn new_env(&mut self, now: i64, cx: &mut Cx<'_>) {
        let acct = self.acct(cx);
        self.counter += 1;
        let env_name = match self.style {
            Style::Terratest => {
                let module =
                    ["trail", "iam-user", "secret", "flowlogs", "guardduty", "config", "sg"][cx.rng.random_range(0..7)];
                format!("tf-test-{module}-{}", alnum_id(cx.rng, "", 6).to_lowercase())
            }
            Style::PrEnv => format!("ephemeral-pr-{}", 1200 + self.counter * 3 + cx.rng.random_range(0..3)),
            Style::Sandbox => format!("sandbox-{}-{}", self.name, self.counter),
            Style::Stack => format!("{}-{}", self.name, hex(cx.rng, 6)),
        };
        // The resources: Terratest tests one module, the others hold a mix.
        let mut kinds: Vec<Kind> = Vec::new();
        if self.style == Style::Terratest {
            let k = match &env_name[8..env_name.len() - 7] {
                "trail" => Kind::Trail,
                "iam-user" => Kind::User,
                "secret" => Kind::Secret,
                "flowlogs" => Kind::FlowLog,
                "guardduty" => Kind::Detector,
                "config" => Kind::Recorder,
                _ => Kind::SecurityGroup,
            };
            kinds.push(k);
            if cx.rng.random_bool(0.3) {
                kinds.push(Kind::Role);
            }
        } else {
            for _ in 0..cx.rng.random_range(2..=4) {
                let k = *super::pick(cx.rng, self.kinds);
                if matches!(k, Kind::Detector | Kind::Recorder | Kind::Trail) && kinds.contains(&k) {
                    continue;
                }
                kinds.push(k);
            }
        }
        let mut res = Vec::new();
        for (i, k) in kinds.iter().enumerate() {
            let n = kinds[..i].iter().filter(|x| *x == k).count();
            res.push(new_res(*k, &env_name, &acct, self.region, &self.vpc, n, cx.rng));
        }
        let life = uni(cx.rng, self.life.0, self.life.1);
        let steps = cx.rng.random_range(self.steps.0..=self.steps.1);
        let gap = life / i64::from(steps + 1);
        let mut env = Env {
            name: env_name,
            region: self.region,
            alt_region: self.alt_region,
            res,
            steps,
            gap,
            next: 0,
            sess: None,
        };
        let end = match self.tool {
            Tool::Terraform | Tool::Pulumi => {
                let sess = self.session(now, cx);
                let t0 = sess.created.max(now) + uni(cx.rng, 2 * SECOND, 20 * SECOND);
                let mut t = self.preamble(cx, &sess, &env, t0);
                t += uni(cx.rng, 3 * SECOND, 40 * SECOND); // plan shown, apply confirmed
                for r in &env.res {
                    let ops = r.create(&acct, &env, t, cx.rng);
                    t = self.direct(cx, &sess, &ops, t, (150, 1_500));
                }
                if self.style == Style::Terratest {
                    env.sess = Some(sess);
                }
                t
            }
            Tool::Cdk | Tool::CloudFormation => self.stack_op(now, cx, &mut env, StackOp::Create),
        };
        env.next = end + gap.max(MINUTE) / 2 + uni(cx.rng, 0, gap.max(MINUTE) / 2);
        self.envs.push(env);
    }

    /// A plan (refresh of every resource, now and then an update) or, when no steps are left,
    /// the destroy. Returns whether the environment is gone.
    fn step(&mut self, i: usize, now: i64, cx: &mut Cx<'_>) -> bool {
        let acct = self.acct(cx);
        let mut env = self.envs.swap_remove(i);
        let destroy = env.steps == 0;
        let end = match self.tool {
            Tool::Terraform | Tool::Pulumi => {
                let sess = match &env.sess {
                    Some(s) => s.clone(),
                    None => self.session(now, cx),
                };
                let t0 = sess.created.max(now) + uni(cx.rng, 2 * SECOND, 20 * SECOND);
                let mut t = self.preamble(cx, &sess, &env, t0);
                // Refresh: every managed resource read within seconds (parallelism 10).
                let mut reads = Vec::new();
                for r in &env.res {
                    reads.extend(r.reads(&acct, &env));
                }
                t = self.direct(cx, &sess, &reads, t, (20, 300));
                if destroy {
                    t += uni(cx.rng, 3 * SECOND, 30 * SECOND);
                    let mut ops = Vec::new();
                    for r in env.res.iter().rev() {
                        ops.extend(r.destroy(&env, cx.rng));
                    }
                    t = self.direct(cx, &sess, &ops, t, (150, 1_500));
                } else if cx.rng.random_bool(0.35) {
                    // An apply with a change.
                    let region = env.region;
                    let ups: Vec<Op> = env.res.iter_mut().filter_map(|r| r.update(region, cx.rng)).collect();
                    if !ups.is_empty() {
                        t += uni(cx.rng, 3 * SECOND, 30 * SECOND);
                        t = self.direct(cx, &sess, &ups, t, (200, 1_500));
                    }
                }
                t
            }
            Tool::Cdk | Tool::CloudFormation => {
                self.stack_op(now, cx, &mut env, if destroy { StackOp::Delete } else { StackOp::Diff })
            }
        };
        if destroy {
            return true;
        }
        env.steps -= 1;
        env.next = end + env.gap / 2 + uni(cx.rng, 0, env.gap.max(2) / 2 + MINUTE);
        self.envs.push(env);
        false
    }

    /// A CDK or CloudFormation deploy, diff or destroy of `env`'s stack.
    fn stack_op(&mut self, now: i64, cx: &mut Cx<'_>, env: &mut Env, what: StackOp) -> i64 {
        let acct = self.acct(cx);
        let caller = self.session(now, cx);
        let region = env.region;
        let stack = env.name.clone();
        let mut t = caller.created.max(now) + uni(cx.rng, 2 * SECOND, 15 * SECOND);
        let cdk_ua = if matches!(self.who, Who::Ci { .. }) { UA_CDK_CI } else { UA_CDK };
        // CDK: the CLI assumes the bootstrap deploy role; CloudFormation the cfn-exec role.
        let (tool_sess, exec_ident) = match (&self.cdk, self.tool) {
            (Some((deploy, exec)), Tool::Cdk) => {
                let name = format!("aws-cdk-{}", self.name);
                let key = session_key(cx.rng);
                let role_arn = deploy.arn();
                let req =
                    format!("{{\"roleArn\":\"{role_arn}\",\"roleSessionName\":\"{name}\",\"durationSeconds\":3600}}");
                sts_credentials_resp(
                    &mut self.s.resp,
                    &key,
                    t + HOUR,
                    &deploy.session_arn(&name),
                    &format!("{}:{name}", deploy.pid),
                );
                one_resource(&mut self.s.res, &acct, "AWS::IAM::Role", &role_arn);
                cx.em.bg(
                    &Call::new(t, &caller.ident, "sts", "AssumeRole", region, &caller.ip, cdk_ua, &acct)
                        .req(&req)
                        .resp(&self.s.resp)
                        .resources(&self.s.res),
                    cx.rng,
                );
                let ident = assumed_role(deploy, &name, &key, t + 300, SessionOpts::default());
                let exec_session = format!(
                    "{}{:010}",
                    cx.rng.random_range(1_000_000_000u64..10_000_000_000),
                    cx.rng.random_range(0..10_000_000_000u64)
                );
                let exec_key = session_key(cx.rng);
                (
                    Sess { ident, ip: caller.ip.clone(), created: t, cfn_ident: String::new() },
                    (exec.clone(), exec_session, exec_key),
                )
            }
            _ => (
                caller.clone(),
                (
                    Role { account: String::new(), name: String::new(), path: String::new(), pid: String::new() },
                    String::new(),
                    String::new(),
                ),
            ),
        };
        t += uni(cx.rng, 500, 3 * SECOND);
        let ua = if self.tool == Tool::Cdk {
            UA_CDK.to_string()
        } else {
            super::console::cli_ua("macos#23.4.0", "cloudformation.deploy")
        };
        let tool_call = |cx: &mut Cx<'_>, t: i64, name: &str, req: &str, err: Option<(&str, &str)>| {
            let mut c =
                Call::new(t, &tool_sess.ident, "cloudformation", name, region, &tool_sess.ip, &ua, &acct).req(req);
            if let Some((code, msg)) = err {
                c = c.err(code, msg);
            }
            cx.em.bg(&c, cx.rng);
        };
        let sreq = format!("{{\"stackName\":\"{stack}\"}}");
        match what {
            StackOp::Diff => {
                tool_call(cx, t, "DescribeStacks", &sreq, None);
                t += uni(cx.rng, 200, 1_500);
                tool_call(
                    cx,
                    t,
                    "GetTemplate",
                    &format!("{{\"stackName\":\"{stack}\",\"templateStage\":\"Original\"}}"),
                    None,
                );
                t += uni(cx.rng, 200, 1_500);
                tool_call(cx, t, "ListStackResources", &sreq, None);
                return t;
            }
            StackOp::Create => {
                let msg = format!("Stack with id {stack} does not exist");
                tool_call(cx, t, "DescribeStacks", &sreq, Some(("ValidationException", &msg)));
                t += uni(cx.rng, 500, 3 * SECOND);
                let role = if exec_ident.0.name.is_empty() {
                    String::new()
                } else {
                    format!(",\"roleARN\":\"{}\"", exec_ident.0.arn())
                };
                tool_call(
                    cx,
                    t,
                    "CreateChangeSet",
                    &format!(
                        "{{\"stackName\":\"{stack}\",\"changeSetName\":\"cdk-deploy-change-set\",\"changeSetType\":\"CREATE\",\"capabilities\":[\"CAPABILITY_IAM\",\"CAPABILITY_NAMED_IAM\",\"CAPABILITY_AUTO_EXPAND\"]{role}}}"
                    ),
                    None,
                );
                for _ in 0..cx.rng.random_range(2..=4) {
                    t += uni(cx.rng, 2 * SECOND, 5 * SECOND);
                    tool_call(
                        cx,
                        t,
                        "DescribeChangeSet",
                        &format!("{{\"stackName\":\"{stack}\",\"changeSetName\":\"cdk-deploy-change-set\"}}"),
                        None,
                    );
                }
                t += uni(cx.rng, SECOND, 3 * SECOND);
                tool_call(
                    cx,
                    t,
                    "ExecuteChangeSet",
                    &format!("{{\"stackName\":\"{stack}\",\"changeSetName\":\"cdk-deploy-change-set\"}}"),
                    None,
                );
            }
            StackOp::Delete => {
                tool_call(cx, t, "DescribeStacks", &sreq, None);
                t += uni(cx.rng, 500, 3 * SECOND);
                tool_call(cx, t, "DeleteStack", &sreq, None);
            }
        }
        // CloudFormation works through the resources, the tool polls the stack's events.
        let exec = if self.tool == Tool::Cdk {
            let (role, session, key) = &exec_ident;
            emit_service_assume(cx.em, cx.rng, &mut self.s, t + 500, CFN, role, session, key, region);
            assumed_role(role, session, key, t + 700, SessionOpts { invoked_by: Some(CFN), ..Default::default() })
        } else {
            caller.cfn_ident.clone()
        };
        let mut ops = Vec::new();
        match what {
            StackOp::Create => {
                for r in &env.res {
                    ops.extend(r.create(&acct, env, t, cx.rng));
                }
            }
            _ => {
                for r in env.res.iter().rev() {
                    ops.extend(r.destroy(env, cx.rng));
                }
            }
        }
        let done = self.via_cfn(cx, &exec, &ops, t + SECOND);
        let mut p = t;
        while p < done {
            p += uni(cx.rng, 4 * SECOND, 6 * SECOND);
            tool_call(cx, p, "DescribeStackEvents", &sreq, None);
        }
        p += uni(cx.rng, 500, 2 * SECOND);
        tool_call(
            cx,
            p,
            "DescribeStacks",
            &sreq,
            if what == StackOp::Delete { Some(("ValidationException", "Stack does not exist")) } else { None },
        );
        p
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StackOp {
    Create,
    Diff,
    Delete,
}

impl Source for Actor {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        if now >= self.next_new {
            let n = if self.style == Style::Terratest { cx.rng.random_range(2..=4) } else { 1 };
            for _ in 0..n {
                self.new_env(now, cx);
            }
            self.next_new = now + 2 * MINUTE + exp(cx.rng, self.new_mean);
        }
        while let Some(i) =
            (0..self.envs.len()).filter(|&i| self.envs[i].next <= now).min_by_key(|&i| self.envs[i].next)
        {
            self.step(i, now, cx);
        }
        self.envs.iter().map(|e| e.next).min().unwrap_or(i64::MAX).min(self.next_new)
    }
}

const TERRATEST_KINDS: [(u32, Kind); 1] = [(1, Kind::Trail)];
const PR_KINDS: [(u32, Kind); 5] =
    [(30, Kind::Role), (25, Kind::Secret), (20, Kind::SecurityGroup), (15, Kind::FlowLog), (10, Kind::User)];
const SANDBOX_KINDS: [(u32, Kind); 8] = [
    (15, Kind::Role),
    (15, Kind::Secret),
    (15, Kind::SecurityGroup),
    (12, Kind::User),
    (10, Kind::Trail),
    (10, Kind::FlowLog),
    (8, Kind::Detector),
    (8, Kind::Recorder),
];
const STACK_KINDS: [(u32, Kind); 5] =
    [(30, Kind::Role), (25, Kind::Secret), (20, Kind::SecurityGroup), (15, Kind::FlowLog), (10, Kind::Trail)];

/// Creates the IaC actors: CI Terratest, PR environments and CDK; people's Terraform, Pulumi,
/// CDK and CloudFormation from their laptops (`operators`).
pub(crate) fn build(
    est: &mut Estate,
    rng: &mut Rng,
    start: i64,
    operators: &[Operator],
    out: &mut Vec<(i64, Box<dyn Source>)>,
) {
    let role = |est: &Estate, rng: &mut Rng, account: usize, name: &str| Role {
        account: est.id(account).to_string(),
        name: name.to_string(),
        path: "/".to_string(),
        pid: unique_id(rng, "AROA"),
    };
    let cdk_roles = |est: &Estate, rng: &mut Rng, account: usize| {
        let acct = est.id(account);
        let region = est.accounts[account].region;
        (
            role(est, rng, account, &format!("cdk-hnb659fds-deploy-role-{acct}-{region}")),
            role(est, rng, account, &format!("cdk-hnb659fds-cfn-exec-role-{acct}-{region}")),
        )
    };
    let tf_uas = |laptop: bool| -> Vec<(&'static str, String)> {
        TF_SERVICES.iter().map(|(s, v)| (*s, if laptop { tf_laptop_ua(s, v) } else { terraform_ua(s) })).collect()
    };
    let mut actors: Vec<Actor> = Vec::new();
    let mk = |who: Who, tool: Tool, style: Style, account: usize, est: &Estate, rng: &mut Rng| Actor {
        who,
        tool,
        style,
        account,
        region: est.accounts[account].region,
        alt_region: "us-west-2",
        vpc: format!("vpc-{}", hex(rng, 17)),
        kinds: &SANDBOX_KINDS,
        envs: Vec::new(),
        next_new: 0,
        new_mean: HOUR as f64,
        life: (15 * MINUTE, 5 * HOUR),
        steps: (1, 6),
        uas: Vec::new(),
        sess: None,
        cdk: None,
        counter: 0,
        name: String::new(),
        s: Scratch::default(),
    };
    // Terratest in dev.
    let r = role(est, rng, DEV, "gha-terratest");
    let mut a =
        mk(Who::Ci { role: r, repo: "corp/terraform-aws-modules" }, Tool::Terraform, Style::Terratest, DEV, est, rng);
    a.kinds = &TERRATEST_KINDS;
    a.new_mean = 20.0 * MINUTE as f64;
    a.life = (3 * MINUTE, 25 * MINUTE);
    a.steps = (1, 1);
    a.uas = tf_uas(false);
    actors.push(a);
    // PR environments in staging.
    let r = role(est, rng, STAGING, "gha-ephemeral-envs");
    let mut a = mk(Who::Ci { role: r, repo: "corp/platform" }, Tool::Terraform, Style::PrEnv, STAGING, est, rng);
    a.kinds = &PR_KINDS;
    a.new_mean = 25.0 * MINUTE as f64;
    a.life = (40 * MINUTE, 8 * HOUR);
    a.steps = (0, 4);
    a.uas = tf_uas(false);
    actors.push(a);
    // CDK from CI in staging.
    let r = role(est, rng, STAGING, "gha-cdk-deploy");
    let mut a = mk(Who::Ci { role: r, repo: "corp/data-pipelines" }, Tool::Cdk, Style::Stack, STAGING, est, rng);
    a.kinds = &STACK_KINDS;
    a.new_mean = 50.0 * MINUTE as f64;
    a.life = (HOUR, 10 * HOUR);
    a.steps = (0, 2);
    a.cdk = Some(cdk_roles(est, rng, STAGING));
    a.name = "DataPipelineStack-pr".to_string();
    actors.push(a);
    // People's laptops in dev.
    for (i, o) in operators.iter().enumerate() {
        let who = match &o.cred {
            OperatorCred::Sso { role, email } => {
                Who::Sso { role: role.clone(), email: email.clone(), ip: o.ip.clone() }
            }
            OperatorCred::User { ident } => Who::User { ident: ident.clone(), ip: o.ip.clone() },
        };
        let is_sso = matches!(who, Who::Sso { .. });
        let (tool, style) = match (i % 4, is_sso) {
            (1, true) => (Tool::Pulumi, Style::Sandbox),
            (2, true) => (Tool::Cdk, Style::Stack),
            (3, true) => (Tool::CloudFormation, Style::Stack),
            _ => (Tool::Terraform, Style::Sandbox),
        };
        let mut a = mk(who, tool, style, o.account, est, rng);
        a.name = o.short.replace('.', "-");
        a.new_mean = 50.0 * MINUTE as f64;
        match tool {
            Tool::Terraform => a.uas = tf_uas(true),
            Tool::Pulumi => a.uas = TF_SERVICES.iter().map(|(s, v)| (*s, pulumi_ua(s, v))).collect(),
            Tool::Cdk => {
                a.kinds = &STACK_KINDS;
                a.cdk = Some(cdk_roles(est, rng, o.account));
                a.name = format!("{}-dev-stack", a.name);
                a.steps = (0, 3);
            }
            Tool::CloudFormation => {
                a.kinds = &STACK_KINDS;
                a.name = format!("{}-cfn", a.name);
                a.steps = (0, 2);
            }
        }
        actors.push(a);
    }
    for mut a in actors {
        a.next_new = start + uni(rng, MINUTE, a.new_mean as i64);
        out.push((a.next_new, Box::new(a)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::tests::run_sources;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn destroys_delete_only_what_the_same_principal_created() {
        let events = run_sources(
            |est, rng, start, out| {
                let ops = super::super::console::build(est, rng, start, &mut Vec::new());
                build(est, rng, start, &ops, out);
            },
            30 * HOUR,
        );
        assert!(events.len() > 2_000, "{} IaC events", events.len());
        // The principal (ARN) of each create and delete, keyed by the resource it names.
        let key = |e: &serde_json::Value| -> Option<String> {
            let p = &e["requestParameters"];
            let r = p["userName"]
                .as_str()
                .or(p["roleName"].as_str())
                .or(p["name"].as_str())
                .or(p["secretId"].as_str())
                .or(p["detectorId"].as_str())
                .or(p["configurationRecorderName"].as_str())
                .or(p["configurationRecorder"]["name"].as_str())
                .or(p["groupId"].as_str())
                .or(p["groupName"].as_str())
                .or(p["CreateFlowLogsRequest"]["LogGroupName"].as_str())
                .or(p["logGroupName"].as_str())?;
            Some(r.to_string())
        };
        let mut created: BTreeMap<String, String> = BTreeMap::new();
        let mut names = BTreeSet::new();
        for e in &events {
            let name = e["eventName"].as_str().unwrap_or("");
            names.insert(name.to_string());
            // The principal: the role of a role session (CloudFormation names each of its
            // sessions afresh), else the identity's ARN.
            let ui = &e["userIdentity"];
            let who =
                ui["sessionContext"]["sessionIssuer"]["arn"].as_str().or(ui["arn"].as_str()).unwrap_or("").to_string();
            let mut k = key(e).unwrap_or_default();
            // Created resources are named by their id in the response.
            if name == "CreateSecret" {
                k = e["responseElements"]["arn"].as_str().unwrap_or("").to_string();
            }
            if name == "CreateDetector" {
                k = e["responseElements"]["detectorId"].as_str().unwrap_or("").to_string();
            }
            if name == "CreateSecurityGroup" {
                k = e["responseElements"]["groupId"].as_str().unwrap_or("").to_string();
            }
            if name == "CreateTrail" {
                k = e["responseElements"]["trailARN"].as_str().unwrap_or("").to_string();
            }
            if k.is_empty() {
                continue;
            }
            if name.starts_with("Create") || name == "PutConfigurationRecorder" {
                created.entry(k).or_insert(who);
            } else if name.starts_with("Delete") && name != "DeleteAccessKey" && name != "DeleteLoginProfile" {
                if name == "DeleteFlowLogs"
                    || name == "DeleteBucket"
                    || name == "DeleteBucketPolicy"
                    || name == "DeleteDeliveryChannel"
                {
                    continue;
                }
                let creator = created.get(&k).unwrap_or_else(|| panic!("{name} of {k} that was never created"));
                assert_eq!(creator, &who, "{name} of {k}");
            }
        }
        for n in [
            "CreateTrail",
            "StartLogging",
            "PutEventSelectors",
            "DeleteTrail",
            "StopLogging",
            "CreateFlowLogs",
            "DeleteFlowLogs",
            "CreateUser",
            "CreateAccessKey",
            "CreateLoginProfile",
            "DeleteLoginProfile",
            "DeleteAccessKey",
            "DeleteUser",
            "CreateSecret",
            "PutSecretValue",
            "GetSecretValue",
            "DeleteSecret",
            "CreateDetector",
            "DeleteDetector",
            "PutConfigurationRecorder",
            "DeleteConfigurationRecorder",
            "CreateChangeSet",
            "ExecuteChangeSet",
            "DeleteStack",
            "AssumeRoleWithWebIdentity",
        ] {
            assert!(names.contains(n), "no {n}");
        }
        let uas: BTreeSet<&str> = events.iter().filter_map(|e| e["userAgent"].as_str()).collect();
        assert!(uas.iter().any(|u| u.contains("Terraform/1.9.5") && u.contains("GOOS#darwin")));
        assert!(uas.iter().any(|u| u.contains("Terraform/1.9.5") && u.contains("GOOS#linux")));
        assert!(uas.iter().any(|u| u.contains("pulumi")));
        assert!(uas.contains(UA_CDK));
        assert!(events.iter().any(|e| e["userIdentity"]["invokedBy"] == CFN && e["sourceIPAddress"] == CFN));
    }
}
