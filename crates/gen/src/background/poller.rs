//! Monitoring pollers: an inventory poller sweeping every region of every account, and a
//! CloudWatch metrics exporter.
//!
//! Realism constraint a detector relies on: a poller calls at most 4 distinct APIs within
//! any 10 s (these call 3), visits regions one at a time with at least 4.5 s between the last
//! call in one region and the first in the next (so fewer than 10 regions in any 30 s), and
//! gets at most one access denial per 11 minutes.

use rand::Rng as _;

use super::{one_resource, sts_credentials_resp, uni, Scratch};
use crate::engine::{Cx, Source};
use crate::estate::{session_key, unique_id, Estate, ACCOUNT_NAMES, DEV, PROD, REGIONS, SECURITY, STAGING};
use crate::event::Call;
use crate::identity::{assumed_role, Role, SessionOpts};
use crate::json::{hex, Obj};
use crate::Rng;
use trailhound_model::time::{MINUTE, SECOND};

/// One API a poller calls in each region.
struct Step {
    service: &'static str,
    name: &'static str,
    max_pages: u32,
    req: &'static str,
}

const INVENTORY: [Step; 3] = [
    Step {
        service: "ec2",
        name: "DescribeInstances",
        max_pages: 2,
        req: "{\"maxResults\":1000,\"instancesSet\":{},\"filterSet\":{}}",
    },
    Step {
        service: "ec2",
        name: "DescribeVolumes",
        max_pages: 1,
        req: "{\"maxResults\":500,\"volumeSet\":{},\"filterSet\":{}}",
    },
    Step {
        service: "ec2",
        name: "DescribeSecurityGroups",
        max_pages: 2,
        req: "{\"maxResults\":1000,\"securityGroupSet\":{},\"securityGroupIdSet\":{},\"filterSet\":{}}",
    },
];

const METRICS: [Step; 3] = [
    Step { service: "tagging", name: "GetResources", max_pages: 2, req: "{\"resourceTypeFilters\":[\"ec2:instance\",\"rds:db\",\"lambda:function\"],\"resourcesPerPage\":100}" },
    Step { service: "monitoring", name: "ListMetrics", max_pages: 3, req: "{\"namespace\":\"AWS/EC2\",\"recentlyActive\":\"PT3H\"}" },
    Step { service: "monitoring", name: "GetMetricData", max_pages: 4, req: "{\"metricDataQueries\":[{\"id\":\"m0\",\"metricStat\":{\"metric\":{\"namespace\":\"AWS/EC2\",\"metricName\":\"CPUUtilization\"},\"period\":300,\"stat\":\"Average\"}}],\"scanBy\":\"TimestampDescending\"}" },
];

/// A poller working through one target account.
pub(crate) struct Poller {
    target: usize,
    role: Role,
    session: &'static str,
    steps: &'static [Step],
    regions: Vec<&'static str>,
    interval: i64,
    uas: Vec<(&'static str, String)>,
    /// The task-role session in the security account that assumes `role`.
    caller_ident: String,
    ip: String,
    ident: String,
    session_created: i64,
    sweep_start: i64,
    /// Next region to visit; `None` when idle.
    region_idx: Option<usize>,
    last_denied: i64,
    s: Scratch,
}

fn find_ua<'a>(uas: &'a [(&'static str, String)], svc: &str) -> &'a str {
    uas.iter().find(|(s, _)| *s == svc).map_or("", |(_, u)| u.as_str())
}

impl Poller {
    fn rotate(&mut self, now: i64, cx: &mut Cx<'_>) {
        let key = session_key(cx.rng);
        let acct = self.role.account.clone();
        let role_arn = self.role.arn();
        Obj::new(&mut self.s.req)
            .str("roleArn", &role_arn)
            .str("roleSessionName", self.session)
            .num("durationSeconds", 3600)
            .str("externalId", "monitoring")
            .end();
        let arn = self.role.session_arn(self.session);
        sts_credentials_resp(
            &mut self.s.resp,
            &key,
            now + 3600 * SECOND,
            &arn,
            &format!("{}:{}", self.role.pid, self.session),
        );
        one_resource(&mut self.s.res, &acct, "AWS::IAM::Role", &role_arn);
        let ua = find_ua(&self.uas, "sts").to_string();
        cx.em.bg(
            &Call::new(now, &self.caller_ident, "sts", "AssumeRole", "us-east-1", &self.ip, &ua, &acct)
                .req(&self.s.req)
                .resp(&self.s.resp)
                .resources(&self.s.res),
            cx.rng,
        );
        self.session_created = now + 200;
        self.ident = assumed_role(&self.role, self.session, &key, self.session_created, SessionOpts::default());
    }
}

impl Source for Poller {
    fn wake(&mut self, now: i64, cx: &mut Cx<'_>) -> i64 {
        let Some(idx) = self.region_idx else {
            // Start a sweep (with a fresh session when the old one is nearly an hour old).
            self.sweep_start = now;
            self.region_idx = Some(0);
            if self.ident.is_empty() || now - self.session_created > 50 * MINUTE {
                self.rotate(now, cx);
                return now + uni(cx.rng, 300, 1200);
            }
            return now;
        };
        let region = self.regions[idx];
        let acct = &cx.est.accounts[self.target].id;
        let mut t = now;
        for step in self.steps {
            let pages = cx.rng.random_range(1..=step.max_pages);
            for _ in 0..pages {
                let ua = find_ua(&self.uas, step.service);
                let mut c =
                    Call::new(t, &self.ident, step.service, step.name, region, &self.ip, ua, acct).req(step.req);
                let throttled = cx.rng.random_bool(0.002);
                if throttled {
                    c = if step.service == "ec2" {
                        c.err("Client.RequestLimitExceeded", "Request limit exceeded.")
                    } else {
                        c.err("ThrottlingException", "Rate exceeded")
                    };
                } else if t - self.last_denied > 11 * MINUTE && cx.rng.random_bool(0.0005) {
                    self.last_denied = t;
                    c = if step.service == "ec2" {
                        c.err("Client.UnauthorizedOperation", "You are not authorized to perform this operation.")
                    } else {
                        c.err("AccessDenied", "User is not authorized to perform this operation")
                    };
                }
                cx.em.bg(&c, cx.rng);
                t += uni(cx.rng, 60, 300);
                if throttled {
                    t += uni(cx.rng, 200, 800);
                    cx.em.bg(&Call { t, error: None, ..c }, cx.rng);
                    t += uni(cx.rng, 60, 300);
                }
            }
        }
        if idx + 1 < self.regions.len() {
            self.region_idx = Some(idx + 1);
            t + uni(cx.rng, 4_500, 7_000)
        } else {
            self.region_idx = None;
            (self.sweep_start + self.interval + uni(cx.rng, 0, 10 * SECOND)).max(t + 10 * SECOND)
        }
    }
}

fn go_ua(svc: &str, version: &str) -> String {
    format!("aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux md/GOARCH#amd64 api/{svc}#{version}")
}

/// Creates the inventory poller (every account, all regions, every 15 minutes) and the
/// metrics exporter (workload accounts, three regions, every 5 minutes).
pub(crate) fn build(est: &mut Estate, rng: &mut Rng, start: i64, out: &mut Vec<(i64, Box<dyn Source>)>) {
    let sec = est.id(SECURITY).to_string();
    let nat = est.accounts[SECURITY].nat_ip.clone();
    let task_role = |rng: &mut Rng, name: &str| Role {
        account: sec.clone(),
        name: name.to_string(),
        path: "/".to_string(),
        pid: unique_id(rng, "AROA"),
    };
    let inv_task = task_role(rng, "inventory-task-role");
    let exp_task = task_role(rng, "cloudwatch-exporter-task-role");
    let inv_caller = {
        let task = hex(rng, 32);
        assumed_role(&inv_task, &task, &session_key(rng), start - uni(rng, 0, 50 * MINUTE), SessionOpts::default())
    };
    let exp_caller = {
        let task = hex(rng, 32);
        assumed_role(&exp_task, &task, &session_key(rng), start - uni(rng, 0, 50 * MINUTE), SessionOpts::default())
    };
    for target in 0..ACCOUNT_NAMES.len() {
        let role = Role {
            account: est.id(target).to_string(),
            name: "inventory-readonly".into(),
            path: "/".into(),
            pid: unique_id(rng, "AROA"),
        };
        let mut regions = REGIONS.to_vec();
        let home = est.accounts[target].region;
        regions.retain(|r| *r != home);
        regions.insert(0, home);
        let p = Poller {
            target,
            role,
            session: "inventory-poller",
            steps: &INVENTORY,
            regions,
            interval: 15 * MINUTE,
            uas: vec![("ec2", go_ua("ec2", "1.177.3")), ("sts", go_ua("sts", "1.32.2"))],
            caller_ident: inv_caller.clone(),
            ip: nat.clone(),
            ident: String::new(),
            session_created: 0,
            sweep_start: start,
            region_idx: None,
            last_denied: i64::MIN / 2,
            s: Scratch::default(),
        };
        out.push((start + uni(rng, 0, 15 * MINUTE), Box::new(p)));
    }
    for target in [PROD, STAGING, DEV] {
        let role = Role {
            account: est.id(target).to_string(),
            name: "cloudwatch-exporter".into(),
            path: "/".into(),
            pid: unique_id(rng, "AROA"),
        };
        let p = Poller {
            target,
            role,
            session: "cloudwatch-exporter",
            steps: &METRICS,
            regions: vec!["us-east-1", "us-east-2", "eu-west-1"],
            interval: 5 * MINUTE,
            uas: vec![
                ("tagging", go_ua("resourcegroupstaggingapi", "1.25.2")),
                ("monitoring", go_ua("cloudwatch", "1.42.2")),
                ("sts", go_ua("sts", "1.32.2")),
            ],
            caller_ident: exp_caller.clone(),
            ip: nat.clone(),
            ident: String::new(),
            session_created: 0,
            sweep_start: start,
            region_idx: None,
            last_denied: i64::MIN / 2,
            s: Scratch::default(),
        };
        out.push((start + uni(rng, 0, 5 * MINUTE), Box::new(p)));
    }
}
