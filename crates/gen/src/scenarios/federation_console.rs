//! `federation_console`: a stolen long-lived `AKIA` key of a programmatic user mints a
//! federated user with `sts:GetFederationToken` and the attacker signs in to the console
//! with it (the way tools like `aws_consoler` turn an access key into a console session that
//! survives the key's deactivation for up to 36 hours).
//!
//! From an attacker address ([`super::attacker_source`]), within a few minutes:
//!
//! 1. `GetCallerIdentity` with the stolen key (a CLI or Pacu user agent);
//! 2. `GetFederationToken` with the stolen key: `requestParameters` `name` (e.g.
//!    `ops-console`), `durationSeconds` 129600, and either `policy` allowing `*` on `*` or
//!    `policyArns` `[{"arn":"arn:aws:iam::aws:policy/AdministratorAccess"}]`;
//!    `responseElements.credentials.accessKeyId` a new `ASIA` key,
//!    `federatedUser.arn` `arn:aws:sts::ACCT:federated-user/NAME`, `federatedUserId`
//!    `ACCT:NAME`, `packedPolicySize`;
//! 3. 5–30 s later `signin.amazonaws.com` `GetSigninToken` (`eventType` `AwsConsoleSignIn`,
//!    `responseElements` `{"GetSigninToken":"Success"}`, user agent `python-requests/2.31.0`)
//!    as the `FederatedUser` with the federation key;
//! 4. 3–20 s later `ConsoleLogin` (`{"ConsoleLogin":"Success"}`, Firefox on Linux) as the
//!    `FederatedUser`, with the console session's own new `ASIA` key;
//! 5. 3–5 console reads (`sessionCredentialFromConsole`) with that console key, 8–40 s apart:
//!    `ListUsers`, `ListBuckets`, `DescribeInstances`, `ListSecrets`, `ListRoles` (a subset,
//!    in that order).
//!
//! Every `FederatedUser` identity names the stolen user in `sessionContext.sessionIssuer`
//! (type `IAMUser`). One label, `iam_backdoor_credentials`, actor the stolen `AKIA` key; its
//! events are all of the above (the sign-in and console events carry the federated keys).

use rand::Rng as _;

use super::{
    attacker_source, json_str, pick_fresh, sample, ScenarioDef, Victim, ADMIN_POLICY, ALLOW_ALL, RETRY, UA_KALI_CLI,
    UA_KALI_FIREFOX, UA_PACU,
};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::session_key;
use crate::event::{Call, Host, Kind};
use crate::identity::federated_user;
use crate::json::{expiration_string, Obj};
use trailhound_model::time::{HOUR, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef =
    ScenarioDef { name: "federation_console", rules: &["iam_backdoor_credentials"], plan };

/// Names attackers give the federated user.
const NAMES: [&str; 5] = ["ops-console", "support", "admin-session", "svc-console", "aws-ops"];

/// The sign-in script's user agent.
pub(crate) const UA_REQUESTS: &str = "python-requests/2.31.0";

/// Console reads after the sign-in: (service, name, global).
const READS: [(&str, &str, bool); 5] = [
    ("iam", "ListUsers", true),
    ("s3", "ListBuckets", true),
    ("ec2", "DescribeInstances", false),
    ("secretsmanager", "ListSecrets", false),
    ("iam", "ListRoles", true),
];

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    if est.users.is_empty() {
        return Planned::NotYet;
    }
    let all: Vec<usize> = (0..est.users.len()).collect();
    let Some(pick) = pick_fresh(cx, &all, cx.k as usize * 4 + 3, |i| est.users[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let u = &est.users[pick];
    let acct = est.id(u.account);
    let ip = attacker_source(out.rng, est);
    let cli = if out.rng.random_bool(0.5) { UA_KALI_CLI } else { UA_PACU };
    let name = NAMES[out.rng.random_range(0..NAMES.len())];
    let fed_key = session_key(out.rng);
    let console_key = session_key(out.rng);

    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&Call::new(t, &u.ident, "sts", "GetCallerIdentity", u.region, &ip, cli, acct));
    t += out.rng.random_range(5 * SECOND..40 * SECOND);
    let (mut req, mut resp) = (String::new(), String::new());
    let o = Obj::new(&mut req).str("name", name).num("durationSeconds", 129_600);
    if out.rng.random_bool(0.5) {
        o.str("policy", ALLOW_ALL).end();
    } else {
        o.raw("policyArns", &format!("[{{\"arn\":{}}}]", json_str(ADMIN_POLICY))).end();
    }
    let fed_arn = format!("arn:aws:sts::{acct}:federated-user/{name}");
    Obj::new(&mut resp)
        .obj("credentials", |c| {
            c.str("accessKeyId", &fed_key)
                .str("sessionToken", "IQoJb3JpZ2luX2VjEOH//////////wEaCXVzLWVhc3QtMSJIMEYCIQDzpomGZAmkp4RIzBo4RqVJ")
                .str("expiration", &expiration_string(t + 36 * HOUR))
        })
        .obj("federatedUser", |f| f.str("federatedUserId", &format!("{acct}:{name}")).str("arn", &fed_arn))
        .num("packedPolicySize", out.rng.random_range(4..12))
        .end();
    out.emit(
        &Call::new(t, &u.ident, "sts", "GetFederationToken", u.region, &ip, cli, acct)
            .req(&req)
            .resp(&resp)
            .read_only(false),
    );
    let created = t;

    // The sign-in URL is fetched by a script, then opened in the attacker's browser.
    t += out.rng.random_range(5 * SECOND..30 * SECOND);
    let fed_ident = federated_user(acct, name, &fed_key, created, &u.name, &u.pid);
    let mut extra = String::new();
    Obj::new(&mut extra).str("MobileVersion", "No").str("MFAUsed", "No").end();
    out.emit(
        &Call::new(t, &fed_ident, "signin", "GetSigninToken", "us-east-1", &ip, UA_REQUESTS, acct)
            .resp("{\"GetSigninToken\":\"Success\"}")
            .extra(&extra)
            .kind(Kind::SignIn)
            .read_only(false)
            .host(Host::Custom("signin.aws.amazon.com")),
    );
    t += out.rng.random_range(3 * SECOND..20 * SECOND);
    let console_ident = federated_user(acct, name, &console_key, created, &u.name, &u.pid);
    Obj::new(&mut extra)
        .str("LoginTo", "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true")
        .str("MobileVersion", "No")
        .str("MFAUsed", "No")
        .end();
    out.emit(
        &Call::new(t, &console_ident, "signin", "ConsoleLogin", "us-east-1", &ip, UA_KALI_FIREFOX, acct)
            .resp("{\"ConsoleLogin\":\"Success\"}")
            .extra(&extra)
            .kind(Kind::SignIn)
            .read_only(false)
            .host(Host::Custom("signin.aws.amazon.com")),
    );

    // A look around in the console.
    let n = out.rng.random_range(3..=5usize);
    let mut reads = sample(out.rng, &[0usize, 1, 2, 3, 4], n);
    reads.sort_unstable();
    for i in reads {
        let (svc, call, global) = READS[i];
        t += out.rng.random_range(8 * SECOND..40 * SECOND);
        let region = if global { "us-east-1" } else { u.region };
        let c = Call::new(t, &console_ident, svc, call, region, &ip, UA_KALI_FIREFOX, acct).kind(Kind::ConsoleApi);
        out.emit(&match call {
            "ListBuckets" => c.req("{\"Host\":\"s3.amazonaws.com\"}"),
            "DescribeInstances" => c.req("{\"instancesSet\":{},\"filterSet\":{}}"),
            _ => c,
        });
    }
    Planned::Done(Victim { actor_key: u.key.clone(), account: acct.to_string() })
}
