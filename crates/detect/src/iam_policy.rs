//! IAM policy documents as the IAM rules read them: a document given as a request parameter
//! (a JSON object, or JSON text, possibly URL-encoded), its statements, and whether a policy
//! amounts to admin rights (a managed policy named as such, or an inline document allowing
//! every action on every resource).

use std::borrow::Cow;

use serde_json::Value;

use crate::view::EventView;

/// Default names of managed policies that amount to admin rights.
pub(crate) fn default_admin_policies() -> Vec<String> {
    vec!["AdministratorAccess".to_string(), "IAMFullAccess".to_string()]
}

/// Decodes `%XX` escapes (IAM returns trust policies URL-encoded); None when there are none or
/// the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A policy document given as a request parameter: a JSON object, or JSON text, possibly
/// URL-encoded.
pub(crate) fn policy_document(v: &Value) -> Option<Cow<'_, Value>> {
    match v {
        Value::Object(_) => Some(Cow::Borrowed(v)),
        Value::String(raw) => {
            let t = raw.trim();
            let parsed = serde_json::from_str::<Value>(t)
                .ok()
                .or_else(|| percent_decode(t).and_then(|d| serde_json::from_str::<Value>(d.trim()).ok()))?;
            parsed.is_object().then_some(Cow::Owned(parsed))
        }
        _ => None,
    }
}

/// The statements of a policy document (an array, or a single object).
pub(crate) fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().filter(|s| s.is_object()).collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

/// A string or an array of strings, as strings.
pub(crate) fn strs(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// True for an `Allow` statement.
pub(crate) fn allows(stmt: &Value) -> bool {
    stmt.get("Effect").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case("Allow"))
}

/// True when the policy document allows every action (`*`, `*:*`) or every IAM action
/// (`iam:*`, which lets the holder grant itself anything) on every resource.
pub(crate) fn grants_admin(doc: &Value) -> bool {
    statements(doc).into_iter().any(|s| {
        allows(s)
            && strs(s.get("Resource")).contains(&"*")
            && strs(s.get("Action")).iter().any(|a| *a == "*" || *a == "*:*" || a.eq_ignore_ascii_case("iam:*"))
    })
}

/// The admin policy named by `arn`, if its name (last path segment) is in `names`.
pub(crate) fn admin_policy<'a>(arn: &'a str, names: &[String]) -> Option<&'a str> {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    names.iter().any(|n| n.eq_ignore_ascii_case(name)).then_some(name)
}

/// What makes a policy grant admin rights: the managed policy's name, or a description of the
/// inline document (`field` of the request, e.g. `policyDocument`).
pub(crate) fn admin_grant(ev: &EventView<'_>, row: usize, names: &[String], field: &str) -> Option<String> {
    if let Some(name) = ev.policy_arn(row).and_then(|arn| admin_policy(arn, names)) {
        return Some(name.to_string());
    }
    let req = ev.request_json(row)?;
    let doc = policy_document(req.get(field)?)?;
    grants_admin(&doc).then(|| {
        let name = req.get("policyName").and_then(Value::as_str).unwrap_or("inline");
        format!("inline policy {name} allowing * on *")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn policy_documents_are_read_plain_or_url_encoded() {
        let plain = json!(r#"{"Statement":[{"Effect":"Allow","Action":["*:*"],"Resource":["*"]}]}"#);
        assert!(grants_admin(&policy_document(&plain).expect("doc")));
        let encoded = json!("%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22iam%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%7D");
        assert!(grants_admin(&policy_document(&encoded).expect("doc")));
        let narrow = json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        assert!(!grants_admin(&policy_document(&narrow).expect("doc")));
        let deny = json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]});
        assert!(!grants_admin(&policy_document(&deny).expect("doc")));
        assert!(policy_document(&json!("not json %ZZ")).is_none());
        assert_eq!(
            admin_policy("arn:aws:iam::aws:policy/AdministratorAccess", &default_admin_policies()),
            Some("AdministratorAccess")
        );
        assert_eq!(admin_policy("arn:aws:iam::aws:policy/ReadOnlyAccess", &default_admin_policies()), None);
    }
}
