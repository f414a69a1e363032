//! Typed, borrow-only access to the columns of an event batch.

use std::sync::OnceLock;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt32Type};
use arrow_array::{Array, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use trailhound_model::event::{col, schema};
use trailhound_model::time::EventTime;
use trailhound_model::{IdentityClass, Origin};

use crate::derived::{AgentFacts, Interned};
use crate::net::Network;
use crate::DetectError;

/// A view over a [`RecordBatch`] of the event schema with one accessor per column.
/// Build it once per batch; accessors are plain array indexing.
pub struct EventView<'a> {
    batch: &'a RecordBatch,
    strings: Vec<Option<&'a StringArray>>,
    time: &'a PrimitiveArray<TimestampMillisecondType>,
    read_only: &'a BooleanArray,
    data_event: &'a BooleanArray,
    disable_api_termination: &'a BooleanArray,
    instance_count: &'a PrimitiveArray<UInt32Type>,
    /// `identity_class` parsed once per batch (most rules ask for it for every row).
    classes: Vec<IdentityClass>,
    /// `origin` parsed once per batch.
    origins: Vec<Origin>,
    /// What each row's user agent says, derived on first use (see [`crate::derived`]).
    agents: OnceLock<Interned<AgentFacts>>,
    /// Each row's source network, derived on first use.
    networks: OnceLock<Interned<Option<Network>>>,
}

impl<'a> EventView<'a> {
    /// Checks the batch against the event schema and borrows its columns.
    pub fn new(batch: &'a RecordBatch) -> Result<Self, DetectError> {
        let expected = schema();
        if batch.num_columns() != expected.fields().len() {
            return Err(DetectError::Schema(format!(
                "expected {} columns, got {}",
                expected.fields().len(),
                batch.num_columns()
            )));
        }
        for (i, f) in expected.fields().iter().enumerate() {
            if batch.column(i).data_type() != f.data_type() {
                return Err(DetectError::Schema(format!(
                    "column {} `{}` has type {}, expected {}",
                    i,
                    f.name(),
                    batch.column(i).data_type(),
                    f.data_type()
                )));
            }
        }
        let strings: Vec<Option<&StringArray>> =
            (0..batch.num_columns()).map(|i| batch.column(i).as_string_opt::<i32>()).collect();
        let classes = strings
            .get(col::IDENTITY_CLASS)
            .copied()
            .flatten()
            .map(|a| a.iter().map(|v| v.and_then(IdentityClass::parse).unwrap_or(IdentityClass::Unknown)).collect())
            .unwrap_or_default();
        let origins = strings
            .get(col::ORIGIN)
            .copied()
            .flatten()
            .map(|a| a.iter().map(|v| v.and_then(Origin::parse).unwrap_or(Origin::Direct)).collect())
            .unwrap_or_default();
        Ok(Self {
            classes,
            origins,
            batch,
            strings,
            time: batch.column(col::EVENT_TIME).as_primitive(),
            read_only: batch.column(col::READ_ONLY).as_boolean(),
            data_event: batch.column(col::DATA_EVENT).as_boolean(),
            disable_api_termination: batch.column(col::DISABLE_API_TERMINATION).as_boolean(),
            instance_count: batch.column(col::INSTANCE_COUNT).as_primitive(),
            agents: OnceLock::new(),
            networks: OnceLock::new(),
        })
    }

    /// What the user agent of `row` says (family, Lambda runtime, desktop OS), computed for
    /// the whole batch on first use, once per distinct user agent.
    pub(crate) fn agent(&self, row: usize) -> &AgentFacts {
        self.agents().get(row)
    }

    /// Which of the batch's distinct user agents `row` has (`0..`[`Self::distinct_agents`]):
    /// what a rule memoises its own per-agent answers by.
    pub(crate) fn agent_id(&self, row: usize) -> usize {
        self.agents().id(row)
    }

    /// Distinct user agents in the batch (absent counted as one).
    pub(crate) fn distinct_agents(&self) -> usize {
        self.agents().len()
    }

    fn agents(&self) -> &Interned<AgentFacts> {
        self.agents.get_or_init(|| Interned::build(self.len(), |r| self.user_agent(r), AgentFacts::cached))
    }

    /// The network of `row`'s source address ([`Network::of`]), computed for the whole batch
    /// on first use, once per distinct address.
    pub(crate) fn network(&self, row: usize) -> Option<&Network> {
        self.networks
            .get_or_init(|| Interned::build(self.len(), |r| self.source_ip(r), |ip| ip.and_then(Network::of)))
            .get(row)
            .as_ref()
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }

    /// The underlying batch.
    pub fn batch(&self) -> &'a RecordBatch {
        self.batch
    }

    /// A nullable string column's value.
    #[inline]
    pub fn opt(&self, c: usize, row: usize) -> Option<&'a str> {
        let a = self.strings.get(c).copied().flatten()?;
        a.is_valid(row).then(|| a.value(row))
    }

    /// A string column's value, `""` when null.
    #[inline]
    pub fn str(&self, c: usize, row: usize) -> &'a str {
        self.opt(c, row).unwrap_or("")
    }

    /// Event time.
    #[inline]
    pub fn time(&self, row: usize) -> EventTime {
        self.time.value(row)
    }
    /// `event_id`.
    pub fn event_id(&self, row: usize) -> &'a str {
        self.str(col::EVENT_ID, row)
    }
    /// `actor_key`.
    #[inline]
    pub fn actor_key(&self, row: usize) -> &'a str {
        self.str(col::ACTOR_KEY, row)
    }
    /// `service` (`iam`).
    #[inline]
    pub fn service(&self, row: usize) -> &'a str {
        self.str(col::SERVICE, row)
    }
    /// `action` (`ListUsers`).
    #[inline]
    pub fn action(&self, row: usize) -> &'a str {
        self.str(col::ACTION, row)
    }
    /// `region`.
    pub fn region(&self, row: usize) -> Option<&'a str> {
        self.opt(col::REGION, row)
    }
    /// `account`.
    pub fn account(&self, row: usize) -> Option<&'a str> {
        self.opt(col::ACCOUNT, row)
    }
    /// `error_code`.
    pub fn error_code(&self, row: usize) -> Option<&'a str> {
        self.opt(col::ERROR_CODE, row)
    }
    /// `actor_arn`.
    pub fn actor_arn(&self, row: usize) -> Option<&'a str> {
        self.opt(col::ACTOR_ARN, row)
    }
    /// `source_ip`.
    pub fn source_ip(&self, row: usize) -> Option<&'a str> {
        self.opt(col::SOURCE_IP, row)
    }
    /// `access_key_id`.
    pub fn access_key_id(&self, row: usize) -> Option<&'a str> {
        self.opt(col::ACCESS_KEY_ID, row)
    }
    /// `session_issuer` (ARN of the role behind an assumed-role session).
    pub fn session_issuer(&self, row: usize) -> Option<&'a str> {
        self.opt(col::SESSION_ISSUER, row)
    }
    /// `actor_type` (`userIdentity.type`).
    pub fn actor_type(&self, row: usize) -> Option<&'a str> {
        self.opt(col::ACTOR_TYPE, row)
    }
    /// The long-lived principal behind the call: the role for an assumed-role session, else
    /// the ARN, else the actor key. Baselines are kept per principal, since session keys
    /// (`ASIA…`) change every hour.
    pub fn principal(&self, row: usize) -> &'a str {
        self.session_issuer(row).or_else(|| self.actor_arn(row)).unwrap_or_else(|| self.actor_key(row))
    }
    /// `target_user` (`requestParameters.userName`).
    pub fn target_user(&self, row: usize) -> Option<&'a str> {
        self.opt(col::TARGET_USER, row)
    }
    /// `target_role` (`requestParameters.roleName`).
    pub fn target_role(&self, row: usize) -> Option<&'a str> {
        self.opt(col::TARGET_ROLE, row)
    }
    /// `policy_arn` (`requestParameters.policyArn`).
    pub fn policy_arn(&self, row: usize) -> Option<&'a str> {
        self.opt(col::POLICY_ARN, row)
    }
    /// `instance_type`.
    pub fn instance_type(&self, row: usize) -> Option<&'a str> {
        self.opt(col::INSTANCE_TYPE, row)
    }
    /// `request_parameters` JSON text (mutating calls only).
    pub fn request_parameters(&self, row: usize) -> Option<&'a str> {
        self.opt(col::REQUEST_PARAMETERS, row)
    }
    /// `response_elements` JSON text (mutating calls only).
    pub fn response_elements(&self, row: usize) -> Option<&'a str> {
        self.opt(col::RESPONSE_ELEMENTS, row)
    }
    /// `request_parameters` parsed (None when absent or not JSON).
    pub fn request_json(&self, row: usize) -> Option<serde_json::Value> {
        self.request_parameters(row).and_then(|s| serde_json::from_str(s).ok())
    }
    /// `response_elements` parsed (None when absent or not JSON).
    pub fn response_json(&self, row: usize) -> Option<serde_json::Value> {
        self.response_elements(row).and_then(|s| serde_json::from_str(s).ok())
    }
    /// `user_agent`.
    pub fn user_agent(&self, row: usize) -> Option<&'a str> {
        self.opt(col::USER_AGENT, row)
    }
    /// `provider`.
    pub fn provider(&self, row: usize) -> &'a str {
        self.str(col::PROVIDER, row)
    }
    /// `identity_class`.
    pub fn identity_class(&self, row: usize) -> IdentityClass {
        self.classes.get(row).copied().unwrap_or(IdentityClass::Unknown)
    }
    /// `origin`: how the call was made (console, IaC, AWS service, direct).
    #[inline]
    pub fn origin(&self, row: usize) -> Origin {
        self.origins.get(row).copied().unwrap_or(Origin::Direct)
    }
    /// `invoked_by` (`userIdentity.invokedBy`).
    pub fn invoked_by(&self, row: usize) -> Option<&'a str> {
        self.opt(col::INVOKED_BY, row)
    }
    /// `read_only` (null counts as false).
    pub fn read_only(&self, row: usize) -> bool {
        self.read_only.is_valid(row) && self.read_only.value(row)
    }
    /// `data_event`.
    pub fn data_event(&self, row: usize) -> bool {
        self.data_event.value(row)
    }
    /// `disable_api_termination`.
    pub fn disable_api_termination(&self, row: usize) -> Option<bool> {
        self.disable_api_termination.is_valid(row).then(|| self.disable_api_termination.value(row))
    }
    /// `instance_count`.
    pub fn instance_count(&self, row: usize) -> Option<u32> {
        self.instance_count.is_valid(row).then(|| self.instance_count.value(row))
    }

    /// True when the row's user agent contains one of `fragments` (ASCII, lower case),
    /// ignoring case: IaC agents, allowlisted automation.
    pub fn user_agent_matches(&self, row: usize, fragments: &[String]) -> bool {
        self.user_agent(row).is_some_and(|ua| fragments.iter().any(|f| Self::contains_ignore_case(ua, f)))
    }

    /// True when `needle` (ASCII, lower case) occurs in `haystack` ignoring ASCII case.
    /// Lower-cases up to 512 bytes on the stack and searches with `memchr::memmem`: this runs
    /// for many rows of every batch.
    pub fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        if n.is_empty() {
            return true;
        }
        if n.len() > h.len() {
            return false;
        }
        let mut buf = [0u8; 512];
        if h.len() <= buf.len() {
            let lower = &mut buf[..h.len()];
            for (d, s) in lower.iter_mut().zip(h) {
                *d = s.to_ascii_lowercase();
            }
            return memchr::memmem::find(lower, n).is_some();
        }
        h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    }

    /// One line for evidence: `iam:ListUsers us-east-1 (AccessDenied)`.
    pub fn summary(&self, row: usize) -> String {
        // One allocation of the right size: rules call this for every evidence event they keep.
        let mut s = String::with_capacity(self.summary_len(row));
        self.push_summary(row, &mut s);
        s
    }

    /// The targets a summary names.
    fn summary_targets(&self, row: usize) -> [(&'static str, Option<&'a str>); 3] {
        [("user", col::TARGET_USER), ("role", col::TARGET_ROLE), ("policy", col::POLICY_ARN)]
            .map(|(label, c)| (label, self.opt(c, row)))
    }

    /// Bytes of [`EventView::summary`].
    pub fn summary_len(&self, row: usize) -> usize {
        self.service(row).len()
            + 1
            + self.action(row).len()
            + self.region(row).map_or(0, |r| 1 + r.len())
            + self.summary_targets(row).iter().map(|(l, v)| v.map_or(0, |v| l.len() + v.len() + 2)).sum::<usize>()
            + self.error_code(row).map_or(0, |e| e.len() + 3)
    }

    /// Appends [`EventView::summary`] to `s`.
    pub fn push_summary(&self, row: usize, s: &mut String) {
        s.push_str(self.service(row));
        s.push(':');
        s.push_str(self.action(row));
        if let Some(r) = self.region(row) {
            s.push(' ');
            s.push_str(r);
        }
        for (label, v) in self.summary_targets(row) {
            if let Some(v) = v {
                s.push(' ');
                s.push_str(label);
                s.push('=');
                s.push_str(v);
            }
        }
        if let Some(e) = self.error_code(row) {
            s.push_str(" (");
            s.push_str(e);
            s.push(')');
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::derived::AgentFacts;
    use crate::testing::{batches, event, iam_user};

    #[test]
    fn an_event_summary_names_the_call_region_targets_and_error() {
        let who = iam_user("alice", "AKIAEXAMPLE00000001");
        let lines = vec![
            event(0, &who, "s3", "ListBuckets", json!({})),
            event(
                1,
                &who,
                "iam",
                "AttachUserPolicy",
                json!({
                    "requestParameters": {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
                    "errorCode": "AccessDenied",
                }),
            ),
        ];
        let b = &batches(&lines, 10)[0];
        let ev = EventView::new(b).expect("view");
        assert_eq!(ev.summary(0), "s3:ListBuckets us-east-1");
        assert_eq!(
            ev.summary(1),
            "iam:AttachUserPolicy us-east-1 user=bob policy=arn:aws:iam::aws:policy/AdministratorAccess (AccessDenied)"
        );
    }

    #[test]
    fn derived_agent_and_network_columns_answer_per_row() {
        let who = iam_user("alice", "AKIAEXAMPLE00000001");
        let agents = ["aws-cli/2.15.0 Python/3.11 Darwin/23.1.0", "Boto3/1.34 exec-env/AWS_Lambda_python3.12", ""];
        let ips = ["198.51.100.7", "10.1.2.3", "ec2.amazonaws.com", "2001:db8:1:2::9"];
        let lines: Vec<String> = (0..12)
            .map(|i| {
                let mut extra = json!({"sourceIPAddress": ips[i % ips.len()]});
                if !agents[i % agents.len()].is_empty() {
                    extra["userAgent"] = json!(agents[i % agents.len()]);
                } else {
                    extra["userAgent"] = serde_json::Value::Null;
                }
                event(i as i64, &who, "s3", "ListBuckets", extra)
            })
            .collect();
        let b = &batches(&lines, 100)[0];
        let ev = EventView::new(b).expect("view");
        for row in 0..ev.len() {
            assert_eq!(*ev.agent(row), AgentFacts::of(ev.user_agent(row)), "row {row}");
            assert_eq!(ev.network(row), ev.source_ip(row).and_then(Network::of).as_ref(), "row {row}");
        }
        assert!(ev.agent(1).lambda);
        assert_eq!(ev.agent(0).desktop_os, Some("macos"));
        assert_eq!(ev.network(0).map(|n| (n.prefix.as_str(), n.public)), Some(("198.51.100.0/24", true)));
        assert_eq!(ev.network(1).map(|n| n.public), Some(false));
        assert!(ev.network(2).is_none());
    }
}
