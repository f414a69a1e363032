//! `ecs_burst`: a stolen CI/CD session used from the attacker's address to run miners on
//! Fargate in three regions within ten minutes. Per region: `CreateCluster`,
//! `RegisterTaskDefinition` (`cpu` `"16384"`, `memory` `"32768"`–`"122880"`, one container
//! whose `image` is a miner such as `docker.io/xmrig/xmrig:latest`), 2–4 `RunTask` with
//! `count` 10 (`launchType` `FARGATE`; the response lists ten tasks), and `CreateService`
//! with `desiredCount` 50. One label, `instance_sprawl`.

use rand::Rng as _;

use super::{
    attacker_ip, json_str, live_sessions, pick_fresh, sample, Attacker, ScenarioDef, Victim, RETRY, UA_VPS_CLI,
};
use crate::engine::{PlanCx, Planned, ScenarioOut};
use crate::estate::REGIONS;
use crate::json::{hex, Obj};
use trailhound_model::time::{MINUTE, SECOND};

/// Registration.
pub(crate) const DEF: ScenarioDef = ScenarioDef { name: "ecs_burst", rules: &["instance_sprawl"], plan };

/// Miner images.
const IMAGES: [&str; 4] = [
    "docker.io/xmrig/xmrig:latest",
    "docker.io/metal3d/xmrig:latest",
    "ghcr.io/c3pool/xmrig-c3:6.21.0",
    "docker.io/pmietlicki/monero-miner:latest",
];

/// Fargate memory sizes (MiB) valid with 16 vCPU.
const MEMORY: [&str; 4] = ["32768", "65536", "98304", "122880"];

fn plan(cx: &PlanCx<'_>, out: &mut ScenarioOut<'_>) -> Planned {
    let est = cx.est;
    let live = live_sessions(cx, &est.ci, 40 * MINUTE, |_| true);
    if live.is_empty() {
        return Planned::NotYet;
    }
    let Some(pick) = pick_fresh(cx, &live, cx.k as usize * 3, |i| est.ci[i].key.clone()) else {
        return Planned::Retry(cx.now + RETRY);
    };
    let s = &est.ci[pick];
    let acct = est.id(s.account);
    let ip = attacker_ip(out.rng);
    let a = Attacker { ident: &s.ident, arn: &s.arn, acct, ip: &ip, ua: UA_VPS_CLI };
    let image = IMAGES[out.rng.random_range(0..IMAGES.len())];
    let memory = MEMORY[out.rng.random_range(0..MEMORY.len())];
    let family = ["worker", "batch-runner", "data-proc"][out.rng.random_range(0..3)];
    let regions = sample(out.rng, &REGIONS, 3);

    let mut t = cx.now + out.rng.random_range(5 * SECOND..60 * SECOND);
    out.emit(&a.call(t, "sts", "GetCallerIdentity", s.region));
    let (mut req, mut resp) = (String::new(), String::new());
    for region in &regions {
        t += out.rng.random_range(5 * SECOND..20 * SECOND);
        let cluster = format!("{family}-{}", hex(out.rng, 6));
        let cluster_arn = format!("arn:aws:ecs:{region}:{acct}:cluster/{cluster}");
        Obj::new(&mut req).str("clusterName", &cluster).end();
        Obj::new(&mut resp)
            .obj("cluster", |c| c.str("clusterArn", &cluster_arn).str("clusterName", &cluster).str("status", "ACTIVE"))
            .end();
        out.emit(&a.call(t, "ecs", "CreateCluster", region).req(&req).resp(&resp));

        t += out.rng.random_range(2 * SECOND..10 * SECOND);
        let containers = format!(
            "[{{\"name\":\"{family}\",\"image\":{},\"essential\":true,\"cpu\":16384,\"command\":[\"--donate-level\",\"1\",\"-o\",\"pool.supportxmr.com:443\",\"--tls\"]}}]",
            json_str(image)
        );
        Obj::new(&mut req)
            .str("family", family)
            .raw("containerDefinitions", &containers)
            .raw("requiresCompatibilities", "[\"FARGATE\"]")
            .str("networkMode", "awsvpc")
            .str("cpu", "16384")
            .str("memory", memory)
            .end();
        let td_arn = format!("arn:aws:ecs:{region}:{acct}:task-definition/{family}:1");
        Obj::new(&mut resp)
            .obj("taskDefinition", |d| {
                d.str("taskDefinitionArn", &td_arn)
                    .raw("containerDefinitions", &containers)
                    .str("family", family)
                    .num("revision", 1)
                    .str("status", "ACTIVE")
                    .raw("requiresCompatibilities", "[\"FARGATE\"]")
                    .str("cpu", "16384")
                    .str("memory", memory)
            })
            .end();
        out.emit(&a.call(t, "ecs", "RegisterTaskDefinition", region).req(&req).resp(&resp));

        let net = format!(
            "{{\"awsvpcConfiguration\":{{\"subnets\":[\"subnet-{}\"],\"assignPublicIp\":\"ENABLED\"}}}}",
            hex(out.rng, 17)
        );
        for _ in 0..out.rng.random_range(2..=4) {
            t += out.rng.random_range(5 * SECOND..25 * SECOND);
            Obj::new(&mut req)
                .str("cluster", &cluster)
                .num("count", 10)
                .str("launchType", "FARGATE")
                .str("taskDefinition", &format!("{family}:1"))
                .raw("networkConfiguration", &net)
                .end();
            let mut tasks = String::from("[");
            for i in 0..10 {
                if i > 0 {
                    tasks.push(',');
                }
                tasks.push_str(&format!(
                    "{{\"taskArn\":\"arn:aws:ecs:{region}:{acct}:task/{cluster}/{}\",\"clusterArn\":\"{cluster_arn}\",\"taskDefinitionArn\":\"{td_arn}\",\"lastStatus\":\"PROVISIONING\",\"desiredStatus\":\"RUNNING\",\"launchType\":\"FARGATE\",\"cpu\":\"16384\",\"memory\":\"{memory}\"}}",
                    hex(out.rng, 32)
                ));
            }
            tasks.push(']');
            Obj::new(&mut resp).raw("tasks", &tasks).raw("failures", "[]").end();
            out.emit(&a.call(t, "ecs", "RunTask", region).req(&req).resp(&resp));
        }

        t += out.rng.random_range(5 * SECOND..30 * SECOND);
        let service = format!("{family}-svc");
        Obj::new(&mut req)
            .str("cluster", &cluster)
            .str("serviceName", &service)
            .str("taskDefinition", &format!("{family}:1"))
            .num("desiredCount", 50)
            .str("launchType", "FARGATE")
            .raw("networkConfiguration", &net)
            .end();
        Obj::new(&mut resp)
            .obj("service", |v| {
                v.str("serviceArn", &format!("arn:aws:ecs:{region}:{acct}:service/{cluster}/{service}"))
                    .str("serviceName", &service)
                    .str("clusterArn", &cluster_arn)
                    .str("status", "ACTIVE")
                    .num("desiredCount", 50)
                    .num("runningCount", 0)
                    .str("launchType", "FARGATE")
                    .str("taskDefinition", &td_arn)
            })
            .end();
        out.emit(&a.call(t, "ecs", "CreateService", region).req(&req).resp(&resp));
    }
    Planned::Done(Victim { actor_key: s.key.clone(), account: acct.to_string() })
}
