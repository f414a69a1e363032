//! An actor's sessions and calls, and the life of its environments: create, plan (now and
//! then apply), destroy.

use rand::Rng as _;

use super::res::{new_res, op, Kind, Op};
use super::stack::StackOp;
use super::{Actor, Env, Sess, Style, Tool, Who, CFN};
use crate::background::cicd::{oidc_session, UA_GHA_CLI};
use crate::background::uni;
use crate::engine::Cx;
use crate::estate::session_key;
use crate::event::{Call, Host};
use crate::identity::{assumed_role, github_provider, SessionOpts};
use crate::json::{alnum_id, hex};
use trailhound_model::time::{HOUR, MINUTE, SECOND};

impl Actor {
    fn ua(&self, svc: &str) -> &str {
        self.uas.iter().find(|(s, _)| *s == svc).map_or(UA_GHA_CLI, |(_, u)| u.as_str())
    }

    pub(super) fn acct(&self, cx: &Cx<'_>) -> String {
        cx.est.id(self.account).to_string()
    }

    /// The session for a run starting at `now`: a new GitHub job (logged federation) for CI,
    /// the person's `aws sso login` session (renewed after 8 h), or the IAM user's key.
    pub(super) fn session(&mut self, now: i64, cx: &mut Cx<'_>) -> Sess {
        let cfn = self.tool == Tool::CloudFormation;
        match &self.who {
            Who::Ci { role, repo } => {
                let env = cx.est.accounts[self.account].name;
                let (key, ident, ip, created) =
                    oidc_session(cx, &mut self.s, now, self.account, role, repo, env, self.region);
                let cfn_ident = if cfn {
                    let provider = github_provider(&role.account);
                    assumed_role(
                        role,
                        "GitHubActions",
                        &key,
                        created,
                        SessionOpts { web_provider: Some(&provider), invoked_by: Some(CFN), ..Default::default() },
                    )
                } else {
                    String::new()
                };
                Sess { ident, ip, created, cfn_ident }
            }
            Who::Sso { role, email, ip } => {
                if let Some(s) = self.sess.as_ref().filter(|s| now - s.created < 8 * HOUR) {
                    return s.clone();
                }
                let key = session_key(cx.rng);
                let created = now - uni(cx.rng, 0, 10 * MINUTE);
                let ident = assumed_role(role, email, &key, created, SessionOpts::default());
                let cfn_ident = if cfn {
                    assumed_role(
                        role,
                        email,
                        &key,
                        created,
                        SessionOpts { invoked_by: Some(CFN), ..Default::default() },
                    )
                } else {
                    String::new()
                };
                let s = Sess { ident, ip: ip.clone(), created, cfn_ident };
                self.sess = Some(s.clone());
                s
            }
            Who::User { ident, ip } => {
                Sess { ident: ident.clone(), ip: ip.clone(), created: now, cfn_ident: String::new() }
            }
        }
    }

    /// Emits the tool's own calls `ops` with the session, from `t`, `gap` ms apart on
    /// average (parallel refreshes: short gaps). Returns the time after the last one.
    fn direct(&self, cx: &mut Cx<'_>, sess: &Sess, ops: &[Op], mut t: i64, gap: (i64, i64)) -> i64 {
        let acct = self.acct(cx);
        for (svc, name, region, req, resp) in ops {
            let c = Call::new(t, &sess.ident, svc, name, region, &sess.ip, self.ua(svc), &acct).req(req).resp(resp);
            cx.em.bg(&c, cx.rng);
            t += uni(cx.rng, gap.0, gap.1);
        }
        t
    }

    /// Emits `ops` as CloudFormation makes them with `ident` (`invokedBy` CloudFormation).
    pub(super) fn via_cfn(&self, cx: &mut Cx<'_>, ident: &str, ops: &[Op], mut t: i64) -> i64 {
        let acct = self.acct(cx);
        for (svc, name, region, req, resp) in ops {
            let c = Call::new(t, ident, svc, name, region, CFN, CFN, &acct).req(req).resp(resp).host(Host::None);
            cx.em.bg(&c, cx.rng);
            t += uni(cx.rng, 200, 4 * SECOND);
        }
        t
    }

    /// The start of a Terraform or Pulumi run: caller identity and data sources.
    fn preamble(&self, cx: &mut Cx<'_>, sess: &Sess, env: &Env, t: i64) -> i64 {
        let r = env.region;
        let ops = vec![
            op("sts", "GetCallerIdentity", r, String::new(), String::new()),
            op(
                "ec2",
                "DescribeVpcs",
                r,
                format!("{{\"vpcSet\":{{\"items\":[{{\"vpcId\":\"{}\"}}]}},\"filterSet\":{{}}}}", self.vpc),
                String::new(),
            ),
            op(
                "ec2",
                "DescribeAvailabilityZones",
                r,
                "{\"availabilityZoneSet\":{},\"availabilityZoneIdSet\":{}}".to_string(),
                String::new(),
            ),
        ];
        self.direct(cx, sess, &ops, t, (100, 600))
    }

    pub(super) fn new_env(&mut self, now: i64, cx: &mut Cx<'_>) {
        let acct = self.acct(cx);
        self.counter += 1;
        let env_name = match self.style {
            Style::Terratest => {
                let module =
                    ["trail", "iam-user", "secret", "flowlogs", "guardduty", "config", "sg"][cx.rng.random_range(0..7)];
                format!("tf-test-{module}-{}", alnum_id(cx.rng, "", 6).to_lowercase())
            }
            Style::PrEnv => format!("ephemeral-pr-{}", 1200 + self.counter * 3 + cx.rng.random_range(0..3)),
            Style::Sandbox => format!("sandbox-{}-{}", self.name, self.counter),
            Style::Stack => format!("{}-{}", self.name, hex(cx.rng, 6)),
        };
        // The resources: Terratest tests one module, the others hold a mix.
        let mut kinds: Vec<Kind> = Vec::new();
        if self.style == Style::Terratest {
            let k = match &env_name[8..env_name.len() - 7] {
                "trail" => Kind::Trail,
                "iam-user" => Kind::User,
                "secret" => Kind::Secret,
                "flowlogs" => Kind::FlowLog,
                "guardduty" => Kind::Detector,
                "config" => Kind::Recorder,
                _ => Kind::SecurityGroup,
            };
            kinds.push(k);
            if cx.rng.random_bool(0.3) {
                kinds.push(Kind::Role);
            }
        } else {
            for _ in 0..cx.rng.random_range(2..=4) {
                let k = *crate::background::pick(cx.rng, self.kinds);
                if matches!(k, Kind::Detector | Kind::Recorder | Kind::Trail) && kinds.contains(&k) {
                    continue;
                }
                kinds.push(k);
            }
        }
        let mut res = Vec::new();
        for (i, k) in kinds.iter().enumerate() {
            let n = kinds[..i].iter().filter(|x| *x == k).count();
            res.push(new_res(*k, &env_name, &acct, self.region, &self.vpc, n, cx.rng));
        }
        let life = uni(cx.rng, self.life.0, self.life.1);
        let steps = cx.rng.random_range(self.steps.0..=self.steps.1);
        let gap = life / i64::from(steps + 1);
        let mut env = Env {
            name: env_name,
            region: self.region,
            alt_region: self.alt_region,
            res,
            steps,
            gap,
            next: 0,
            sess: None,
        };
        let end = match self.tool {
            Tool::Terraform | Tool::Pulumi => {
                let sess = self.session(now, cx);
                let t0 = sess.created.max(now) + uni(cx.rng, 2 * SECOND, 20 * SECOND);
                let mut t = self.preamble(cx, &sess, &env, t0);
                t += uni(cx.rng, 3 * SECOND, 40 * SECOND); // plan shown, apply confirmed
                for r in &env.res {
                    let ops = r.create(&acct, &env, t, cx.rng);
                    t = self.direct(cx, &sess, &ops, t, (150, 1_500));
                }
                if self.style == Style::Terratest {
                    env.sess = Some(sess);
                }
                t
            }
            Tool::Cdk | Tool::CloudFormation => self.stack_op(now, cx, &mut env, StackOp::Create),
        };
        env.next = end + gap.max(MINUTE) / 2 + uni(cx.rng, 0, gap.max(MINUTE) / 2);
        self.envs.push(env);
    }

    /// A plan (refresh of every resource, now and then an update) or, when no steps are left,
    /// the destroy. Returns whether the environment is gone.
    pub(super) fn step(&mut self, i: usize, now: i64, cx: &mut Cx<'_>) -> bool {
        let acct = self.acct(cx);
        let mut env = self.envs.swap_remove(i);
        let destroy = env.steps == 0;
        let end = match self.tool {
            Tool::Terraform | Tool::Pulumi => {
                let sess = match &env.sess {
                    Some(s) => s.clone(),
                    None => self.session(now, cx),
                };
                let t0 = sess.created.max(now) + uni(cx.rng, 2 * SECOND, 20 * SECOND);
                let mut t = self.preamble(cx, &sess, &env, t0);
                // Refresh: every managed resource read within seconds (parallelism 10).
                let mut reads = Vec::new();
                for r in &env.res {
                    reads.extend(r.reads(&acct, &env));
                }
                t = self.direct(cx, &sess, &reads, t, (20, 300));
                if destroy {
                    t += uni(cx.rng, 3 * SECOND, 30 * SECOND);
                    let mut ops = Vec::new();
                    for r in env.res.iter().rev() {
                        ops.extend(r.destroy(&env, cx.rng));
                    }
                    t = self.direct(cx, &sess, &ops, t, (150, 1_500));
                } else if cx.rng.random_bool(0.35) {
                    // An apply with a change.
                    let region = env.region;
                    let ups: Vec<Op> = env.res.iter_mut().filter_map(|r| r.update(region, cx.rng)).collect();
                    if !ups.is_empty() {
                        t += uni(cx.rng, 3 * SECOND, 30 * SECOND);
                        t = self.direct(cx, &sess, &ups, t, (200, 1_500));
                    }
                }
                t
            }
            Tool::Cdk | Tool::CloudFormation => {
                self.stack_op(now, cx, &mut env, if destroy { StackOp::Delete } else { StackOp::Diff })
            }
        };
        if destroy {
            return true;
        }
        env.steps -= 1;
        env.next = end + env.gap / 2 + uni(cx.rng, 0, env.gap.max(2) / 2 + MINUTE);
        self.envs.push(env);
        false
    }
}
