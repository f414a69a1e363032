//! The resources an environment manages and the calls that create, read, update and
//! delete each.

use rand::Rng as _;

use super::Env;
use crate::estate::{unique_id, user_key};
use crate::json::{alnum_id, hex, iam_date_string, uuid};
use crate::Rng;

/// One managed resource.
#[derive(Debug, Clone)]
pub(super) enum Res {
    Trail { name: String, arn: String, bucket: String, logging: bool },
    FlowLog { id: String, vpc: String, group: String },
    User { name: String, key: String, login: bool, policy: Option<String>, inline: String },
    Role { name: String, policy: String },
    Secret { name: String, arn: String },
    Detector { id: String },
    Recorder { name: String },
    SecurityGroup { id: String, name: String, vpc: String },
}

/// A call to make: (service, API, region, requestParameters, responseElements).
pub(super) type Op = (&'static str, &'static str, &'static str, String, String);

pub(super) fn op(svc: &'static str, name: &'static str, region: &'static str, req: String, resp: String) -> Op {
    let region = if svc == "iam" { "us-east-1" } else { region };
    (svc, name, region, req, resp)
}

const GLOBAL_TRUST: &str = "{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":{\\\"Service\\\":\\\"ecs-tasks.amazonaws.com\\\"},\\\"Action\\\":\\\"sts:AssumeRole\\\"}]}";

impl Res {
    /// The calls creating the resource, with the provider's reads after each create.
    pub(super) fn create(&self, acct: &str, env: &Env, t: i64, rng: &mut Rng) -> Vec<Op> {
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
    pub(super) fn reads(&self, _acct: &str, env: &Env) -> Vec<Op> {
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
    pub(super) fn update(&mut self, env_region: &'static str, rng: &mut Rng) -> Option<Op> {
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
    pub(super) fn destroy(&self, env: &Env, rng: &mut Rng) -> Vec<Op> {
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
pub(super) enum Kind {
    Trail,
    FlowLog,
    User,
    Role,
    Secret,
    Detector,
    Recorder,
    SecurityGroup,
}

pub(super) fn new_res(kind: Kind, env: &str, acct: &str, region: &str, vpc: &str, n: usize, rng: &mut Rng) -> Res {
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
