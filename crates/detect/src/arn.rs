//! What a caller's ARNs say about it: its own IAM user name, and whether its session is one
//! of a fleet's (an EC2 instance profile or an ECS task, whose addresses change with every
//! instance or task).

use crate::view::EventView;

/// The caller's own IAM user name (`arn:aws:iam::ACCOUNT:user/path/NAME`).
pub(crate) fn own_user<'a>(ev: &EventView<'a>, row: usize) -> Option<&'a str> {
    let arn = ev.actor_arn(row)?;
    let res = arn.splitn(6, ':').nth(5)?;
    res.starts_with("user/").then(|| res.rsplit('/').next()).flatten()
}

/// True for an EC2 instance-profile session (`…/assumed-role/<role>/i-0123…`) or an ECS task
/// session (32 hex digits): their addresses change with every instance or task.
pub(crate) fn is_fleet_session(arn: Option<&str>) -> bool {
    fleet_session(arn).is_some()
}

/// The session name of a fleet session ARN (see [`is_fleet_session`]): the instance id or the
/// task id.
pub(crate) fn fleet_session(arn: Option<&str>) -> Option<&str> {
    // Called for every event: a byte scan from the end for the session name (short), and the
    // ARN's resource type only for names that look like an instance or task.
    let arn = arn?;
    let bytes = arn.as_bytes();
    let slash = bytes.iter().rposition(|&c| c == b'/')?;
    let session = &arn[slash + 1..];
    let hex = |s: &str| s.bytes().all(|c| c.is_ascii_hexdigit());
    let fleet_like = match session.strip_prefix("i-") {
        Some(id) => (id.len() == 8 || id.len() == 17) && hex(id),
        None => session.len() == 32 && hex(session),
    };
    // `arn:partition:sts::account:assumed-role/role/session`: the resource after the 5th `:`.
    let assumed_role = || {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == b':')
            .nth(4)
            .is_some_and(|(i, _)| bytes[i + 1..].starts_with(b"assumed-role/"))
    };
    (fleet_like && assumed_role()).then_some(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_sessions_are_instances_and_tasks_of_assumed_roles() {
        assert!(is_fleet_session(Some("arn:aws:sts::1:assumed-role/web/i-0123456789abcdef0")));
        assert!(is_fleet_session(Some("arn:aws:sts::1:assumed-role/task/0123456789abcdef0123456789abcdef")));
        assert!(!is_fleet_session(Some("arn:aws:sts::1:assumed-role/ci/GitHubActions")));
        assert!(!is_fleet_session(Some("arn:aws:iam::1:user/i-01234567")));
    }
}
