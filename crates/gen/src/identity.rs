//! Pre-rendered `userIdentity` objects: built once per principal or session, copied per event.

use crate::json::{time_string, Obj};

/// An IAM role: where it lives and its `AROA` principal id.
#[derive(Debug, Clone)]
pub(crate) struct Role {
    /// Owning account id.
    pub account: String,
    /// Role name.
    pub name: String,
    /// Role path, `/` or e.g. `/aws-reserved/sso.amazonaws.com/`.
    pub path: String,
    /// `AROA...` unique id.
    pub pid: String,
}

impl Role {
    /// `arn:aws:iam::ACCT:role/PATH/NAME`.
    pub(crate) fn arn(&self) -> String {
        format!("arn:aws:iam::{}:role{}{}", self.account, self.path, self.name)
    }

    /// `arn:aws:sts::ACCT:assumed-role/NAME/SESSION`.
    pub(crate) fn session_arn(&self, session: &str) -> String {
        format!("arn:aws:sts::{}:assumed-role/{}/{}", self.account, self.name, session)
    }
}

/// `userIdentity` of an IAM user calling with a long-lived key.
pub(crate) fn iam_user(account: &str, name: &str, pid: &str, key: &str) -> String {
    let mut s = String::with_capacity(200);
    Obj::new(&mut s)
        .str("type", "IAMUser")
        .str("principalId", pid)
        .str("arn", &format!("arn:aws:iam::{account}:user/{name}"))
        .str("accountId", account)
        .str("accessKeyId", key)
        .str("userName", name)
        .end();
    s
}

/// Options of an assumed-role session identity.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SessionOpts<'a> {
    /// `sessionContext.attributes.mfaAuthenticated`.
    pub mfa: bool,
    /// OIDC provider ARN for web-identity sessions (`webIdFederationData.federatedProvider`).
    pub web_provider: Option<&'a str>,
    /// `invokedBy` (service-linked roles acting for a service).
    pub invoked_by: Option<&'a str>,
    /// `sessionContext.ec2RoleDelivery` (`"2.0"`: credentials an EC2 instance got from IMDSv2).
    pub ec2_role_delivery: Option<&'a str>,
}

/// `userIdentity` of an assumed-role session.
pub(crate) fn assumed_role(role: &Role, session: &str, key: &str, created: i64, opts: SessionOpts<'_>) -> String {
    let mut s = String::with_capacity(600);
    let created = time_string(created);
    let mut o = Obj::new(&mut s)
        .str("type", "AssumedRole")
        .str("principalId", &format!("{}:{}", role.pid, session))
        .str("arn", &role.session_arn(session))
        .str("accountId", &role.account)
        .str("accessKeyId", key)
        .obj("sessionContext", |c| {
            let c = c
                .obj("sessionIssuer", |i| {
                    i.str("type", "Role")
                        .str("principalId", &role.pid)
                        .str("arn", &role.arn())
                        .str("accountId", &role.account)
                        .str("userName", &role.name)
                })
                .obj("webIdFederationData", |w| match opts.web_provider {
                    Some(p) => w.str("federatedProvider", p).obj("attributes", |a| a),
                    None => w,
                })
                .obj("attributes", |a| {
                    a.str("creationDate", &created).str("mfaAuthenticated", if opts.mfa { "true" } else { "false" })
                });
            match opts.ec2_role_delivery {
                Some(v) => c.str("ec2RoleDelivery", v),
                None => c,
            }
        });
    if let Some(by) = opts.invoked_by {
        o = o.str("invokedBy", by);
    }
    o.end();
    s
}

/// `userIdentity` of a federated user: the temporary credentials an IAM user got from
/// `sts:GetFederationToken` (`arn:aws:sts::ACCT:federated-user/NAME`, principal id
/// `ACCT:NAME`, the issuing IAM user in `sessionContext.sessionIssuer`).
pub(crate) fn federated_user(
    account: &str,
    name: &str,
    key: &str,
    created: i64,
    issuer: &str,
    issuer_pid: &str,
) -> String {
    let mut s = String::with_capacity(500);
    let created = time_string(created);
    Obj::new(&mut s)
        .str("type", "FederatedUser")
        .str("principalId", &format!("{account}:{name}"))
        .str("arn", &format!("arn:aws:sts::{account}:federated-user/{name}"))
        .str("accountId", account)
        .str("accessKeyId", key)
        .obj("sessionContext", |c| {
            c.obj("sessionIssuer", |i| {
                i.str("type", "IAMUser")
                    .str("principalId", issuer_pid)
                    .str("arn", &format!("arn:aws:iam::{account}:user/{issuer}"))
                    .str("accountId", account)
                    .str("userName", issuer)
            })
            .obj("webIdFederationData", |w| w)
            .obj("attributes", |a| a.str("creationDate", &created).str("mfaAuthenticated", "false"))
        })
        .end();
    s
}

/// `userIdentity` of an AWS service acting on the account's behalf.
pub(crate) fn aws_service(invoked_by: &str) -> String {
    let mut s = String::with_capacity(80);
    Obj::new(&mut s).str("type", "AWSService").str("invokedBy", invoked_by).end();
    s
}

/// GitHub Actions' OIDC provider ARN in an account.
pub(crate) fn github_provider(account: &str) -> String {
    format!("arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com")
}

/// `userIdentity` of the web-identity caller of `AssumeRoleWithWebIdentity` (a GitHub job).
pub(crate) fn web_identity_user(account: &str, subject: &str) -> String {
    let provider = github_provider(account);
    let mut s = String::with_capacity(300);
    Obj::new(&mut s)
        .str("type", "WebIdentityUser")
        .str("principalId", &format!("{provider}:sts.amazonaws.com:{subject}"))
        .str("userName", subject)
        .str("identityProvider", &provider)
        .end();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_identity_is_json_with_the_cloudtrail_shape() {
        let role = Role {
            account: "123456789012".into(),
            name: "gha-deploy".into(),
            path: "/".into(),
            pid: "AROAEXAMPLE".into(),
        };
        let p = github_provider("123456789012");
        let s = assumed_role(
            &role,
            "GitHubActions",
            "ASIAX",
            0,
            SessionOpts { web_provider: Some(&p), ..Default::default() },
        );
        let v: serde_json::Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v["arn"], "arn:aws:sts::123456789012:assumed-role/gha-deploy/GitHubActions");
        assert_eq!(v["sessionContext"]["sessionIssuer"]["arn"], "arn:aws:iam::123456789012:role/gha-deploy");
        assert_eq!(v["sessionContext"]["webIdFederationData"]["federatedProvider"], p.as_str());
        assert_eq!(v["sessionContext"]["attributes"]["creationDate"], "1970-01-01T00:00:00Z");
        let u: serde_json::Value = serde_json::from_str(&iam_user("1", "bob", "AIDA", "AKIA")).expect("json");
        assert_eq!(u["arn"], "arn:aws:iam::1:user/bob");
    }
}
