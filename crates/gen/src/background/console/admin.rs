//! Administrators' IAM and CloudTrail work in the console (IAM users for contractors, roles,
//! S3 data events on the account trail).

use rand::Rng as _;

use super::{Human, Live};
use crate::background::uni;
use crate::engine::Cx;
use crate::estate::unique_id;
use crate::event::{Call, Kind};
use crate::json::{hex, Obj};
use trailhound_model::time::SECOND;

fn con<'a>(t: i64, ident: &'a str, name: &'a str, req: &'a str, ip: &'a str, ua: &'a str, acct: &'a str) -> Call<'a> {
    Call::new(t, ident, "iam", name, "us-east-1", ip, ua, acct).req(req).kind(Kind::ConsoleApi)
}

impl Human {
    /// An administrator's occasional IAM and CloudTrail work in the console.
    pub(super) fn admin_work(&mut self, now: i64, cx: &mut Cx<'_>, live: &Live, acct: &str) -> i64 {
        match cx.rng.random_range(0..100) {
            0..20 => self.create_person_user(now, cx, &live.ident, acct),
            20..35 => self.add_data_events(now, cx, live, acct),
            _ => self.iam_admin_work(now, cx, &live.ident, acct),
        }
    }

    /// Creates an IAM user for a contractor: `CreateUser`, `CreateLoginProfile` (password
    /// reset required), `AttachUserPolicy` of a non-admin managed policy.
    fn create_person_user(&mut self, now: i64, cx: &mut Cx<'_>, ident: &str, acct: &str) -> i64 {
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let first = ["jordan", "sam", "alex", "robin", "kim", "lee"][rng.random_range(0..6)];
        let user = format!("{first}.contractor-{}", hex(rng, 4));
        let mut t = now;
        Obj::new(&mut s.req).str("userName", &user).str("path", "/").end();
        Obj::new(&mut s.resp)
            .obj("user", |u| {
                u.str("path", "/")
                    .str("userName", &user)
                    .str("userId", &unique_id(rng, "AIDA"))
                    .str("arn", &format!("arn:aws:iam::{acct}:user/{user}"))
                    .str("createDate", &crate::json::iam_date_string(t))
            })
            .end();
        em.bg(&con(t, ident, "CreateUser", &s.req, ip, ua, acct).resp(&s.resp), rng);
        t += uni(rng, 5 * SECOND, 30 * SECOND);
        Obj::new(&mut s.req).str("userName", &user).bool("passwordResetRequired", true).end();
        Obj::new(&mut s.resp)
            .obj("loginProfile", |p| {
                p.str("userName", &user)
                    .str("createDate", &crate::json::iam_date_string(t))
                    .bool("passwordResetRequired", true)
            })
            .end();
        em.bg(&con(t, ident, "CreateLoginProfile", &s.req, ip, ua, acct).resp(&s.resp), rng);
        for policy in ["ReadOnlyAccess", "IAMUserChangePassword"] {
            t += uni(rng, 2 * SECOND, 15 * SECOND);
            Obj::new(&mut s.req)
                .str("userName", &user)
                .str("policyArn", &format!("arn:aws:iam::aws:policy/{policy}"))
                .end();
            em.bg(&con(t, ident, "AttachUserPolicy", &s.req, ip, ua, acct), rng);
        }
        t
    }

    /// Adds S3 data events to the account trail, keeping management events.
    fn add_data_events(&mut self, now: i64, cx: &mut Cx<'_>, live: &Live, acct: &str) -> i64 {
        let (name, arn, _) = cx.est.account_trail(live.account);
        let region = cx.est.accounts[live.account].region;
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let c = |t, n| Call::new(t, &live.ident, "cloudtrail", n, region, ip, ua, acct).kind(Kind::ConsoleApi);
        let mut t = now;
        Obj::new(&mut s.req).str("trailName", &name).end();
        em.bg(&c(t, "GetEventSelectors").req(&s.req), rng);
        t += uni(rng, 20 * SECOND, 90 * SECOND);
        let bucket = ["payments", "orders-api", "reports"][rng.random_range(0..3)];
        let selectors = format!(
            "[{{\"readWriteType\":\"All\",\"includeManagementEvents\":true,\"dataResources\":[{{\"type\":\"AWS::S3::Object\",\"values\":[\"arn:aws:s3:::{bucket}-{}-{acct}/\"]}}],\"excludeManagementEventSources\":[]}}]",
            cx.est.accounts[live.account].name
        );
        Obj::new(&mut s.req).str("trailName", &name).raw("eventSelectors", &selectors).end();
        Obj::new(&mut s.resp).str("trailARN", &arn).raw("eventSelectors", &selectors).end();
        em.bg(&c(t, "PutEventSelectors").req(&s.req).resp(&s.resp), rng);
        t += uni(rng, 2 * SECOND, 10 * SECOND);
        Obj::new(&mut s.req).str("name", &arn).end();
        em.bg(&c(t, "GetTrailStatus").req(&s.req), rng);
        t
    }

    fn iam_admin_work(&mut self, now: i64, cx: &mut Cx<'_>, live_ident: &str, acct: &str) -> i64 {
        let (em, rng, s) = (&mut *cx.em, &mut *cx.rng, &mut self.s);
        let (ip, ua) = (self.ip.as_str(), self.ua);
        let mut t = now;
        let role = format!(
            "{}-{}",
            ["etl-runner", "support-readonly", "partner-access", "lambda-exec"][rng.random_range(0..4)],
            hex(rng, 4)
        );
        let trust = "{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":{\\\"Service\\\":\\\"lambda.amazonaws.com\\\"},\\\"Action\\\":\\\"sts:AssumeRole\\\"}]}";
        Obj::new(&mut s.req)
            .str("path", "/")
            .str("roleName", &role)
            .raw("assumeRolePolicyDocument", &format!("\"{trust}\""))
            .str("description", "created in console")
            .end();
        Obj::new(&mut s.resp)
            .obj("role", |r| {
                r.str("path", "/")
                    .str("roleName", &role)
                    .str("roleId", &unique_id(rng, "AROA"))
                    .str("arn", &format!("arn:aws:iam::{acct}:role/{role}"))
                    .str("createDate", &crate::json::iam_date_string(t))
            })
            .end();
        em.bg(&con(t, live_ident, "CreateRole", &s.req, ip, ua, acct).resp(&s.resp), rng);
        t += uni(rng, 8 * SECOND, 40 * SECOND);
        let policy =
            ["ReadOnlyAccess", "AmazonS3ReadOnlyAccess", "AWSLambdaBasicExecutionRole"][rng.random_range(0..3)];
        let policy_arn = if policy == "AWSLambdaBasicExecutionRole" {
            format!("arn:aws:iam::aws:policy/service-role/{policy}")
        } else {
            format!("arn:aws:iam::aws:policy/{policy}")
        };
        Obj::new(&mut s.req).str("roleName", &role).str("policyArn", &policy_arn).end();
        em.bg(&con(t, live_ident, "AttachRolePolicy", &s.req, ip, ua, acct), rng);
        t += uni(rng, 2 * SECOND, 10 * SECOND);
        Obj::new(&mut s.req).str("roleName", &role).end();
        em.bg(&con(t, live_ident, "GetRole", &s.req, ip, ua, acct), rng);
        if rng.random_bool(0.4) {
            t += uni(rng, 10 * SECOND, 60 * SECOND);
            Obj::new(&mut s.req)
                .str("roleName", &role)
                .str("policyName", "inline-s3")
                .str("policyDocument", "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}")
                .end();
            em.bg(&con(t, live_ident, "PutRolePolicy", &s.req, ip, ua, acct), rng);
        }
        if rng.random_bool(0.3) {
            // Tidy up an old user while here.
            let user = format!("contractor-{}", hex(rng, 4));
            t += uni(rng, 20 * SECOND, 90 * SECOND);
            Obj::new(&mut s.req).str("userName", &user).end();
            em.bg(&con(t, live_ident, "ListAccessKeys", &s.req, ip, ua, acct), rng);
            t += uni(rng, 3 * SECOND, 15 * SECOND);
            Obj::new(&mut s.req).str("userName", &user).str("accessKeyId", &crate::estate::user_key(rng)).end();
            em.bg(&con(t, live_ident, "DeleteAccessKey", &s.req, ip, ua, acct), rng);
            t += uni(rng, 3 * SECOND, 15 * SECOND);
            Obj::new(&mut s.req).str("userName", &user).end();
            em.bg(&con(t, live_ident, "DeleteUser", &s.req, ip, ua, acct), rng);
        }
        t
    }
}
