//! CDK and CloudFormation stacks: change sets, deletes, diffs, and CloudFormation acting on
//! the resources.

use rand::Rng as _;

use super::{Actor, Env, Sess, Tool, Who, CFN, UA_CDK, UA_CDK_CI};
use crate::background::workload::emit_service_assume;
use crate::background::{one_resource, sts_credentials_resp, uni};
use crate::engine::Cx;
use crate::estate::session_key;
use crate::event::Call;
use crate::identity::{assumed_role, Role, SessionOpts};
use trailhound_model::time::{HOUR, SECOND};

impl Actor {
    /// A CDK or CloudFormation deploy, diff or destroy of `env`'s stack.
    pub(super) fn stack_op(&mut self, now: i64, cx: &mut Cx<'_>, env: &mut Env, what: StackOp) -> i64 {
        let acct = self.acct(cx);
        let caller = self.session(now, cx);
        let region = env.region;
        let stack = env.name.clone();
        let mut t = caller.created.max(now) + uni(cx.rng, 2 * SECOND, 15 * SECOND);
        let cdk_ua = if matches!(self.who, Who::Ci { .. }) { UA_CDK_CI } else { UA_CDK };
        // CDK: the CLI assumes the bootstrap deploy role; CloudFormation the cfn-exec role.
        let (tool_sess, exec_ident) = match (&self.cdk, self.tool) {
            (Some((deploy, exec)), Tool::Cdk) => {
                let name = format!("aws-cdk-{}", self.name);
                let key = session_key(cx.rng);
                let role_arn = deploy.arn();
                let req =
                    format!("{{\"roleArn\":\"{role_arn}\",\"roleSessionName\":\"{name}\",\"durationSeconds\":3600}}");
                sts_credentials_resp(
                    &mut self.s.resp,
                    &key,
                    t + HOUR,
                    &deploy.session_arn(&name),
                    &format!("{}:{name}", deploy.pid),
                );
                one_resource(&mut self.s.res, &acct, "AWS::IAM::Role", &role_arn);
                cx.em.bg(
                    &Call::new(t, &caller.ident, "sts", "AssumeRole", region, &caller.ip, cdk_ua, &acct)
                        .req(&req)
                        .resp(&self.s.resp)
                        .resources(&self.s.res),
                    cx.rng,
                );
                let ident = assumed_role(deploy, &name, &key, t + 300, SessionOpts::default());
                let exec_session = format!(
                    "{}{:010}",
                    cx.rng.random_range(1_000_000_000u64..10_000_000_000),
                    cx.rng.random_range(0..10_000_000_000u64)
                );
                let exec_key = session_key(cx.rng);
                (
                    Sess { ident, ip: caller.ip.clone(), created: t, cfn_ident: String::new() },
                    (exec.clone(), exec_session, exec_key),
                )
            }
            _ => (
                caller.clone(),
                (
                    Role { account: String::new(), name: String::new(), path: String::new(), pid: String::new() },
                    String::new(),
                    String::new(),
                ),
            ),
        };
        t += uni(cx.rng, 500, 3 * SECOND);
        let ua = if self.tool == Tool::Cdk {
            UA_CDK.to_string()
        } else {
            crate::background::console::cli_ua("macos#23.4.0", "cloudformation.deploy")
        };
        let tool_call = |cx: &mut Cx<'_>, t: i64, name: &str, req: &str, err: Option<(&str, &str)>| {
            let mut c =
                Call::new(t, &tool_sess.ident, "cloudformation", name, region, &tool_sess.ip, &ua, &acct).req(req);
            if let Some((code, msg)) = err {
                c = c.err(code, msg);
            }
            cx.em.bg(&c, cx.rng);
        };
        let sreq = format!("{{\"stackName\":\"{stack}\"}}");
        match what {
            StackOp::Diff => {
                tool_call(cx, t, "DescribeStacks", &sreq, None);
                t += uni(cx.rng, 200, 1_500);
                tool_call(
                    cx,
                    t,
                    "GetTemplate",
                    &format!("{{\"stackName\":\"{stack}\",\"templateStage\":\"Original\"}}"),
                    None,
                );
                t += uni(cx.rng, 200, 1_500);
                tool_call(cx, t, "ListStackResources", &sreq, None);
                return t;
            }
            StackOp::Create => {
                let msg = format!("Stack with id {stack} does not exist");
                tool_call(cx, t, "DescribeStacks", &sreq, Some(("ValidationException", &msg)));
                t += uni(cx.rng, 500, 3 * SECOND);
                let role = if exec_ident.0.name.is_empty() {
                    String::new()
                } else {
                    format!(",\"roleARN\":\"{}\"", exec_ident.0.arn())
                };
                tool_call(
                    cx,
                    t,
                    "CreateChangeSet",
                    &format!(
                        "{{\"stackName\":\"{stack}\",\"changeSetName\":\"cdk-deploy-change-set\",\"changeSetType\":\"CREATE\",\"capabilities\":[\"CAPABILITY_IAM\",\"CAPABILITY_NAMED_IAM\",\"CAPABILITY_AUTO_EXPAND\"]{role}}}"
                    ),
                    None,
                );
                for _ in 0..cx.rng.random_range(2..=4) {
                    t += uni(cx.rng, 2 * SECOND, 5 * SECOND);
                    tool_call(
                        cx,
                        t,
                        "DescribeChangeSet",
                        &format!("{{\"stackName\":\"{stack}\",\"changeSetName\":\"cdk-deploy-change-set\"}}"),
                        None,
                    );
                }
                t += uni(cx.rng, SECOND, 3 * SECOND);
                tool_call(
                    cx,
                    t,
                    "ExecuteChangeSet",
                    &format!("{{\"stackName\":\"{stack}\",\"changeSetName\":\"cdk-deploy-change-set\"}}"),
                    None,
                );
            }
            StackOp::Delete => {
                tool_call(cx, t, "DescribeStacks", &sreq, None);
                t += uni(cx.rng, 500, 3 * SECOND);
                tool_call(cx, t, "DeleteStack", &sreq, None);
            }
        }
        // CloudFormation works through the resources, the tool polls the stack's events.
        let exec = if self.tool == Tool::Cdk {
            let (role, session, key) = &exec_ident;
            emit_service_assume(cx.em, cx.rng, &mut self.s, t + 500, CFN, role, session, key, region);
            assumed_role(role, session, key, t + 700, SessionOpts { invoked_by: Some(CFN), ..Default::default() })
        } else {
            caller.cfn_ident.clone()
        };
        let mut ops = Vec::new();
        match what {
            StackOp::Create => {
                for r in &env.res {
                    ops.extend(r.create(&acct, env, t, cx.rng));
                }
            }
            _ => {
                for r in env.res.iter().rev() {
                    ops.extend(r.destroy(env, cx.rng));
                }
            }
        }
        let done = self.via_cfn(cx, &exec, &ops, t + SECOND);
        let mut p = t;
        while p < done {
            p += uni(cx.rng, 4 * SECOND, 6 * SECOND);
            tool_call(cx, p, "DescribeStackEvents", &sreq, None);
        }
        p += uni(cx.rng, 500, 2 * SECOND);
        tool_call(
            cx,
            p,
            "DescribeStacks",
            &sreq,
            if what == StackOp::Delete { Some(("ValidationException", "Stack does not exist")) } else { None },
        );
        p
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StackOp {
    Create,
    Diff,
    Delete,
}
