//! EC2 requests as more than one rule reads them: termination protection turned on, in either
//! request form (`RunInstances` with `disableApiTermination`, or `ModifyInstanceAttribute`).

use serde_json::Value;

use crate::view::EventView;

/// Termination protection requested on by one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtectOn {
    /// Instances it asks to protect (RunInstances: instances requested; Modify: 1).
    pub instances: u64,
    /// The instance modified (`ModifyInstanceAttribute` `instanceId`), when known.
    pub instance_id: Option<String>,
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        Value::Object(m) => m.get("value").is_some_and(truthy),
        _ => false,
    }
}

/// `Some` when event `row` turns EC2 termination protection on (successful or not): a
/// `RunInstances` or `ModifyInstanceAttribute` with `disableApiTermination` true, in either
/// request form. Calls by AWS services are the caller's business to filter.
pub(crate) fn protection_on(ev: &EventView<'_>, row: usize) -> Option<ProtectOn> {
    if ev.service(row) != "ec2" {
        return None;
    }
    match ev.action(row) {
        "RunInstances" => (ev.disable_api_termination(row) == Some(true))
            .then(|| ProtectOn { instances: u64::from(ev.instance_count(row).unwrap_or(1).max(1)), instance_id: None }),
        "ModifyInstanceAttribute" => {
            let req = ev.request_json(row);
            let on = match ev.disable_api_termination(row) {
                Some(flag) => flag,
                // CLI form: `--attribute disableApiTermination --value true`.
                None => req.as_ref().is_some_and(|r| {
                    r.get("attribute").and_then(Value::as_str) == Some("disableApiTermination")
                        && r.get("value").is_some_and(truthy)
                }),
            };
            on.then(|| ProtectOn {
                instances: 1,
                instance_id: req.as_ref().and_then(|r| r.get("instanceId")).and_then(Value::as_str).map(str::to_string),
            })
        }
        _ => None,
    }
}
