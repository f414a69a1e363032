//! Column builders for the event schema: rows in, [`RecordBatch`] out.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder, TimestampMillisecondBuilder, UInt32Builder};
use arrow_array::{ArrayRef, RecordBatch};
use trailhound_model::event::{col, schema};

/// One normalized event, borrowing its strings from the parsed input.
#[derive(Debug, Default, Clone)]
pub struct Row<'a> {
    /// `provider` column.
    pub provider: &'a str,
    /// `event_id` column.
    pub event_id: &'a str,
    /// `event_time` column.
    pub event_time: i64,
    /// `time_inferred` column.
    pub time_inferred: bool,
    /// `received_time` column.
    pub received_time: Option<i64>,
    /// `account` column.
    pub account: Option<&'a str>,
    /// `region` column.
    pub region: Option<&'a str>,
    /// `service` column.
    pub service: &'a str,
    /// `action` column.
    pub action: &'a str,
    /// `read_only` column.
    pub read_only: Option<bool>,
    /// `error_code` column.
    pub error_code: Option<&'a str>,
    /// `actor_key` column.
    pub actor_key: &'a str,
    /// `actor_arn` column.
    pub actor_arn: Option<&'a str>,
    /// `actor_type` column.
    pub actor_type: Option<&'a str>,
    /// `access_key_id` column.
    pub access_key_id: Option<&'a str>,
    /// `session_issuer` column.
    pub session_issuer: Option<&'a str>,
    /// `identity_class` column.
    pub identity_class: &'a str,
    /// `source_ip` column.
    pub source_ip: Option<&'a str>,
    /// `user_agent` column.
    pub user_agent: Option<&'a str>,
    /// `target_user` column.
    pub target_user: Option<&'a str>,
    /// `target_role` column.
    pub target_role: Option<&'a str>,
    /// `policy_arn` column.
    pub policy_arn: Option<&'a str>,
    /// `instance_count` column.
    pub instance_count: Option<u32>,
    /// `instance_type` column.
    pub instance_type: Option<&'a str>,
    /// `disable_api_termination` column.
    pub disable_api_termination: Option<bool>,
    /// `request_parameters` column.
    pub request_parameters: Option<&'a str>,
    /// `response_elements` column.
    pub response_elements: Option<&'a str>,
    /// `source` column.
    pub source: &'a str,
    /// `data_event` column.
    pub data_event: bool,
    /// `origin` column (`console`, `iac`, `aws_service`, `direct`).
    pub origin: &'a str,
    /// `invoked_by` column.
    pub invoked_by: Option<&'a str>,
}

/// Accumulates rows into Arrow builders; [`EventBuilder::finish`] yields a batch.
pub struct EventBuilder {
    strings: Box<[StringBuilder; STRING_COLS.len()]>,
    event_time: TimestampMillisecondBuilder,
    received_time: TimestampMillisecondBuilder,
    time_inferred: BooleanBuilder,
    read_only: BooleanBuilder,
    disable_api_termination: BooleanBuilder,
    data_event: BooleanBuilder,
    instance_count: UInt32Builder,
    rows: usize,
    capacity: usize,
}

/// The Utf8 columns in schema order.
const STRING_COLS: [usize; 24] = [
    col::PROVIDER,
    col::EVENT_ID,
    col::ACCOUNT,
    col::REGION,
    col::SERVICE,
    col::ACTION,
    col::ERROR_CODE,
    col::ACTOR_KEY,
    col::ACTOR_ARN,
    col::ACTOR_TYPE,
    col::ACCESS_KEY_ID,
    col::SESSION_ISSUER,
    col::IDENTITY_CLASS,
    col::SOURCE_IP,
    col::USER_AGENT,
    col::TARGET_USER,
    col::TARGET_ROLE,
    col::POLICY_ARN,
    col::INSTANCE_TYPE,
    col::REQUEST_PARAMETERS,
    col::RESPONSE_ELEMENTS,
    col::SOURCE,
    col::ORIGIN,
    col::INVOKED_BY,
];

impl EventBuilder {
    /// A builder sized for `capacity` rows.
    pub fn new(capacity: usize) -> Self {
        Self {
            strings: Box::new(std::array::from_fn(|_| StringBuilder::with_capacity(capacity, capacity * 24))),
            event_time: TimestampMillisecondBuilder::with_capacity(capacity),
            received_time: TimestampMillisecondBuilder::with_capacity(capacity),
            time_inferred: BooleanBuilder::with_capacity(capacity),
            read_only: BooleanBuilder::with_capacity(capacity),
            disable_api_termination: BooleanBuilder::with_capacity(capacity),
            data_event: BooleanBuilder::with_capacity(capacity),
            instance_count: UInt32Builder::with_capacity(capacity),
            rows: 0,
            capacity,
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is pending.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row.
    pub fn append(&mut self, r: &Row<'_>) {
        let s = &mut self.strings;
        s[0].append_value(r.provider);
        s[1].append_value(r.event_id);
        s[2].append_option(r.account);
        s[3].append_option(r.region);
        s[4].append_value(r.service);
        s[5].append_value(r.action);
        s[6].append_option(r.error_code);
        s[7].append_value(r.actor_key);
        s[8].append_option(r.actor_arn);
        s[9].append_option(r.actor_type);
        s[10].append_option(r.access_key_id);
        s[11].append_option(r.session_issuer);
        s[12].append_value(r.identity_class);
        s[13].append_option(r.source_ip);
        s[14].append_option(r.user_agent);
        s[15].append_option(r.target_user);
        s[16].append_option(r.target_role);
        s[17].append_option(r.policy_arn);
        s[18].append_option(r.instance_type);
        s[19].append_option(r.request_parameters);
        s[20].append_option(r.response_elements);
        s[21].append_value(r.source);
        s[22].append_value(r.origin);
        s[23].append_option(r.invoked_by);
        self.event_time.append_value(r.event_time);
        self.received_time.append_option(r.received_time);
        self.time_inferred.append_value(r.time_inferred);
        self.read_only.append_option(r.read_only);
        self.disable_api_termination.append_option(r.disable_api_termination);
        self.data_event.append_value(r.data_event);
        self.instance_count.append_option(r.instance_count);
        self.rows += 1;
    }

    /// Builds the batch of pending rows and resets the builder.
    ///
    /// Arrow's `finish` hands the builders' buffers to the arrays and leaves them empty; they
    /// are given their capacity back here (rows, and for each text column a little more than
    /// the bytes of this batch), so the next batch does not regrow them by doubling.
    pub fn finish(&mut self) -> RecordBatch {
        let rows = self.capacity.max(self.rows);
        let mut cols: Vec<Option<ArrayRef>> = vec![None; col::COUNT];
        for (b, &i) in self.strings.iter_mut().zip(STRING_COLS.iter()) {
            let bytes = b.values_slice().len();
            let next = StringBuilder::with_capacity(rows, bytes + bytes / 8);
            cols[i] = Some(Arc::new(std::mem::replace(b, next).finish()));
        }
        cols[col::EVENT_TIME] = Some(Arc::new(
            std::mem::replace(&mut self.event_time, TimestampMillisecondBuilder::with_capacity(rows))
                .finish()
                .with_timezone("UTC"),
        ));
        cols[col::RECEIVED_TIME] = Some(Arc::new(
            std::mem::replace(&mut self.received_time, TimestampMillisecondBuilder::with_capacity(rows))
                .finish()
                .with_timezone("UTC"),
        ));
        cols[col::TIME_INFERRED] =
            Some(Arc::new(std::mem::replace(&mut self.time_inferred, BooleanBuilder::with_capacity(rows)).finish()));
        cols[col::READ_ONLY] =
            Some(Arc::new(std::mem::replace(&mut self.read_only, BooleanBuilder::with_capacity(rows)).finish()));
        cols[col::DISABLE_API_TERMINATION] = Some(Arc::new(
            std::mem::replace(&mut self.disable_api_termination, BooleanBuilder::with_capacity(rows)).finish(),
        ));
        cols[col::DATA_EVENT] =
            Some(Arc::new(std::mem::replace(&mut self.data_event, BooleanBuilder::with_capacity(rows)).finish()));
        cols[col::INSTANCE_COUNT] =
            Some(Arc::new(std::mem::replace(&mut self.instance_count, UInt32Builder::with_capacity(rows)).finish()));
        self.rows = 0;
        let cols: Vec<ArrayRef> = cols.into_iter().flatten().collect();
        // Every column is filled above with the schema's types and equal lengths; a failure
        // here is a programming error caught by the tests, not bad data.
        RecordBatch::try_new(schema(), cols).expect("event builder columns match the event schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_batch_with_the_event_schema() {
        let mut b = EventBuilder::new(4);
        let row = Row {
            provider: "aws",
            event_id: "e1",
            service: "iam",
            action: "ListUsers",
            actor_key: "AKIA1",
            identity_class: "programmatic_user",
            source: "f:1",
            instance_count: Some(3),
            ..Default::default()
        };
        b.append(&row);
        b.append(&Row { event_id: "e2", ..row.clone() });
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), schema());
        assert!(b.is_empty());
        assert_eq!(b.finish().num_rows(), 0);
    }
}
