//! A real broker (tansu, sqlite storage) per test, the independent Python client, and
//! `trailhound run` processes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailhound"))
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn tansu() -> PathBuf {
    if let Ok(p) = std::env::var("TANSU") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = Path::new(&home).join(".cargo/bin/tansu");
    if cargo_bin.exists() {
        return cargo_bin;
    }
    PathBuf::from("tansu")
}

/// A tansu broker on a free loopback port with its own sqlite data directory.
pub struct Broker {
    child: Option<Child>,
    pub addr: String,
    dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("tmp");
        let port = free_port();
        let mut broker = Broker { child: None, addr: format!("127.0.0.1:{port}"), dir };
        broker.spawn();
        broker
    }

    /// Starts tansu on `addr` over the data directory and waits until it listens.
    fn spawn(&mut self) {
        let url = format!("tcp://{}", self.addr);
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("tansu.log")).expect("log");
        let child = Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start tansu ({e}); `bash scripts/test.sh` installs it (cargo install tansu --locked --features dynostore,libsql)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(&self.addr).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {}", self.addr);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: the broker dies without closing anything; its data directory stays.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        assert!(TcpStream::connect(&self.addr).is_err(), "{} still answers after the kill", self.addr);
    }

    /// Starts the broker again on the same port and data directory (after [`Broker::kill`]).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        self.spawn();
    }

    /// Runs `send.py` (the independent client, hand-made messages) on `topic`; returns its stdout.
    fn send_py(&self, topic: &str, args: &[&std::ffi::OsStr]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/send.py");
        let python = std::env::var("TRAILHOUND_PYTHON").unwrap_or_else(|_| "python3".into());
        run_ok(Command::new(python).arg(script).args(["--brokers", &self.addr, "--topic", topic]).args(args))
    }

    /// Produces what `spec` says (lines of JSON, see `send.py`) with the independent client.
    pub fn send(&self, topic: &str, spec: &[Value]) -> u64 {
        let file = self.dir.path().join(format!("spec-{}.ndjson", free_port()));
        let text: String = spec.iter().map(|v| v.to_string() + "\n").collect();
        std::fs::write(&file, text).expect("spec");
        let out = self.send_py(topic, &["--spec".as_ref(), file.as_os_str()]);
        let v: Value = serde_json::from_str(out.trim()).expect("send summary");
        v["sent"].as_u64().expect("sent")
    }

    /// Like [`Broker::consume`], for topics whose values may be corrupt gzip (dead letters of
    /// broken compressed messages, kept as they came): their `unzipped_size` is null.
    pub fn read(&self, topic: &str, min: usize) -> Vec<Value> {
        let min = min.to_string();
        self.send_py(topic, &["--read".as_ref(), min.as_ref()])
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    }

    /// Runs the independent client; returns its stdout.
    pub fn tool(&self, args: &[&str]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/kafka_tool.py");
        let python = std::env::var("TRAILHOUND_PYTHON").unwrap_or_else(|_| "python3".into());
        run_ok(Command::new(python).arg(script).args(["--brokers", &self.addr]).args(args))
    }

    pub fn create(&self, topic: &str, partitions: u32) {
        self.tool(&["create", "--topic", topic, "--partitions", &partitions.to_string()]);
    }

    /// Every message of `topic`, once at least `min` arrived and none came for a few seconds.
    pub fn consume(&self, topic: &str, min: usize) -> Vec<Value> {
        self.tool(&["consume", "--topic", topic, "--min", &min.to_string(), "--idle", "3"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    }

    /// (committed, end) offsets per partition of `topic` for `group`.
    pub fn offsets(&self, topic: &str, group: &str) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
        let v: Value =
            serde_json::from_str(&self.tool(&["offsets", "--topic", topic, "--group", group])).expect("json");
        let m = |k: &str| -> BTreeMap<String, i64> {
            v[k].as_object().expect("map").iter().map(|(p, o)| (p.clone(), o.as_i64().expect("offset"))).collect()
        };
        (m("committed"), m("end"))
    }

    /// Waits until `group` committed the end of every partition of `topic`.
    pub fn wait_committed(&self, topic: &str, group: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (c, e) = self.offsets(topic, group);
            if c == e {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "group {group} did not commit the end of {topic}: committed {c:?}, end {e:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Broker {
    /// The last `n` lines of tansu's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A failed test keeps the broker's directory (log and data) and shows the log's end.
        if std::thread::panicking() {
            let path = self.dir.path().to_path_buf();
            eprintln!("tansu log (last lines), kept in {}:\n{}", path.display(), self.log_tail(60));
            let _ = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tmp")).keep();
        }
    }
}

pub const INPUT: &str = "cloudtrail";
pub const FINDINGS: &str = "findings";
pub const DEAD: &str = "dead-letters";
pub const GROUP: &str = "th-test";

/// Creates the three topics.
pub fn topics(b: &Broker) {
    b.create(INPUT, 4);
    b.create(FINDINGS, 2);
    b.create(DEAD, 1);
}

/// The consumer group session timeout of every `trailhound run` here. tansu 0.6's group
/// coordinator gets stuck on a member whose session times out while others are in the group:
/// it keeps naming the dead member as the leader (JoinGroup), or drops it during SyncGroup and
/// hands the others an empty assignment, and the group never forms again (Apache Kafka
/// expires the member and rebalances). So the timeout must be long enough that a loaded 2-core
/// machine never misses it (tansu's heartbeat answers took over 6 s there), and a member
/// killed with -9 is replaced only after its session has expired (see [`Run::kill`]).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(20);

/// A `trailhound run` process.
pub struct Run {
    pub child: Child,
    pub metrics_addr: String,
    pub summary: PathBuf,
    pub log: PathBuf,
}

impl Run {
    pub fn start(b: &Broker, out: &Path, name: &str) -> Run {
        Run::start_with(b, out, name, "", "")
    }

    /// Like [`Run::start`], with more `[run]` settings (lines) and more tables (TOML text).
    /// The consumer's session timeout is [`SESSION_TIMEOUT`].
    pub fn start_with(b: &Broker, out: &Path, name: &str, run: &str, tables: &str) -> Run {
        std::fs::create_dir_all(out).expect("out");
        let port = free_port();
        let cfg = out.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[kafka]\nbrokers = \"{}\"\ngroup_id = \"{GROUP}\"\ninput_topics = [\"{INPUT}\"]\nfindings_topic = \"{FINDINGS}\"\ndead_letter_topic = \"{DEAD}\"\n\
                 [kafka.consumer]\n\"session.timeout.ms\" = \"{}\"\n\"heartbeat.interval.ms\" = \"500\"\n\
                 [run]\ncheckpoint_interval = \"1s\"\nlisten = \"127.0.0.1:{port}\"\nshutdown_timeout = \"60s\"\n{run}\n{tables}\n",
                b.addr,
                SESSION_TIMEOUT.as_millis()
            ),
        )
        .expect("config");
        let summary = out.join(format!("{name}.summary.json"));
        let log = out.join(format!("{name}.log"));
        let child = bin()
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(out)
            .arg("--summary")
            .arg(&summary)
            .env("RUST_LOG", "info,librdkafka=warn,rdkafka=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("trailhound run");
        Run { child, metrics_addr: format!("127.0.0.1:{port}"), summary, log }
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(&self.metrics_addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Some((code, body))
    }

    /// A counter or gauge value from `/metrics` (summed over label sets), if the endpoint answers.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics")?;
        let mut total = None;
        for line in body.lines() {
            let Some(rest) = line.strip_prefix(name) else { continue };
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                continue;
            }
            let v: f64 = rest.rsplit(' ').next()?.parse().ok()?;
            *total.get_or_insert(0.0) += v;
        }
        total.or(Some(0.0))
    }

    pub fn ready(&self) -> bool {
        self.get("/readyz").is_some_and(|(c, _)| c == 200)
    }

    pub fn wait_ready(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.ready() {
            self.assert_alive();
            assert!(Instant::now() < deadline, "run not ready:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("trailhound run exited early ({status}):\n{}", self.log_text());
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log, and the metrics.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let metrics = self.get("/metrics").map(|(_, b)| b).unwrap_or_default();
        let metrics: Vec<&str> = metrics.lines().filter(|l| !l.starts_with('#') && !l.contains("_bucket")).collect();
        format!("{}\n-- metrics --\n{}", lines[lines.len().saturating_sub(n)..].join("\n"), metrics.join("\n"))
    }

    /// SIGTERM, then the exit status must be success.
    pub fn stop(mut self) -> Value {
        let pid = self.child.id().to_string();
        run_ok(Command::new("kill").args(["-TERM", &pid]));
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "run did not drain cleanly ({status}):\n{}", self.log_text());
        serde_json::from_slice(&std::fs::read(&self.summary).expect("summary")).expect("summary json")
    }

    /// kill -9; returns when. Its group membership lasts [`SESSION_TIMEOUT`] more: start a
    /// replacement after [`wait_session_expired`].
    pub fn kill(mut self) -> Instant {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Instant::now()
    }
}

/// Waits until the session of a member killed at `killed` has expired (and a little more).
pub fn wait_session_expired(killed: Instant) {
    let until = killed + SESSION_TIMEOUT + Duration::from_secs(2);
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the processes together consumed `messages` messages.
pub fn wait_messages(runs: &mut [&mut Run], messages: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let mut total = 0.0;
        for r in runs.iter_mut() {
            r.assert_alive();
            total += r.metric("trailhound_messages_total").unwrap_or(0.0);
        }
        if total as u64 >= messages {
            return;
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = runs.iter().map(|r| r.log_tail(200)).collect();
            panic!("only {total} of {messages} messages consumed; logs (last lines):\n{}", logs.join("\n----\n"));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Generates events (and labels) into `dir`.
pub fn generate(dir: &Path, seed: u64, events: u64) -> (PathBuf, Vec<Value>) {
    let path = dir.join("events.ndjson");
    let labels = dir.join("labels.ndjson");
    run_ok(
        bin()
            .args(["gen", "--seed", &seed.to_string(), "--events", &events.to_string(), "--out"])
            .arg(&path)
            .arg("--labels")
            .arg(&labels),
    );
    let labels = std::fs::read_to_string(&labels)
        .expect("labels")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("label"))
        .collect();
    (path, labels)
}

/// Uids (and rule, actor, span) of every finding version `trailhound replay` publishes.
pub fn replay_findings(events: &Path, out: &Path) -> Vec<Value> {
    run_ok(bin().args(["replay", "--out"]).arg(out).arg(events));
    std::fs::read_to_string(out.join("findings.ocsf.jsonl"))
        .expect("ocsf")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// The uid of an OCSF finding.
pub fn ocsf_uid(f: &Value) -> String {
    f["finding_info"]["uid"].as_str().expect("finding_info.uid").to_string()
}

pub fn uids_of_topic(msgs: &[Value]) -> BTreeSet<String> {
    msgs.iter().map(|m| m["headers"]["finding_uid"].as_str().expect("uid header").to_string()).collect()
}

/// Labels whose rule did not report a finding on their actor overlapping their span.
pub fn missed_labels(labels: &[Value], findings: &[Value]) -> Vec<String> {
    labels
        .iter()
        .filter(|l| {
            !findings.iter().any(|m| {
                let v = &m["value"];
                m["headers"]["rule_id"] == l["rule_id"]
                    && m["key"] == l["actor_key"]
                    && v["start_time"].as_i64() <= l["end_ms"].as_i64()
                    && v["end_time"].as_i64() >= l["start_ms"].as_i64()
            })
        })
        .map(Value::to_string)
        .collect()
}

/// Polls `check` until it holds, failing with `what` (and the run's log) after `within`; the
/// run must stay alive meanwhile.
pub fn wait_for(run: &mut Run, what: &str, within: Duration, mut check: impl FnMut(&Run) -> bool) {
    let deadline = Instant::now() + within;
    while !check(run) {
        run.assert_alive();
        assert!(Instant::now() < deadline, "timed out waiting for {what}; log:\n{}", run.log_text());
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What a finding's last version says, comparable between replay (OCSF lines) and the
/// findings topic (messages): per uid, the version with the highest revision.
pub fn final_versions<'a>(ocsf: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for v in ocsf {
        let uid = ocsf_uid(v);
        let rev = v["unmapped"]["revision"].as_u64().unwrap_or(0);
        let newer = out.get(&uid).is_none_or(|old| old["revision"].as_u64().unwrap_or(0) < rev);
        if newer {
            let evidence: Vec<&Value> = v["finding_info"]["related_events"]
                .as_array()
                .map(|a| a.iter().map(|e| &e["uid"]).collect())
                .unwrap_or_default();
            out.insert(
                uid,
                serde_json::json!({
                    "revision": rev,
                    "severity": v["severity"],
                    "count": v["count"],
                    "start_time": v["start_time"],
                    "end_time": v["end_time"],
                    "evidence": evidence,
                }),
            );
        }
    }
    out
}

/// Asserts the findings topic's last versions equal the replay's, uid by uid: same severity,
/// count, times and evidence. Not the revision: it counts publications, which depend on how
/// the stream was cut into batches and checkpoints (README, "Detection semantics").
pub fn assert_same_final_versions(replayed: &[Value], topic: &[Value]) {
    let content = |mut m: BTreeMap<String, Value>| {
        for v in m.values_mut() {
            if let Some(o) = v.as_object_mut() {
                o.remove("revision");
            }
        }
        m
    };
    let want = content(final_versions(replayed));
    let got = content(final_versions(topic.iter().map(|m| &m["value"])));
    let differ: Vec<String> = want
        .iter()
        .filter(|(uid, v)| got.get(*uid) != Some(*v))
        .map(|(uid, v)| format!("{uid}: replay {v}, topic {:?}", got.get(uid)))
        .collect();
    assert!(differ.is_empty(), "{} final versions differ:\n{}", differ.len(), differ.join("\n"));
}
