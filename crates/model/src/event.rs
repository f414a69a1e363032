//! The normalized event model: one Arrow row per audit event, provider-neutral.
//!
//! Column order is fixed; use the indices in [`col`] instead of looking columns up by name on
//! the hot path. Strings are `Utf8`; times are `Timestamp(Millisecond, "UTC")`.
//!
//! | column | meaning |
//! |---|---|
//! | `provider` | `aws` (later `gcp`, `azure`) |
//! | `event_id` | provider event id (CloudTrail `eventID`) |
//! | `event_time` | when the call happened (event time, never null) |
//! | `time_inferred` | true when the record had no usable time and `event_time` was inferred |
//! | `received_time` | when trailhound received it (Kafka timestamp; null for files) |
//! | `account` | account the call acted in (`recipientAccountId`, else the caller's) |
//! | `region` | `awsRegion` |
//! | `service` | short service name: `iam` for `iam.amazonaws.com` |
//! | `action` | API name (`eventName`) |
//! | `read_only` | CloudTrail `readOnly`, or inferred from the action's verb |
//! | `error_code` | `errorCode`, null on success |
//! | `actor_key` | the identity a stolen credential is: access key id, else principal ARN |
//! | `actor_arn` | principal ARN |
//! | `actor_type` | `userIdentity.type` |
//! | `access_key_id` | `userIdentity.accessKeyId` |
//! | `session_issuer` | ARN of the role behind an assumed-role session |
//! | `identity_class` | see [`crate::IdentityClass`] |
//! | `source_ip` | `sourceIPAddress` |
//! | `user_agent` | `userAgent` |
//! | `target_user` | `requestParameters.userName` |
//! | `target_role` | `requestParameters.roleName` |
//! | `policy_arn` | `requestParameters.policyArn` |
//! | `instance_count` | instances asked for (RunInstances `maxCount`, fleet target capacity) |
//! | `instance_type` | `requestParameters.instanceType` |
//! | `disable_api_termination` | termination protection requested |
//! | `request_parameters` | `requestParameters` JSON, kept for mutating calls only |
//! | `response_elements` | `responseElements` JSON, kept for mutating calls only |
//! | `source` | where the record came from (`file:line`, `topic/partition@offset`) |
//! | `data_event` | a data-plane call (`eventCategory` `Data`, or `managementEvent` false) |
//! | `origin` | how the call was made: `console`, `iac`, `aws_service`, `direct` (see [`crate::Origin`]) |
//! | `invoked_by` | `userIdentity.invokedBy`: the AWS service or host that made the call for the principal |

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Column indices into [`schema`].
pub mod col {
    #![allow(missing_docs)]
    pub const PROVIDER: usize = 0;
    pub const EVENT_ID: usize = 1;
    pub const EVENT_TIME: usize = 2;
    pub const TIME_INFERRED: usize = 3;
    pub const RECEIVED_TIME: usize = 4;
    pub const ACCOUNT: usize = 5;
    pub const REGION: usize = 6;
    pub const SERVICE: usize = 7;
    pub const ACTION: usize = 8;
    pub const READ_ONLY: usize = 9;
    pub const ERROR_CODE: usize = 10;
    pub const ACTOR_KEY: usize = 11;
    pub const ACTOR_ARN: usize = 12;
    pub const ACTOR_TYPE: usize = 13;
    pub const ACCESS_KEY_ID: usize = 14;
    pub const SESSION_ISSUER: usize = 15;
    pub const IDENTITY_CLASS: usize = 16;
    pub const SOURCE_IP: usize = 17;
    pub const USER_AGENT: usize = 18;
    pub const TARGET_USER: usize = 19;
    pub const TARGET_ROLE: usize = 20;
    pub const POLICY_ARN: usize = 21;
    pub const INSTANCE_COUNT: usize = 22;
    pub const INSTANCE_TYPE: usize = 23;
    pub const DISABLE_API_TERMINATION: usize = 24;
    pub const REQUEST_PARAMETERS: usize = 25;
    pub const RESPONSE_ELEMENTS: usize = 26;
    pub const SOURCE: usize = 27;
    pub const DATA_EVENT: usize = 28;
    pub const ORIGIN: usize = 29;
    pub const INVOKED_BY: usize = 30;
    /// Number of columns.
    pub const COUNT: usize = 31;
}

/// The Arrow type of time columns.
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The event schema (shared, built once).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
            Arc::new(Schema::new(vec![
                s("provider", false),
                s("event_id", false),
                Field::new("event_time", time_type(), false),
                Field::new("time_inferred", DataType::Boolean, false),
                Field::new("received_time", time_type(), true),
                s("account", true),
                s("region", true),
                s("service", false),
                s("action", false),
                Field::new("read_only", DataType::Boolean, true),
                s("error_code", true),
                s("actor_key", false),
                s("actor_arn", true),
                s("actor_type", true),
                s("access_key_id", true),
                s("session_issuer", true),
                s("identity_class", false),
                s("source_ip", true),
                s("user_agent", true),
                s("target_user", true),
                s("target_role", true),
                s("policy_arn", true),
                Field::new("instance_count", DataType::UInt32, true),
                s("instance_type", true),
                Field::new("disable_api_termination", DataType::Boolean, true),
                s("request_parameters", true),
                s("response_elements", true),
                s("source", false),
                Field::new("data_event", DataType::Boolean, false),
                s("origin", false),
                s("invoked_by", true),
            ]))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_constants_match_the_schema() {
        let s = schema();
        assert_eq!(s.fields().len(), col::COUNT);
        let expect = [
            (col::PROVIDER, "provider"),
            (col::EVENT_TIME, "event_time"),
            (col::ACTOR_KEY, "actor_key"),
            (col::IDENTITY_CLASS, "identity_class"),
            (col::INSTANCE_COUNT, "instance_count"),
            (col::DISABLE_API_TERMINATION, "disable_api_termination"),
            (col::SOURCE, "source"),
            (col::DATA_EVENT, "data_event"),
            (col::ORIGIN, "origin"),
            (col::INVOKED_BY, "invoked_by"),
        ];
        for (i, name) in expect {
            assert_eq!(s.field(i).name(), name);
        }
    }
}
