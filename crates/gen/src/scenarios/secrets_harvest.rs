//! `secrets_harvest`: a stolen ECS task-role session (`assumed-role/<app>-task-role/<task
//! id>`, its `ASIA` key taken from the container's credentials endpoint) used from the
//! attacker's address to collect every secret it can, over 2–5 minutes:
//! `GetCallerIdentity`; `ListSecrets` (`maxResults` 100); `GetSecretValue` of 10–16
//! distinct secrets by ARN (`secretId`), 3–6 of them failing with `AccessDeniedException`;
//! `BatchGetSecretValue` (`filters` on the name prefix); SSM `GetParametersByPath` (`path`
//! `/`, `recursive` and `withDecryption` true) twice (the second with a `nextToken`);
//! `DescribeInstances` then EC2 `GetPasswordData` for three instances. One label,
//! `credential_harvesting`.

use rand::Rng as _;

use super::{
    attacker_ip, json_str, live_sessions, pick_fresh, sample, Attacker, ScenarioDef, Victim, RETRY, UA_VPS_CLI,
};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::json::{alnum_id, hex, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef { name: "secrets_harvest", rules: &["credential_harvesting"], plan };

/// Secrets an account holds (prefixed with the environment name).
const SECRETS: [&str; 16] = [
    "payments/db-credentials",
    "orders-api/db-credentials",
    "ledger-sync/db-credentials",
    "stripe/api-key",
    "github/deploy-token",
    "datadog/api-key",
    "sendgrid/api-key",
    "rds/master-password",
    "notifier/twilio-token",
    "jwt/signing-key",
    "okta/client-secret",
    "slack/webhook-url",
    "pagerduty/routing-key",
    "snowflake/service-user",
    "elastic/api-key",
    "redis/auth-token",
];

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    let live = live_sessions(cx, &est.tasks, 50 * MINUTE, |_| true);
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, cx.k as usize * 3 + 1, |i| est.tasks[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.tasks[pick];
    let acct = est.id(s.account);
    let env = est.accounts[s.account].name;
    let region = s.region;
    let ip = attacker_ip(out.rng);
    let a = Attacker { ident: &s.ident, arn: &s.arn, acct, ip: &ip, ua: UA_VPS_CLI };
    let span = out.rng.random_range(2 * MINUTE..5 * MINUTE) - 30 * SECOND;

    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    let end = t + span;
    out.emit(&a.call(t, "sts", "GetCallerIdentity", region));
    t += out.rng.random_range(2 * SECOND..8 * SECOND);
    out.emit(&a.call(t, "secretsmanager", "ListSecrets", region).req("{\"maxResults\":100}"));

    let n = out.rng.random_range(10..=16usize);
    let names = sample(out.rng, &SECRETS, n);
    let n_denied = out.rng.random_range(3..=6usize);
    let denied_at = sample(out.rng, &(0..n).collect::<Vec<_>>(), n_denied);
    let gap = (span / 2) / n as i64;
    let mut req = String::new();
    for (i, name) in names.iter().enumerate() {
        t += out.rng.random_range(gap / 2..gap * 3 / 2);
        let arn = format!("arn:aws:secretsmanager:{region}:{acct}:secret:{env}/{name}-{}", alnum_id(out.rng, "", 6));
        Obj::new(&mut req).str("secretId", &arn).end();
        let c = a.call(t, "secretsmanager", "GetSecretValue", region).req(&req);
        if denied_at.contains(&i) {
            let msg = format!("User: {} is not authorized to perform: secretsmanager:GetSecretValue on resource: {arn} because no identity-based policy allows the secretsmanager:GetSecretValue action", s.arn);
            out.emit(&c.err("AccessDeniedException", &msg));
        } else {
            out.emit(&c);
        }
    }
    t += out.rng.random_range(3 * SECOND..15 * SECOND);
    req = format!("{{\"filters\":[{{\"key\":\"name\",\"values\":[{}]}}],\"maxResults\":20}}", json_str(env));
    out.emit(&a.call(t, "secretsmanager", "BatchGetSecretValue", region).req(&req));

    t += out.rng.random_range(5 * SECOND..20 * SECOND);
    out.emit(
        &a.call(t, "ssm", "GetParametersByPath", region)
            .req("{\"path\":\"/\",\"recursive\":true,\"withDecryption\":true}"),
    );
    t += out.rng.random_range(SECOND..4 * SECOND);
    req = format!(
        "{{\"path\":\"/\",\"recursive\":true,\"withDecryption\":true,\"nextToken\":\"AAEAA{}\"}}",
        hex(out.rng, 40)
    );
    out.emit(&a.call(t, "ssm", "GetParametersByPath", region).req(&req));

    t = t.max(end - 40 * SECOND) + out.rng.random_range(2 * SECOND..10 * SECOND);
    out.emit(
        &a.call(t, "ec2", "DescribeInstances", region).req(
            "{\"instancesSet\":{},\"filterSet\":{\"items\":[{\"name\":\"platform\",\"valueSet\":{\"items\":[{\"value\":\"windows\"}]}}]}}",
        ),
    );
    for _ in 0..3 {
        t += out.rng.random_range(2 * SECOND..8 * SECOND);
        Obj::new(&mut req).str("instanceId", &format!("i-{}", hex(out.rng, 17))).end();
        out.emit(&a.call(t, "ec2", "GetPasswordData", region).req(&req));
    }
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
