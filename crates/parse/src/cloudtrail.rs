//! CloudTrail record (a tape object) → one normalized [`Row`].

use simd_json::{Node, StaticNode};
use trailhound_model::{IdentityClass, Origin};

use crate::builder::Row;
use crate::error::DeadReason;
use crate::identity::{actor_key, classify_and_origin_cached, IdentityInput, UaCache};
use crate::json::{self, as_bool, as_f64, as_str, elements, entries, get, is_null, type_name};
use crate::time::{classify_epoch_number, classify_timestamp, TimeValue};

/// Owned text a row needs beyond what it borrows from the input; reused between records.
#[derive(Default)]
pub(crate) struct Scratch {
    pub request: String,
    pub response: String,
    pub event_id: String,
    pub ua_cache: UaCache,
}

/// What the caller tracks across records: the last good event time (for records without one).
pub(crate) struct Context<'a> {
    pub source: &'a str,
    pub received_time: Option<i64>,
    pub last_time: Option<i64>,
    pub keep_json_max: usize,
}

fn string_field<'i>(v: &[Node<'i>], field: &'static str) -> Result<Option<&'i str>, DeadReason> {
    match v.first() {
        Some(Node::String(s)) => Ok(Some(s)),
        _ if is_null(v) => Ok(None),
        _ => Err(DeadReason::WrongType { field, expected: "a string", found: type_name(v) }),
    }
}

fn object_field(v: &[Node<'_>], field: &'static str) -> Result<bool, DeadReason> {
    match v.first() {
        Some(Node::Object { .. }) => Ok(true),
        _ if is_null(v) => Ok(false),
        _ => Err(DeadReason::WrongType { field, expected: "an object", found: type_name(v) }),
    }
}

/// What a time field holds: text in one of the formats of [`classify_timestamp`], or an
/// epoch number.
fn time_value(v: &[Node<'_>]) -> TimeValue {
    match v.first() {
        Some(Node::String(s)) => classify_timestamp(s),
        Some(Node::Static(StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::F64(_))) => {
            as_f64(v).map_or(TimeValue::NotATime, classify_epoch_number)
        }
        _ => TimeValue::NotATime,
    }
}

/// A value from the log for a message: its text (or JSON), at most 64 characters, with
/// control and bidirectional-override characters escaped.
fn shown(v: &[Node<'_>]) -> String {
    const MAX: usize = 64;
    let mut json = String::new();
    let text = match as_str(v) {
        Some(s) => s,
        None => {
            json::write_json(v, &mut json);
            json.as_str()
        }
    };
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Verbs of calls that read without changing anything (used when `readOnly` is absent).
fn read_verb(action: &str) -> bool {
    const VERBS: [&str; 12] =
        ["Get", "List", "Describe", "Head", "Lookup", "Search", "Query", "Scan", "BatchGet", "Select", "View", "Check"];
    VERBS.iter().any(|v| action.starts_with(v))
}

/// Guesses the provider of a JSON object that is not CloudTrail, for a clear dead-letter reason.
fn foreign_format(obj: &[Node<'_>]) -> DeadReason {
    let mut gcp = false;
    let mut azure = false;
    for (k, _) in entries(obj) {
        match k {
            "protoPayload" | "logName" | "insertId" => gcp = true,
            "operationName" | "resourceId" | "callerIpAddress" | "category" => azure = true,
            _ => {}
        }
    }
    if gcp {
        DeadReason::UnsupportedFormat("GCP Cloud Audit Log record (not read by this version)")
    } else if azure {
        DeadReason::UnsupportedFormat("Azure Activity Log record (not read by this version)")
    } else {
        DeadReason::MissingField("eventName")
    }
}

/// The `requestParameters` fields rows and rules read: the first value of each key, found in
/// one pass over the object (instead of one `get` per key).
#[derive(Default)]
struct Request<'t, 'i> {
    user_name: Option<&'t [Node<'i>]>,
    role_name: Option<&'t [Node<'i>]>,
    policy_arn: Option<&'t [Node<'i>]>,
    instance_type: Option<&'t [Node<'i>]>,
    instances_set: Option<&'t [Node<'i>]>,
    /// `maxCount`, `instanceCount`, `count`, `desiredCapacity`, `maxSize`, `targetCapacity`, in
    /// the order they are tried.
    counts: [Option<&'t [Node<'i>]>; 6],
    target_capacity_specification: Option<&'t [Node<'i>]>,
    spot_fleet_request_config: Option<&'t [Node<'i>]>,
    disable_api_termination: Option<&'t [Node<'i>]>,
}

impl<'t, 'i> Request<'t, 'i> {
    /// Reads the object at `req[0]` (nothing when it is not an object, or empty).
    fn read(req: &'t [Node<'i>]) -> Self {
        let mut r = Self::default();
        for (k, v) in entries(req) {
            let slot = match k {
                "userName" => &mut r.user_name,
                "roleName" => &mut r.role_name,
                "policyArn" => &mut r.policy_arn,
                "instanceType" => &mut r.instance_type,
                "instancesSet" => &mut r.instances_set,
                "maxCount" => &mut r.counts[0],
                "instanceCount" => &mut r.counts[1],
                "count" => &mut r.counts[2],
                "desiredCapacity" => &mut r.counts[3],
                "maxSize" => &mut r.counts[4],
                "targetCapacity" => &mut r.counts[5],
                "targetCapacitySpecification" => &mut r.target_capacity_specification,
                "spotFleetRequestConfig" => &mut r.spot_fleet_request_config,
                "disableApiTermination" => &mut r.disable_api_termination,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        r
    }

    fn instance_count(&self) -> Option<u32> {
        let as_u32 = |v: &[Node<'_>]| as_f64(v).filter(|n| *n >= 0.0).map(|n| n.min(f64::from(u32::MAX)) as u32);
        if let Some(items) = self.instances_set.and_then(|s| get(s, "items")) {
            let total: u32 =
                elements(items).filter_map(|it| get(it, "maxCount").and_then(as_u32)).fold(0u32, u32::saturating_add);
            if total > 0 {
                return Some(total);
            }
        }
        for v in self.counts.iter().flatten() {
            if let Some(n) = as_u32(v) {
                return Some(n);
            }
        }
        self.target_capacity_specification
            .and_then(|v| get(v, "totalTargetCapacity"))
            .or_else(|| self.spot_fleet_request_config.and_then(|v| get(v, "targetCapacity")))
            .and_then(as_u32)
    }

    fn termination_flag(&self) -> Option<bool> {
        let v = self.disable_api_termination?;
        as_bool(v).or_else(|| get(v, "value").and_then(as_bool))
    }
}

/// The `userIdentity` fields classification reads: the first value of each key (and of each
/// key on the way to a nested one), found in one pass over each object on the way.
#[derive(Default)]
struct UserIdentity<'t, 'i> {
    kind: Option<&'t [Node<'i>]>,
    arn: Option<&'t [Node<'i>]>,
    principal_id: Option<&'t [Node<'i>]>,
    access_key_id: Option<&'t [Node<'i>]>,
    invoked_by: Option<&'t [Node<'i>]>,
    account_id: Option<&'t [Node<'i>]>,
    /// `sessionContext.sessionIssuer.arn`.
    issuer_arn: Option<&'t [Node<'i>]>,
    /// `sessionContext.sessionIssuer.userName`.
    issuer_name: Option<&'t [Node<'i>]>,
    /// `sessionContext.webIdFederationData.federatedProvider`.
    federated_provider: Option<&'t [Node<'i>]>,
    /// `sessionContext.attributes.mfaAuthenticated`.
    mfa: Option<&'t [Node<'i>]>,
}

/// The first value of `key` in the object at `v` (when there is one).
fn first<'t, 'i>(v: Option<&'t [Node<'i>]>, key: &str) -> Option<&'t [Node<'i>]> {
    v.and_then(|v| get(v, key))
}

impl<'t, 'i> UserIdentity<'t, 'i> {
    /// Reads the object at `ui[0]` (nothing when it is not an object, or empty).
    fn read(ui: &'t [Node<'i>]) -> Self {
        let mut u = Self::default();
        let mut session_context = None;
        for (k, v) in entries(ui) {
            let slot = match k {
                "type" => &mut u.kind,
                "arn" => &mut u.arn,
                "principalId" => &mut u.principal_id,
                "accessKeyId" => &mut u.access_key_id,
                "invokedBy" => &mut u.invoked_by,
                "accountId" => &mut u.account_id,
                "sessionContext" => &mut session_context,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        if let Some(sc) = session_context {
            let (mut issuer, mut web_id, mut attributes) = (None, None, None);
            for (k, v) in entries(sc) {
                let slot = match k {
                    "sessionIssuer" => &mut issuer,
                    "webIdFederationData" => &mut web_id,
                    "attributes" => &mut attributes,
                    _ => continue,
                };
                if slot.is_none() {
                    *slot = Some(v);
                }
            }
            if let Some(issuer) = issuer {
                for (k, v) in entries(issuer) {
                    let slot = match k {
                        "arn" => &mut u.issuer_arn,
                        "userName" => &mut u.issuer_name,
                        _ => continue,
                    };
                    if slot.is_none() {
                        *slot = Some(v);
                    }
                }
            }
            u.federated_provider = first(web_id, "federatedProvider");
            u.mfa = first(attributes, "mfaAuthenticated");
        }
        u
    }
}

/// `string_field` of a value that may be absent.
fn opt_string_field<'i>(v: Option<&[Node<'i>]>, field: &'static str) -> Result<Option<&'i str>, DeadReason> {
    match v {
        Some(v) => string_field(v, field),
        None => Ok(None),
    }
}

/// Normalizes one CloudTrail record and hands the row to `emit`.
pub(crate) fn normalize<'i>(
    obj: &[Node<'i>],
    ctx: &mut Context<'_>,
    scratch: &mut Scratch,
    emit: impl FnOnce(&Row<'_>),
) -> Result<(), DeadReason> {
    if !matches!(obj.first(), Some(Node::Object { .. })) {
        return Err(DeadReason::NotAnObject { found: type_name(obj) });
    }
    let mut event_time_v = None;
    let mut p_event_time = None;
    let mut event_id = None;
    let mut event_name = None;
    let mut event_source = None;
    let mut region = None;
    let mut recipient = None;
    let mut error_code = None;
    let mut source_ip = None;
    let mut user_agent = None;
    let mut read_only = None;
    let mut event_type = None;
    let mut data_event = false;
    let mut console_session = false;
    let mut ui: &[Node<'i>] = &[];
    let mut req: &[Node<'i>] = &[];
    let mut resp: &[Node<'i>] = &[];
    for (k, v) in entries(obj) {
        match k {
            "eventTime" => event_time_v = Some(v),
            "p_event_time" => p_event_time = Some(v),
            "eventID" => event_id = string_field(v, "eventID")?,
            "eventName" => event_name = string_field(v, "eventName")?,
            "eventSource" => event_source = string_field(v, "eventSource")?,
            "awsRegion" => region = string_field(v, "awsRegion")?,
            "recipientAccountId" => recipient = string_field(v, "recipientAccountId")?,
            "errorCode" => error_code = string_field(v, "errorCode")?,
            "sourceIPAddress" => source_ip = string_field(v, "sourceIPAddress")?,
            "userAgent" => user_agent = string_field(v, "userAgent")?,
            "eventType" => event_type = string_field(v, "eventType")?,
            "readOnly" => read_only = as_bool(v),
            "eventCategory" => data_event |= as_str(v) == Some("Data"),
            "managementEvent" => data_event |= as_bool(v) == Some(false),
            "sessionCredentialFromConsole" => {
                console_session = as_bool(v).or_else(|| as_str(v).map(|s| s.eq_ignore_ascii_case("true"))) == Some(true)
            }
            // A null object is as good as none (the guard fails, and `_` ignores it).
            "userIdentity" if object_field(v, "userIdentity")? => ui = v,
            "requestParameters" if object_field(v, "requestParameters")? => req = v,
            "responseElements" => resp = v,
            _ => {}
        }
    }
    let Some(action) = event_name else {
        return Err(foreign_format(obj));
    };

    // Time: eventTime, else an export's p_event_time, else inferred from the stream. A value
    // shaped like a time that names no real instant (or one outside 2000..=2199) is bad data.
    if let Some(v) = event_time_v {
        if !is_null(v) && !matches!(v.first(), Some(Node::String(_) | Node::Static(_))) {
            return Err(DeadReason::WrongType { field: "eventTime", expected: "a string", found: type_name(v) });
        }
    }
    let mut parsed = None;
    for (field, v) in [("eventTime", event_time_v), ("p_event_time", p_event_time)] {
        match v.map_or(TimeValue::NotATime, time_value) {
            TimeValue::Valid(t) => {
                parsed = Some(t);
                break;
            }
            TimeValue::Invalid(why) => {
                return Err(DeadReason::InvalidTime { field, value: shown(v.unwrap_or_default()), why });
            }
            TimeValue::NotATime => {}
        }
    }
    let (event_time, time_inferred) = match parsed {
        Some(t) => {
            ctx.last_time = Some(ctx.last_time.map_or(t, |l| l.max(t)));
            (t, false)
        }
        None => (ctx.last_time.or(ctx.received_time).unwrap_or(0), true),
    };

    // Identity.
    let u = UserIdentity::read(ui);
    let id = IdentityInput {
        kind: opt_string_field(u.kind, "userIdentity.type")?,
        arn: opt_string_field(u.arn, "userIdentity.arn")?,
        principal_id: opt_string_field(u.principal_id, "userIdentity.principalId")?,
        access_key_id: opt_string_field(u.access_key_id, "userIdentity.accessKeyId")?,
        invoked_by: opt_string_field(u.invoked_by, "userIdentity.invokedBy")?,
        issuer_arn: opt_string_field(u.issuer_arn, "userIdentity.sessionContext.sessionIssuer.arn")?,
        issuer_name: opt_string_field(u.issuer_name, "userIdentity.sessionContext.sessionIssuer.userName")?,
        federated_provider: opt_string_field(
            u.federated_provider,
            "userIdentity.sessionContext.webIdFederationData.federatedProvider",
        )?,
        mfa: u.mfa.and_then(as_bool).unwrap_or(false),
        user_agent,
        source_ip,
        event_type,
        event_name: Some(action),
    };
    let (class, origin): (IdentityClass, Origin) =
        classify_and_origin_cached(&id, console_session, &mut scratch.ua_cache);
    let account = recipient.or(opt_string_field(u.account_id, "userIdentity.accountId")?);
    let actor = actor_key(&id);
    let service = event_source.map(|s| s.strip_suffix(".amazonaws.com").unwrap_or(s)).unwrap_or("unknown");
    let read_only = read_only.or_else(|| Some(read_verb(action)));

    let event_id = match event_id {
        Some(e) if !e.is_empty() => e,
        _ => {
            // Exports without ids: derive one from what identifies the call, so replays agree.
            let h = trailhound_model::stable_hash(&[
                action.as_bytes(),
                actor.as_bytes(),
                &event_time.to_le_bytes(),
                ctx.source.as_bytes(),
            ]);
            scratch.event_id.clear();
            use std::fmt::Write as _;
            let _ = write!(scratch.event_id, "th-{h:016x}");
            scratch.event_id.as_str()
        }
    };

    // Request fields rules need; the full JSON only for mutating calls (evidence, policies).
    let mut row_req = None;
    let mut row_resp = None;
    // Secret reads keep theirs too: which secret was read tells an IaC refresh of the
    // secrets it manages from a harvest.
    let secret_read = matches!(service, "secretsmanager" | "ssm") && read_only != Some(false);
    if read_only == Some(false) || secret_read {
        if !req.is_empty() {
            scratch.request.clear();
            json::write_json(req, &mut scratch.request);
            if scratch.request.len() <= ctx.keep_json_max {
                row_req = Some(scratch.request.as_str());
            }
        }
        if read_only == Some(false) && matches!(resp.first(), Some(Node::Object { .. })) {
            scratch.response.clear();
            json::write_json(resp, &mut scratch.response);
            if scratch.response.len() <= ctx.keep_json_max {
                row_resp = Some(scratch.response.as_str());
            }
        }
    }
    let r = Request::read(req);
    let row = Row {
        provider: "aws",
        event_id,
        event_time,
        time_inferred,
        received_time: ctx.received_time,
        account,
        region,
        service,
        action,
        read_only,
        error_code: error_code.filter(|e| !e.is_empty()),
        actor_key: actor,
        actor_arn: id.arn,
        actor_type: id.kind,
        access_key_id: id.access_key_id.filter(|k| !k.is_empty()),
        session_issuer: id.issuer_arn,
        identity_class: class.as_str(),
        source_ip,
        user_agent,
        target_user: r.user_name.and_then(as_str),
        target_role: r.role_name.and_then(as_str),
        policy_arn: r.policy_arn.and_then(as_str),
        instance_count: r.instance_count(),
        instance_type: r.instance_type.and_then(as_str),
        disable_api_termination: r.termination_flag(),
        request_parameters: row_req,
        response_elements: row_resp,
        source: ctx.source,
        data_event,
        origin: origin.as_str(),
        invoked_by: id.invoked_by.filter(|b| !b.is_empty()),
    };
    emit(&row);
    Ok(())
}
