//! The stress profile's routine calls: reads (`List*`/`Describe*`/`Get*` over many services),
//! other reads (`Decrypt`, `AssumeRole`, `HeadObject`, ...), routine writes and AWS services
//! acting on their own, with request parameters of realistic shape and size.

use std::fmt::Write as _;

use super::principal::PKind;
use super::{mix, pick, Ctx, Scratch};
use crate::event::Kind;
use crate::json::Obj;

/// What a call's request parameters name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Res {
    /// `null`.
    Null,
    /// Paging only.
    Paged,
    /// An S3 bucket.
    Bucket,
    /// An S3 object (a data event).
    Object,
    /// EC2 instances by id.
    Instances,
    /// EC2 filters.
    Filter,
    /// A Lambda function.
    Function,
    /// An IAM role.
    Role,
    /// An IAM user.
    User,
    /// A managed policy.
    Policy,
    /// A Secrets Manager secret.
    Secret,
    /// An SSM parameter.
    Param,
    /// A DynamoDB table.
    Table,
    /// An SQS queue.
    Queue,
    /// A log group.
    LogGroup,
    /// A KMS key.
    Key,
    /// An ECS cluster.
    Cluster,
    /// A CloudFormation stack.
    Stack,
    /// An ECR repository.
    Repo,
    /// A CloudWatch metric query.
    Metrics,
    /// An RDS instance.
    Db,
}

/// A call: service prefix, event name, what its parameters name, global (logged in us-east-1).
pub(super) type Api = (&'static str, &'static str, Res, bool);

/// `List*`/`Describe*`/`Get*` reads; every principal uses a few of them (scanners dozens).
pub(super) const READS: [Api; 96] = [
    ("ec2", "DescribeInstances", Res::Instances, false),
    ("ec2", "DescribeInstances", Res::Filter, false),
    ("ec2", "DescribeVolumes", Res::Filter, false),
    ("ec2", "DescribeSnapshots", Res::Filter, false),
    ("ec2", "DescribeSecurityGroups", Res::Filter, false),
    ("ec2", "DescribeVpcs", Res::Filter, false),
    ("ec2", "DescribeSubnets", Res::Filter, false),
    ("ec2", "DescribeRouteTables", Res::Filter, false),
    ("ec2", "DescribeNetworkInterfaces", Res::Filter, false),
    ("ec2", "DescribeImages", Res::Filter, false),
    ("ec2", "DescribeTags", Res::Filter, false),
    ("ec2", "DescribeInstanceStatus", Res::Instances, false),
    ("ec2", "DescribeLaunchTemplateVersions", Res::Paged, false),
    ("ec2", "DescribeAddresses", Res::Paged, false),
    ("ec2", "DescribeRegions", Res::Null, false),
    ("ec2", "DescribeAvailabilityZones", Res::Null, false),
    ("ec2", "GetEbsEncryptionByDefault", Res::Null, false),
    ("s3", "ListBuckets", Res::Null, true),
    ("s3", "GetBucketLocation", Res::Bucket, false),
    ("s3", "GetBucketPolicy", Res::Bucket, false),
    ("s3", "GetBucketAcl", Res::Bucket, false),
    ("s3", "GetBucketVersioning", Res::Bucket, false),
    ("s3", "GetBucketEncryption", Res::Bucket, false),
    ("s3", "GetBucketTagging", Res::Bucket, false),
    ("s3", "ListObjects", Res::Bucket, false),
    ("s3", "GetObject", Res::Object, false),
    ("s3", "GetObject", Res::Object, false),
    ("s3", "GetObject", Res::Object, false),
    ("iam", "GetRole", Res::Role, true),
    ("iam", "GetUser", Res::User, true),
    ("iam", "ListRoles", Res::Paged, true),
    ("iam", "ListUsers", Res::Paged, true),
    ("iam", "ListPolicies", Res::Paged, true),
    ("iam", "GetPolicy", Res::Policy, true),
    ("iam", "GetPolicyVersion", Res::Policy, true),
    ("iam", "ListAttachedRolePolicies", Res::Role, true),
    ("iam", "ListRolePolicies", Res::Role, true),
    ("iam", "GetRolePolicy", Res::Role, true),
    ("iam", "ListAccessKeys", Res::User, true),
    ("iam", "ListInstanceProfilesForRole", Res::Role, true),
    ("iam", "GetAccountSummary", Res::Null, true),
    ("sts", "GetCallerIdentity", Res::Null, false),
    ("lambda", "GetFunction20150331v2", Res::Function, false),
    ("lambda", "GetFunctionConfiguration20150331v2", Res::Function, false),
    ("lambda", "ListFunctions20150331", Res::Paged, false),
    ("lambda", "ListTags20170331", Res::Function, false),
    ("lambda", "GetPolicy20150331v2", Res::Function, false),
    ("secretsmanager", "GetSecretValue", Res::Secret, false),
    ("secretsmanager", "DescribeSecret", Res::Secret, false),
    ("secretsmanager", "ListSecrets", Res::Paged, false),
    ("ssm", "GetParameter", Res::Param, false),
    ("ssm", "GetParameters", Res::Param, false),
    ("ssm", "GetParametersByPath", Res::Param, false),
    ("ssm", "DescribeParameters", Res::Paged, false),
    ("ssm", "DescribeInstanceInformation", Res::Paged, false),
    ("ssm", "ListCommands", Res::Paged, false),
    ("dynamodb", "DescribeTable", Res::Table, false),
    ("dynamodb", "ListTables", Res::Paged, false),
    ("dynamodb", "DescribeContinuousBackups", Res::Table, false),
    ("dynamodb", "ListTagsOfResource", Res::Table, false),
    ("sqs", "GetQueueAttributes", Res::Queue, false),
    ("sqs", "GetQueueUrl", Res::Queue, false),
    ("sqs", "ListQueues", Res::Paged, false),
    ("sns", "ListTopics", Res::Paged, false),
    ("sns", "GetTopicAttributes", Res::Paged, false),
    ("sns", "ListSubscriptionsByTopic", Res::Paged, false),
    ("logs", "DescribeLogGroups", Res::LogGroup, false),
    ("logs", "DescribeLogStreams", Res::LogGroup, false),
    ("logs", "GetLogEvents", Res::LogGroup, false),
    ("logs", "DescribeMetricFilters", Res::LogGroup, false),
    ("logs", "DescribeSubscriptionFilters", Res::LogGroup, false),
    ("kms", "DescribeKey", Res::Key, false),
    ("kms", "ListAliases", Res::Paged, false),
    ("kms", "GetKeyPolicy", Res::Key, false),
    ("kms", "GetKeyRotationStatus", Res::Key, false),
    ("kms", "ListKeys", Res::Paged, false),
    ("ecs", "DescribeServices", Res::Cluster, false),
    ("ecs", "DescribeTasks", Res::Cluster, false),
    ("ecs", "ListTasks", Res::Cluster, false),
    ("ecs", "DescribeTaskDefinition", Res::Cluster, false),
    ("ecs", "ListClusters", Res::Paged, false),
    ("ecr", "GetAuthorizationToken", Res::Null, false),
    ("ecr", "DescribeRepositories", Res::Repo, false),
    ("ecr", "DescribeImages", Res::Repo, false),
    ("ecr", "ListImages", Res::Repo, false),
    ("cloudformation", "DescribeStacks", Res::Stack, false),
    ("cloudformation", "DescribeStackResources", Res::Stack, false),
    ("cloudformation", "ListStacks", Res::Paged, false),
    ("monitoring", "GetMetricData", Res::Metrics, false),
    ("monitoring", "DescribeAlarms", Res::Paged, false),
    ("monitoring", "ListMetrics", Res::Paged, false),
    ("rds", "DescribeDBInstances", Res::Db, false),
    ("rds", "DescribeDBClusters", Res::Paged, false),
    ("elasticloadbalancing", "DescribeLoadBalancers", Res::Paged, false),
    ("elasticloadbalancing", "DescribeTargetHealth", Res::Paged, false),
    ("autoscaling", "DescribeAutoScalingGroups", Res::Paged, false),
];

/// Other reads (CloudTrail's `readOnly` true, but not `List*`/`Describe*`/`Get*`).
pub(super) const OTHER_READS: [Api; 8] = [
    ("kms", "Decrypt", Res::Key, false),
    ("kms", "Decrypt", Res::Key, false),
    ("kms", "GenerateDataKey", Res::Key, false),
    ("sts", "AssumeRole", Res::Role, false),
    ("s3", "HeadObject", Res::Object, false),
    ("s3", "HeadBucket", Res::Bucket, false),
    ("cloudtrail", "LookupEvents", Res::Paged, false),
    ("dynamodb", "Query", Res::Table, false),
];

/// Routine writes of workloads (instances, functions, tasks).
const WORKLOAD_WRITES: [Api; 10] = [
    ("s3", "PutObject", Res::Object, false),
    ("s3", "PutObject", Res::Object, false),
    ("s3", "DeleteObject", Res::Object, false),
    ("monitoring", "PutMetricData", Res::Metrics, false),
    ("logs", "CreateLogStream", Res::LogGroup, false),
    ("ssm", "UpdateInstanceInformation", Res::Instances, false),
    ("kms", "Encrypt", Res::Key, false),
    ("ssm", "PutParameter", Res::Param, false),
    ("states", "StartExecution", Res::Null, false),
    ("dynamodb", "PutItem", Res::Table, false),
];

/// Routine writes of pipelines and people.
const CHANGE_WRITES: [Api; 12] = [
    ("ec2", "CreateTags", Res::Instances, false),
    ("ecs", "UpdateService", Res::Cluster, false),
    ("ecs", "RegisterTaskDefinition", Res::Cluster, false),
    ("ecr", "PutImage", Res::Repo, false),
    ("cloudformation", "CreateChangeSet", Res::Stack, false),
    ("cloudformation", "ExecuteChangeSet", Res::Stack, false),
    ("ssm", "PutParameter", Res::Param, false),
    ("ec2", "AuthorizeSecurityGroupIngress", Res::Filter, false),
    ("ec2", "CreateSnapshot", Res::Instances, false),
    ("logs", "PutRetentionPolicy", Res::LogGroup, false),
    ("s3", "PutObject", Res::Object, false),
    ("ec2", "StopInstances", Res::Instances, false),
];

/// Writes of service-linked roles.
const LINKED_WRITES: [Api; 4] = [
    ("ec2", "CreateNetworkInterface", Res::Filter, false),
    ("ec2", "DeleteNetworkInterface", Res::Filter, false),
    ("elasticloadbalancing", "RegisterTargets", Res::Paged, false),
    ("ec2", "CreateTags", Res::Instances, false),
];

/// Calls AWS services make with their own identity (`AWSService`): service, event name.
pub(super) const SERVICE_CALLS: [(&str, &str, &str); 6] = [
    ("sts", "AssumeRole", "ec2.amazonaws.com"),
    ("sts", "AssumeRole", "lambda.amazonaws.com"),
    ("sts", "AssumeRole", "ecs-tasks.amazonaws.com"),
    ("kms", "Decrypt", "s3.amazonaws.com"),
    ("kms", "GenerateDataKey", "logs.amazonaws.com"),
    ("sts", "AssumeRole", "config.amazonaws.com"),
];

/// The writes a principal of `kind` makes routinely.
pub(super) fn writes(kind: PKind) -> &'static [Api] {
    match kind {
        PKind::Ec2 | PKind::Lambda | PKind::Ecs | PKind::User | PKind::Scanner => &WORKLOAD_WRITES,
        PKind::Ci | PKind::Sso => &CHANGE_WRITES,
        PKind::ServiceLinked => &LINKED_WRITES,
    }
}

/// Whether `name` is an S3 data event.
pub(super) fn s3_data(name: &str) -> bool {
    matches!(name, "GetObject" | "PutObject" | "DeleteObject" | "HeadObject")
}

/// Writes the request parameters (and for data events the resources and additional data) of
/// a routine call into `x`; returns the record kind.
pub(super) fn params(cx: &Ctx<'_>, api: &Api, x: &mut Scratch) -> Kind {
    let (svc, name, res, _) = *api;
    let (app, env) = cx.p.app();
    let acct = cx.s.account.as_str();
    let region = cx.region;
    let v = mix(cx.salt);
    let n = v % 24;
    x.name.clear();
    match res {
        Res::Null => {
            if svc == "s3" {
                x.req.push_str("{\"Host\":\"s3.amazonaws.com\"}");
            }
        }
        Res::Paged => {
            let o = Obj::new(&mut x.req);
            let o = if svc == "iam" { o.num("maxItems", 1000) } else { o.num("maxResults", 100) };
            if v.is_multiple_of(3) {
                o.str("nextToken", &super::token(v, 88)).end();
            } else {
                o.end();
            }
        }
        Res::Bucket => {
            let _ = write!(x.name, "{app}-{env}-{acct}-{n}");
            let host = format!("{}.s3.{region}.amazonaws.com", x.name);
            let o = Obj::new(&mut x.req).str("bucketName", &x.name).str("Host", &host);
            match name {
                "GetBucketPolicy" => o.str("policy", "").end(),
                "GetBucketAcl" => o.str("acl", "").end(),
                "ListObjects" => {
                    o.str("list-type", "2").str("prefix", &format!("{app}/{}/", v % 365)).str("max-keys", "1000").end()
                }
                _ => o.end(),
            }
        }
        Res::Object => {
            let _ = write!(x.name, "{app}-{env}-{acct}-{n}");
            let key = format!(
                "{app}/{env}/{}/{:02}/part-{:05}-{:012x}.json.gz",
                v % 365,
                (v >> 9) % 24,
                (v >> 14) % 3000,
                v >> 20
            );
            let host = format!("{}.s3.{region}.amazonaws.com", x.name);
            Obj::new(&mut x.req).str("bucketName", &x.name).str("Host", &host).str("key", &key).end();
            let (inb, outb) =
                if name == "PutObject" { ((v >> 30) % 900_000 + 200, 0) } else { (0, (v >> 30) % 900_000 + 200) };
            Obj::new(&mut x.extra)
                .str("SignatureVersion", "SigV4")
                .str("CipherSuite", "TLS_AES_128_GCM_SHA256")
                .num("bytesTransferredIn", inb as i64)
                .str("AuthenticationMethod", "AuthHeader")
                .str("x-amz-id-2", &super::token(v >> 3, 76))
                .num("bytesTransferredOut", outb as i64)
                .end();
            let _ = write!(
                x.res,
                "[{{\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::{}/{key}\"}},{{\"accountId\":\"{acct}\",\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::{}\"}}]",
                x.name, x.name
            );
            return Kind::Data;
        }
        Res::Instances => {
            let id = format!("i-0{:016x}", mix(cx.p.h ^ (v % 6)) >> 4);
            match name {
                "CreateTags" => {
                    let _ = write!(
                        x.req,
                        "{{\"resourcesSet\":{{\"items\":[{{\"resourceId\":\"{id}\"}}]}},\"tagSet\":{{\"items\":[{{\"key\":\"app\",\"value\":\"{app}\"}},{{\"key\":\"env\",\"value\":\"{env}\"}},{{\"key\":\"owner\",\"value\":\"team-{app}\"}}]}}}}"
                    );
                    x.resp.push_str("{\"requestId\":\"");
                    x.resp.push_str(&super::uuid_from(v));
                    x.resp.push_str("\",\"_return\":true}");
                }
                "UpdateInstanceInformation" => {
                    let _ = write!(
                        x.req,
                        "{{\"instanceId\":\"{id}\",\"agentVersion\":\"3.3.{}.0\",\"agentStatus\":\"Active\",\"platformType\":\"Linux\",\"platformName\":\"Amazon Linux\",\"platformVersion\":\"2023\",\"iPAddress\":\"10.{}.{}.{}\",\"computerName\":\"ip-10-{}-{}-{}.ec2.internal\",\"agentName\":\"amazon-ssm-agent\",\"availabilityZone\":\"{region}a\",\"availabilityZoneId\":\"use1-az2\"}}",
                        1000 + v % 900,
                        v % 64, (v >> 8) & 255, (v >> 16) % 250 + 4,
                        v % 64, (v >> 8) & 255, (v >> 16) % 250 + 4
                    );
                }
                "CreateSnapshot" => {
                    let _ = write!(
                        x.req,
                        "{{\"volumeId\":\"vol-0{:016x}\",\"description\":\"{app}-{env} nightly\"}}",
                        v >> 4
                    );
                }
                _ => {
                    let _ = write!(
                        x.req,
                        "{{\"instancesSet\":{{\"items\":[{{\"instanceId\":\"{id}\"}}]}},\"filterSet\":{{}},\"includeAllInstances\":false}}"
                    );
                }
            }
        }
        Res::Filter => {
            let _ = write!(
                x.req,
                "{{\"filterSet\":{{\"items\":[{{\"name\":\"tag:app\",\"valueSet\":{{\"items\":[{{\"value\":\"{app}\"}}]}}}},{{\"name\":\"tag:env\",\"valueSet\":{{\"items\":[{{\"value\":\"{env}\"}}]}}}}]}},\"maxResults\":1000}}"
            );
        }
        Res::Function => {
            let _ = write!(x.req, "{{\"functionName\":\"arn:aws:lambda:{region}:{acct}:function:{app}-{env}-{n}\"}}");
        }
        Res::Role => {
            let role = format!("{app}-{env}-{}", pick(&["deploy", "read", "etl", "admin", "ci"], v));
            if name == "AssumeRole" {
                assume_role(cx, &role, v, x);
            } else {
                Obj::new(&mut x.req).str("roleName", &role).end();
            }
        }
        Res::User => {
            let _ = write!(x.req, "{{\"userName\":\"svc-{app}-{env}-{}\"}}", v % 500);
        }
        Res::Policy => {
            let _ = write!(
                x.req,
                "{{\"policyArn\":\"arn:aws:iam::{acct}:policy/{app}-{env}-access\",\"versionId\":\"v{}\"}}",
                1 + n % 5
            );
        }
        Res::Secret => {
            let _ = write!(
                x.req,
                "{{\"secretId\":\"arn:aws:secretsmanager:{region}:{acct}:secret:{app}/{env}/{}-{}\"}}",
                pick(&["db", "api-key", "oauth", "smtp"], v),
                super::token(v >> 5, 6)
            );
        }
        Res::Param => {
            let p =
                format!("/{app}/{env}/{}", pick(&["config/endpoint", "db/host", "feature-flags", "db/password"], v));
            let o = Obj::new(&mut x.req);
            match name {
                "PutParameter" => {
                    o.str("name", &p).str("type", "String").bool("overwrite", true).end();
                    let _ = write!(x.resp, "{{\"version\":{},\"tier\":\"Standard\"}}", 1 + v % 80);
                }
                "GetParametersByPath" => o
                    .str("path", &format!("/{app}/{env}/"))
                    .bool("recursive", true)
                    .bool("withDecryption", v.is_multiple_of(2))
                    .end(),
                "GetParameters" => {
                    o.raw("names", &format!("[\"{p}\",\"/{app}/{env}/region\"]")).bool("withDecryption", true).end()
                }
                _ => o.str("name", &p).bool("withDecryption", v.is_multiple_of(2)).end(),
            }
        }
        Res::Table => {
            let o = Obj::new(&mut x.req).str("tableName", &format!("{app}-{env}-{n}"));
            if name == "Query" {
                o.str("indexName", "by-customer").str("select", "ALL_ATTRIBUTES").num("limit", 100).end();
            } else {
                o.end();
            }
        }
        Res::Queue => {
            let _ = write!(
                x.req,
                "{{\"queueUrl\":\"https://sqs.{region}.amazonaws.com/{acct}/{app}-{env}-{n}\",\"attributeNames\":[\"All\"]}}"
            );
        }
        Res::LogGroup => {
            let group = format!("/aws/{}/{app}-{env}-{n}", pick(&["lambda", "ecs", "ec2", "rds/instance"], v));
            let o = Obj::new(&mut x.req);
            match name {
                "CreateLogStream" => o
                    .str("logGroupName", &group)
                    .str("logStreamName", &format!("{}/{:032x}", (v >> 7) % 365, u128::from(mix(v))))
                    .end(),
                "DescribeLogGroups" => o.str("logGroupNamePrefix", &group).num("limit", 50).end(),
                "PutRetentionPolicy" => o.str("logGroupName", &group).num("retentionInDays", 30).end(),
                _ => o.str("logGroupName", &group).bool("startFromHead", false).end(),
            }
        }
        Res::Key => {
            let key = format!("arn:aws:kms:{region}:{acct}:key/{}", super::uuid_from(mix(cx.p.h ^ (v % 3))));
            match name {
                "Decrypt" | "Encrypt" | "GenerateDataKey" => {
                    let o = Obj::new(&mut x.req).str("keyId", &key).obj("encryptionContext", |c| {
                        c.str(
                            "aws:lambda:FunctionArn",
                            &format!("arn:aws:lambda:{region}:{acct}:function:{app}-{env}-{n}"),
                        )
                    });
                    if name == "GenerateDataKey" {
                        o.str("keySpec", "AES_256").end();
                    } else {
                        o.str("encryptionAlgorithm", "SYMMETRIC_DEFAULT").end();
                    }
                    let _ =
                        write!(x.res, "[{{\"accountId\":\"{acct}\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"{key}\"}}]");
                }
                _ => Obj::new(&mut x.req).str("keyId", &key).end(),
            }
        }
        Res::Cluster => {
            let cluster = format!("arn:aws:ecs:{region}:{acct}:cluster/{app}-{env}");
            match name {
                "RegisterTaskDefinition" => {
                    let _ = write!(
                        x.req,
                        "{{\"family\":\"{app}-{env}\",\"taskRoleArn\":\"arn:aws:iam::{acct}:role/{app}-{env}-task-role\",\"networkMode\":\"awsvpc\",\"containerDefinitions\":[{{\"name\":\"{app}\",\"image\":\"{acct}.dkr.ecr.{region}.amazonaws.com/{app}:{:012x}\",\"cpu\":512,\"memory\":1024,\"essential\":true,\"portMappings\":[{{\"containerPort\":8080,\"protocol\":\"tcp\"}}]}}],\"requiresCompatibilities\":[\"FARGATE\"],\"cpu\":\"512\",\"memory\":\"1024\"}}",
                        v >> 16
                    );
                }
                "UpdateService" => {
                    let _ = write!(x.req, "{{\"cluster\":\"{cluster}\",\"service\":\"{app}-{env}\",\"taskDefinition\":\"{app}-{env}:{}\",\"forceNewDeployment\":false}}", 1 + v % 400);
                }
                _ => {
                    let _ = write!(
                        x.req,
                        "{{\"cluster\":\"{cluster}\",\"services\":[\"{app}-{env}\"],\"include\":[\"TAGS\"]}}"
                    );
                }
            }
        }
        Res::Stack => {
            let _ =
                write!(x.req, "{{\"stackName\":\"{app}-{env}-{}\"}}", pick(&["network", "service", "data", "iam"], v));
        }
        Res::Repo => {
            let _ = write!(x.req, "{{\"repositoryNames\":[\"{app}\"],\"registryId\":\"{acct}\"}}");
        }
        Res::Metrics => {
            if name == "PutMetricData" {
                let _ = write!(
                    x.req,
                    "{{\"namespace\":\"{app}/{env}\",\"metricData\":[{{\"metricName\":\"Latency\",\"dimensions\":[{{\"name\":\"Service\",\"value\":\"{app}\"}}],\"value\":{},\"unit\":\"Milliseconds\"}},{{\"metricName\":\"Requests\",\"dimensions\":[{{\"name\":\"Service\",\"value\":\"{app}\"}}],\"value\":{},\"unit\":\"Count\"}}]}}",
                    v % 900,
                    (v >> 10) % 5000
                );
            } else {
                let _ = write!(
                    x.req,
                    "{{\"metricDataQueries\":[{{\"id\":\"m1\",\"metricStat\":{{\"metric\":{{\"namespace\":\"AWS/EC2\",\"metricName\":\"CPUUtilization\",\"dimensions\":[{{\"name\":\"AutoScalingGroupName\",\"value\":\"{app}-{env}\"}}]}},\"period\":60,\"stat\":\"Average\"}},\"returnData\":true}}],\"startTime\":\"{}\",\"endTime\":\"{}\"}}",
                    crate::json::time_string(cx.t - 3_600_000),
                    crate::json::time_string(cx.t)
                );
            }
        }
        Res::Db => {
            let _ = write!(x.req, "{{\"dBInstanceIdentifier\":\"{app}-{env}-db-{}\"}}", n % 4);
        }
    }
    Kind::Api
}

/// `AssumeRole` into `role` (by a principal or a service), with the credentials it returned.
pub(super) fn assume_role(cx: &Ctx<'_>, role: &str, v: u64, x: &mut Scratch) {
    let acct = cx.s.account.as_str();
    let session = format!(
        "{}-{}",
        pick(&["botocore-session", "aws-go-sdk", "terraform", "deploy"], v),
        1_700_000_000 + v % 99_999_999
    );
    let _ = write!(
        x.req,
        "{{\"roleArn\":\"arn:aws:iam::{acct}:role/{role}\",\"roleSessionName\":\"{session}\",\"durationSeconds\":3600}}"
    );
    let mut key = String::with_capacity(20);
    super::principal::key_id("ASIA", mix(v ^ 0x6173), &mut key);
    let _ = write!(
        x.resp,
        "{{\"credentials\":{{\"accessKeyId\":\"{key}\",\"sessionToken\":\"{}\",\"expiration\":\"{}\"}},\"assumedRoleUser\":{{\"assumedRoleId\":\"AROA{}:{session}\",\"arn\":\"arn:aws:sts::{acct}:assumed-role/{role}/{session}\"}}}}",
        super::token(v, 420),
        crate::json::expiration_string(cx.t + 3_600_000),
        &super::token(v >> 7, 17).to_ascii_uppercase()
    );
    let _ = write!(
        x.res,
        "[{{\"accountId\":\"{acct}\",\"type\":\"AWS::IAM::Role\",\"ARN\":\"arn:aws:iam::{acct}:role/{role}\"}}]"
    );
}
