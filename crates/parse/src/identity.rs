//! Who made the call: `actor_key` and [`IdentityClass`] from a CloudTrail `userIdentity`.
//!
//! The classification reads, in order: the identity type (`Root`, `AWSService`, ...), the
//! session issuer (service-linked roles, `AWSReservedSSO_` permission sets), web-identity
//! federation (CI providers vs. EKS service accounts), the session name shape
//! (`assumed-role/<role>/i-0abc...` is an EC2 instance profile), the access key prefix
//! (`AKIA` long-lived, `ASIA` temporary) and finally the user agent (console browsers,
//! Lambda/ECS execution environments, Terraform/Pulumi/Ansible and CI tools).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use memchr::memmem;
use trailhound_model::{IdentityClass, Origin};

/// The parts of an event that identify its caller. All optional: real events omit any of them.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityInput<'a> {
    /// `userIdentity.type`.
    pub kind: Option<&'a str>,
    /// `userIdentity.arn`.
    pub arn: Option<&'a str>,
    /// `userIdentity.principalId`.
    pub principal_id: Option<&'a str>,
    /// `userIdentity.accessKeyId`.
    pub access_key_id: Option<&'a str>,
    /// `userIdentity.invokedBy`.
    pub invoked_by: Option<&'a str>,
    /// `userIdentity.sessionContext.sessionIssuer.arn`.
    pub issuer_arn: Option<&'a str>,
    /// `userIdentity.sessionContext.sessionIssuer.userName`.
    pub issuer_name: Option<&'a str>,
    /// `userIdentity.sessionContext.webIdFederationData.federatedProvider`.
    pub federated_provider: Option<&'a str>,
    /// `userIdentity.sessionContext.attributes.mfaAuthenticated == "true"`.
    pub mfa: bool,
    /// `userAgent`.
    pub user_agent: Option<&'a str>,
    /// `sourceIPAddress`.
    pub source_ip: Option<&'a str>,
    /// `eventType`.
    pub event_type: Option<&'a str>,
    /// `eventName`.
    pub event_name: Option<&'a str>,
}

/// CI providers whose OIDC tokens are exchanged with AssumeRoleWithWebIdentity.
const CI_OIDC_PROVIDERS: &[&str] = &[
    "token.actions.githubusercontent.com",
    "gitlab",
    "app.terraform.io",
    "oidc.circleci.com",
    "api.bitbucket.org",
    "agent.buildkite.com",
    "vstoken.actions.githubusercontent.com",
    "oidc.spacelift.io",
    "vstoken.dev.azure.com",
];

/// User-agent fragments of IaC tools and CI runners (lower case).
const CI_AGENTS: &[&str] = &[
    "terraform",
    "hashicorp",
    "pulumi",
    "ansible",
    "aws-cdk",
    "cdk/",
    "github-actions",
    "githubactions",
    "gitlab",
    "jenkins",
    "circleci",
    "atlantis",
    "spacelift",
    "buildkite",
    "codebuild",
    "crossplane",
];

/// User-agent fragments of infrastructure-as-code tools (lower case): calls that carry one have
/// [`Origin::Iac`]. CI runners alone (GitHub Actions, Jenkins) are not IaC.
const IAC_AGENTS: &[&str] =
    &["terraform", "hashicorp", "pulumi", "aws-cdk", "cdk/", "cloudformation", "crossplane", "ansible"];

/// Session-name fragments that CI systems set on AssumeRole (lower case).
const CI_SESSIONS: &[&str] = &[
    "githubactions",
    "github-actions",
    "gitlab",
    "terraform",
    "atlantis",
    "jenkins",
    "circleci",
    "spacelift",
    "buildkite",
];

/// A lower-case copy of a short text, on the stack (classification lower-cases the user agent
/// and the session name of nearly every event; this keeps that off the heap).
struct Lower {
    buf: [u8; 256],
    len: usize,
    heap: Option<String>,
}

impl Lower {
    fn new(s: &str) -> Self {
        let mut out = Self { buf: [0; 256], len: 0, heap: None };
        if s.len() <= out.buf.len() {
            let dst = &mut out.buf[..s.len()];
            dst.copy_from_slice(s.as_bytes());
            dst.make_ascii_lowercase();
            out.len = s.len();
        } else {
            out.heap = Some(s.to_ascii_lowercase());
        }
        out
    }

    fn as_str(&self) -> &str {
        match &self.heap {
            Some(s) => s,
            // ASCII lower-casing of a `str` keeps it UTF-8.
            None => std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default(),
        }
    }
}

/// Derives the state key: the access key id where present, else the principal.
pub fn actor_key<'a>(id: &IdentityInput<'a>) -> &'a str {
    [id.access_key_id, id.arn, id.invoked_by, id.principal_id]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .unwrap_or("unknown")
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Searchers built once for the needles looked for in the ARNs and session name of nearly
/// every event (`str::contains` would build a two-way searcher on every call).
struct Finders {
    service_role: memmem::Finder<'static>,
    sso: memmem::Finder<'static>,
    assumed_role: memmem::Finder<'static>,
    ci_sessions: Vec<memmem::Finder<'static>>,
}

fn finders() -> &'static Finders {
    static FINDERS: OnceLock<Finders> = OnceLock::new();
    FINDERS.get_or_init(|| Finders {
        service_role: memmem::Finder::new(":role/aws-service-role/"),
        sso: memmem::Finder::new("/AWSReservedSSO_"),
        assumed_role: memmem::Finder::new(ASSUMED_ROLE),
        ci_sessions: CI_SESSIONS.iter().map(memmem::Finder::new).collect(),
    })
}

/// What precedes the role name in an assumed-role ARN.
const ASSUMED_ROLE: &str = ":assumed-role/";

/// The last segment of an assumed-role ARN: the session name.
fn session_name(arn: &str) -> Option<&str> {
    let rest = &arn[finders().assumed_role.find(arn.as_bytes())? + ASSUMED_ROLE.len()..];
    rest.split_once('/').map(|(_, s)| s)
}

/// `i-` followed by 8 or 17 hex digits: an EC2 instance id.
fn is_instance_id(s: &str) -> bool {
    let Some(hex) = s.strip_prefix("i-") else {
        return false;
    };
    (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// 32 hex digits: the session name the ECS agent gives a task's role session.
fn is_ecs_task_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// [`UaFacts`] bits a user-agent fragment sets.
const EXEC_ENV: u8 = 1;
const CI: u8 = 2;
const IAC: u8 = 4;
const SDK: u8 = 8;
const CONSOLE: u8 = 16;

/// Fragments of Lambda and ECS execution environments (lower case).
const EXEC_ENV_AGENTS: &[&str] = &["exec-env/aws_lambda", "exec-env/aws_ecs"];

/// Fragments of browser and AWS console user agents, matched with ASCII case (besides the
/// prefixes `Mozilla/` and `AWS Internal`).
const CONSOLE_AGENTS: &[&str] = &["console.amazonaws.com", "signin.amazonaws.com", "S3Console", "Coral/Netty"];

/// Every fragment [`UaFacts::of`] looks for anywhere in a user agent, in one automaton that
/// ignores ASCII case (as the lower-cased copy that was searched fragment by fragment did).
struct UaMatcher {
    automaton: AhoCorasick,
    /// By pattern id: the facts the fragment sets, and its text as written.
    fragments: Vec<(u8, &'static str)>,
}

fn ua_matcher() -> &'static UaMatcher {
    static MATCHER: OnceLock<UaMatcher> = OnceLock::new();
    MATCHER.get_or_init(|| {
        let mut fragments: Vec<(u8, &'static str)> = Vec::new();
        let groups: [(u8, &[&'static str]); 5] = [
            (EXEC_ENV, EXEC_ENV_AGENTS),
            (CI, CI_AGENTS),
            (IAC, IAC_AGENTS),
            (SDK, &[" aws-sdk-"]),
            (CONSOLE, CONSOLE_AGENTS),
        ];
        for (bits, group) in groups {
            for &text in group {
                // One pattern per text (CI and IaC share several), with all its facts.
                match fragments.iter_mut().find(|(_, t)| t.eq_ignore_ascii_case(text)) {
                    Some((b, _)) => *b |= bits,
                    None => fragments.push((bits, text)),
                }
            }
        }
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(fragments.iter().map(|(_, t)| t))
            // A fixed set of short literals: building cannot fail.
            .expect("user-agent fragments build an automaton");
        UaMatcher { automaton, fragments }
    })
}

/// What classification reads from a user agent: pure functions of its text, computed once per
/// distinct user agent by [`UaCache`] (a stream has few distinct ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UaFacts {
    /// Names the Lambda or ECS execution environment (ASCII case ignored).
    exec_env: bool,
    /// Names an IaC tool or CI runner (ASCII case ignored).
    ci: bool,
    /// A browser or the console: starts with `Mozilla/` or `AWS Internal`, or holds one of
    /// [`CONSOLE_AGENTS`] (ASCII case kept).
    console: bool,
    /// An AWS SDK (ASCII case ignored).
    sdk: bool,
    /// Names an infrastructure-as-code tool ([`IAC_AGENTS`], ASCII case ignored).
    iac: bool,
}

impl UaFacts {
    /// The facts of `ua`, read in one pass of [`UaMatcher`] (plus two prefix checks).
    fn of(ua: &str) -> Self {
        let b = ua.as_bytes();
        let prefix = |p: &str| b.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p.as_bytes()));
        let mut facts = Self {
            exec_env: false,
            ci: false,
            iac: false,
            console: ua.starts_with("Mozilla/") || ua.starts_with("AWS Internal"),
            sdk: prefix("aws-sdk-") || prefix("boto3") || prefix("botocore"),
        };
        let m = ua_matcher();
        for hit in m.automaton.find_overlapping_iter(b) {
            let Some(&(bits, exact)) = m.fragments.get(hit.pattern().as_usize()) else {
                continue;
            };
            facts.exec_env |= bits & EXEC_ENV != 0;
            facts.ci |= bits & CI != 0;
            facts.iac |= bits & IAC != 0;
            facts.sdk |= bits & SDK != 0;
            // Console fragments are matched with ASCII case: the automaton ignores it, so the
            // text found is checked as written.
            facts.console |= bits & CONSOLE != 0 && b.get(hit.start()..hit.end()) == Some(exact.as_bytes());
        }
        facts
    }

    /// The class the user agent alone implies, if any.
    fn agent_class(self) -> Option<IdentityClass> {
        if self.exec_env {
            Some(IdentityClass::Workload)
        } else if self.ci {
            Some(IdentityClass::CiCd)
        } else {
            None
        }
    }
}

/// A direct-mapped memo of [`UaFacts`] by user agent text (exact match), kept by the
/// parser between records.
pub(crate) struct UaCache {
    slots: Vec<Option<(Box<str>, UaFacts)>>,
}

impl Default for UaCache {
    fn default() -> Self {
        Self { slots: vec![None; Self::SLOTS] }
    }
}

impl UaCache {
    /// Bits of the slot index: 4096 slots (a busy stream has thousands of distinct agents).
    const BITS: u32 = 12;
    const SLOTS: usize = 1 << Self::BITS;
    /// Longer user agents are not kept (they are rare, and would pin memory).
    const MAX_LEN: usize = 512;

    fn get(&mut self, ua: &str) -> UaFacts {
        if ua.len() > Self::MAX_LEN {
            return UaFacts::of(ua);
        }
        // FxHash-style mix over 8-byte words and the tail; any hash is correct here (the key is
        // compared in full), a good one only avoids evictions.
        let b = ua.as_bytes();
        let mut h = b.len() as u64;
        let mut words = b.chunks_exact(8);
        for w in &mut words {
            h = (h.rotate_left(5) ^ u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        for &c in words.remainder() {
            h = (h.rotate_left(5) ^ u64::from(c)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        let slot = &mut self.slots[(h >> (64 - Self::BITS)) as usize % Self::SLOTS];
        match slot {
            Some((k, facts)) if **k == *ua => *facts,
            _ => {
                let facts = UaFacts::of(ua);
                *slot = Some((ua.into(), facts));
                facts
            }
        }
    }
}

/// Classifies the caller of one event.
pub fn classify(id: &IdentityInput<'_>) -> IdentityClass {
    classify_with(id, UaFacts::of)
}

/// [`classify`] and [`origin`] of one event, with the user agent looked up once in `cache`.
pub(crate) fn classify_and_origin_cached(
    id: &IdentityInput<'_>,
    console_session: bool,
    cache: &mut UaCache,
) -> (IdentityClass, Origin) {
    let facts = cache.get(id.user_agent.unwrap_or(""));
    let class = classify_with(id, |_| facts);
    (class, origin_with(id, class, console_session, |_| facts))
}

/// How the call of one event was made (see [`Origin`]). `console_session` is CloudTrail's
/// `sessionCredentialFromConsole`; `class` the caller's [`classify`] result.
///
/// Fields AWS sets decide first: an AWS service (`AWSService`, a service-linked role, or
/// `invokedBy` a service other than CloudFormation or the console), then `invokedBy`
/// CloudFormation (IaC), then `sessionCredentialFromConsole` (console). The user agent, which
/// the caller controls, comes last: an IaC tool's agent makes the call `iac` (the detection
/// context only ever quiets, for such calls, what the same principal itself created through
/// IaC), and a console or browser agent makes it `console` only on a person's or the root
/// user's temporary credentials, never on a long-lived `AKIA` key or a machine identity.
pub fn origin(id: &IdentityInput<'_>, class: IdentityClass, console_session: bool) -> Origin {
    origin_with(id, class, console_session, UaFacts::of)
}

fn origin_with(
    id: &IdentityInput<'_>,
    class: IdentityClass,
    console_session: bool,
    ua_facts: impl FnOnce(&str) -> UaFacts,
) -> Origin {
    if class == IdentityClass::AwsService {
        return Origin::AwsService;
    }
    if let Some(by) = id.invoked_by.filter(|b| !b.is_empty()) {
        if by == "cloudformation.amazonaws.com" {
            return Origin::Iac;
        }
        if by.contains("console") || by == "signin.amazonaws.com" {
            return Origin::Console;
        }
        if by.ends_with(".amazonaws.com") || by == "AWS Internal" {
            return Origin::AwsService;
        }
    }
    if console_session {
        return Origin::Console;
    }
    let Some(ua) = id.user_agent.filter(|u| !u.is_empty()) else {
        return Origin::Direct;
    };
    let facts = ua_facts(ua);
    if facts.iac {
        return Origin::Iac;
    }
    let long_lived = id.access_key_id.is_some_and(|k| k.starts_with("AKIA"));
    if facts.console && matches!(class, IdentityClass::Human | IdentityClass::Root) && !long_lived {
        return Origin::Console;
    }
    Origin::Direct
}

/// Classifies the caller of one event; `ua_facts` is called (at most once) only on the paths
/// that read the user agent.
fn classify_with(id: &IdentityInput<'_>, ua_facts: impl FnOnce(&str) -> UaFacts) -> IdentityClass {
    let kind = id.kind.unwrap_or("");
    let ua = id.user_agent.unwrap_or("");
    let issuer = id.issuer_arn.unwrap_or("");
    let issuer_name = id.issuer_name.unwrap_or("");
    match kind {
        "Root" => return IdentityClass::Root,
        "AWSService" => return IdentityClass::AwsService,
        _ => {}
    }
    // A service acting through a service-linked role, or on the caller's behalf from its own
    // endpoint (sourceIPAddress and userAgent both `*.amazonaws.com`).
    if finders().service_role.find(issuer.as_bytes()).is_some() || issuer_name.starts_with("AWSServiceRoleFor") {
        return IdentityClass::AwsService;
    }
    if let (Some(by), Some(ip)) = (id.invoked_by, id.source_ip) {
        if by.ends_with(".amazonaws.com") && ip.ends_with(".amazonaws.com") && kind != "IAMUser" {
            return IdentityClass::AwsService;
        }
    }
    let key = id.access_key_id.unwrap_or("");
    let console_sign_in = id.event_type == Some("AwsConsoleSignIn");
    match kind {
        "SAMLUser" | "IdentityCenterUser" => IdentityClass::Human,
        "AssumedRole" | "WebIdentityUser" => {
            if issuer_name.starts_with("AWSReservedSSO_") || finders().sso.find(issuer.as_bytes()).is_some() {
                return IdentityClass::Human;
            }
            if let Some(p) = id.federated_provider.filter(|p| !p.is_empty()) {
                if p.contains("oidc.eks.") {
                    return IdentityClass::Workload;
                }
                if contains_any(p, CI_OIDC_PROVIDERS) {
                    return IdentityClass::CiCd;
                }
                if p.contains("cognito-identity") {
                    return IdentityClass::Human;
                }
            }
            let session = id.arn.and_then(session_name).unwrap_or("");
            if is_instance_id(session) {
                return IdentityClass::Workload;
            }
            let ua = ua_facts(ua);
            if let Some(c) = ua.agent_class() {
                return c;
            }
            let s = Lower::new(session);
            let s = s.as_str();
            if finders().ci_sessions.iter().any(|f| f.find(s.as_bytes()).is_some()) {
                return IdentityClass::CiCd;
            }
            if ua.console || console_sign_in || id.mfa {
                return IdentityClass::Human;
            }
            if is_ecs_task_id(session) || s.starts_with("botocore-session-") && id.invoked_by.is_some() {
                return IdentityClass::Workload;
            }
            // A role session from an SDK with no other sign: most are workloads.
            if ua.sdk {
                return IdentityClass::Workload;
            }
            IdentityClass::Unknown
        }
        "IAMUser" => {
            let ua = ua_facts(ua);
            if ua.console || console_sign_in || (key.starts_with("ASIA") && id.mfa) {
                return IdentityClass::Human;
            }
            if matches!(id.event_name, Some("ConsoleLogin")) {
                return IdentityClass::Human;
            }
            if ua.agent_class() == Some(IdentityClass::CiCd) {
                return IdentityClass::CiCd;
            }
            if key.starts_with("AKIA") || key.is_empty() || !key.starts_with("ASIA") {
                return IdentityClass::ProgrammaticUser;
            }
            // Temporary credentials of an IAM user (GetSessionToken) outside the console.
            IdentityClass::ProgrammaticUser
        }
        _ => IdentityClass::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// [`UaFacts::of`] as it was: one `contains` per fragment over a lower-cased copy. The
    /// reference the one-pass matcher must agree with.
    fn reference_ua_facts(ua: &str) -> UaFacts {
        let is_console_agent = |ua: &str| {
            ua.starts_with("Mozilla/")
                || ua.contains("console.amazonaws.com")
                || ua.contains("signin.amazonaws.com")
                || ua.starts_with("AWS Internal")
                || ua.contains("S3Console")
                || ua.contains("Coral/Netty")
        };
        let lua = Lower::new(ua);
        let lua = lua.as_str();
        UaFacts {
            exec_env: lua.contains("exec-env/aws_lambda") || lua.contains("exec-env/aws_ecs"),
            ci: contains_any(lua, CI_AGENTS),
            iac: contains_any(lua, IAC_AGENTS),
            console: is_console_agent(ua),
            sdk: lua.starts_with("aws-sdk-")
                || lua.starts_with("boto3")
                || lua.starts_with("botocore")
                || lua.contains(" aws-sdk-"),
        }
    }

    /// The `userAgent` of every line of NDJSON `text` that has one.
    fn user_agents(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("userAgent").and_then(|u| u.as_str()).map(str::to_string))
            .collect()
    }

    #[test]
    fn ua_facts_agree_with_the_reference_on_fixture_and_generated_agents() {
        let mut agents = Vec::new();
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        for set in ["panther-aws", "stratus"] {
            let text = std::fs::read_to_string(fixtures.join(set).join("events.ndjson")).expect("fixture");
            agents.extend(user_agents(&text));
        }
        for profile in [trailhound_gen::Profile::Estate, trailhound_gen::Profile::Stress] {
            let cfg = trailhound_gen::GenConfig { events: 30_000, seed: 11, profile, ..Default::default() };
            let mut out = Vec::new();
            trailhound_gen::generate(&cfg, &mut out, None::<std::io::Sink>).expect("generate");
            agents.extend(user_agents(&String::from_utf8(out).expect("utf-8")));
        }
        agents.sort();
        agents.dedup();
        assert!(agents.len() > 1_000, "only {} distinct agents", agents.len());
        let mut seen = std::collections::HashSet::new();
        for ua in &agents {
            let facts = UaFacts::of(ua);
            assert_eq!(facts, reference_ua_facts(ua), "{ua}");
            seen.insert((facts.exec_env, facts.ci, facts.iac, facts.console, facts.sdk));
        }
        // The inputs reach every fact, set and not.
        for i in 0..5 {
            let fact = |f: &(bool, bool, bool, bool, bool)| [f.0, f.1, f.2, f.3, f.4][i];
            assert!(seen.iter().any(fact) && !seen.iter().all(fact), "fact {i} in {seen:?}");
        }
    }

    #[test]
    fn ua_facts_agree_with_the_reference_at_the_edges() {
        for ua in [
            "",
            "aws-sdk-",
            "AWS-SDK-go",
            "aws-sdk",
            "x aws-sdk-",
            "BOTO3",
            "botocor",
            "Botocore/1",
            "exec-env/AWS_Lambda_python",
            "EXEC-ENV/AWS_ECS_FARGATE",
            "exec-env/aws_ec2",
            "s3console",
            "S3Console",
            "xS3Consolex",
            "coral/netty",
            "Coral/Netty",
            "CONSOLE.AMAZONAWS.COM",
            "signin.amazonaws.com",
            "mozilla/5.0",
            "Mozilla/5.0",
            "aws internal",
            "AWS Internal",
            "aws-cdk/2.1",
            "cdk/",
            "CloudFormation",
            "é terraform é",
            "\u{0130}terraform",
        ] {
            assert_eq!(UaFacts::of(ua), reference_ua_facts(ua), "{ua:?}");
        }
        let long = format!("{}S3Console Terraform", "a".repeat(300));
        assert_eq!(UaFacts::of(&long), reference_ua_facts(&long));
    }

    /// Fragments the classification looks for, in random ASCII case, for random agents.
    fn fragment() -> impl Strategy<Value = String> {
        let all: Vec<&'static str> = [CI_AGENTS, IAC_AGENTS, EXEC_ENV_AGENTS, CONSOLE_AGENTS]
            .concat()
            .into_iter()
            .chain(["aws-sdk-", " aws-sdk-", "boto3", "botocore", "Mozilla/", "AWS Internal"])
            .collect();
        (prop::sample::select(all), any::<u64>()).prop_map(|(f, mask)| {
            f.chars()
                .enumerate()
                .map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]
        #[test]
        fn ua_facts_agree_with_the_reference_on_random_agents(
            parts in prop::collection::vec(prop_oneof![fragment(), "[ -~]{0,6}", "\\PC{0,3}"], 0..6),
        ) {
            let ua: String = parts.concat();
            prop_assert_eq!(UaFacts::of(&ua), reference_ua_facts(&ua), "{:?}", ua);
        }
    }

    fn ui<'a>(kind: &'a str, arn: &'a str, key: &'a str, ua: &'a str) -> IdentityInput<'a> {
        IdentityInput {
            kind: Some(kind),
            arn: Some(arn),
            access_key_id: (!key.is_empty()).then_some(key),
            user_agent: Some(ua),
            ..Default::default()
        }
    }

    #[test]
    fn origin_trusts_what_aws_sets_before_the_user_agent() {
        let chrome =
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36";
        let tf = "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0";
        let o = |id: &IdentityInput<'_>, console: bool| origin(id, classify(id), console);
        // A person's console session, whatever its user agent.
        let sso = IdentityInput {
            issuer_arn: Some("arn:aws:iam::1:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1"),
            ..ui("AssumedRole", "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_1/ana", "ASIA1", "AWS Internal")
        };
        assert_eq!(o(&sso, true), Origin::Console);
        assert_eq!(o(&ui("Root", "arn:aws:iam::1:root", "ASIA2", "console.amazonaws.com"), false), Origin::Console);
        assert_eq!(o(&ui("IAMUser", "arn:aws:iam::1:user/ana", "ASIA3", chrome), false), Origin::Console);
        // A browser or console agent on a long-lived key or a machine identity is not a console.
        assert_eq!(
            o(&ui("IAMUser", "arn:aws:iam::1:user/ci", "AKIA4", "console.amazonaws.com"), false),
            Origin::Direct
        );
        let instance = ui("AssumedRole", "arn:aws:sts::1:assumed-role/web/i-0123456789abcdef0", "ASIA5", chrome);
        assert_eq!(o(&instance, false), Origin::Direct);
        // IaC by agent or by CloudFormation acting for the caller.
        assert_eq!(o(&ui("IAMUser", "arn:aws:iam::1:user/ops", "AKIA6", tf), false), Origin::Iac);
        let cfn = IdentityInput {
            invoked_by: Some("cloudformation.amazonaws.com"),
            ..ui("AssumedRole", "arn:aws:sts::1:assumed-role/deploy/s", "ASIA7", "cloudformation.amazonaws.com")
        };
        assert_eq!(o(&cfn, false), Origin::Iac);
        // Services on someone's behalf; the person's CLI is direct.
        let asg = IdentityInput {
            invoked_by: Some("autoscaling.amazonaws.com"),
            ..ui("AssumedRole", "arn:aws:sts::1:assumed-role/ops/ana", "ASIA8", "autoscaling.amazonaws.com")
        };
        assert_eq!(o(&asg, false), Origin::AwsService);
        let cli = ui("IAMUser", "arn:aws:iam::1:user/ana", "AKIA9", "aws-cli/2.15.30 os/macos#23.4.0");
        assert_eq!(o(&cli, false), Origin::Direct);
    }

    #[test]
    fn root_and_service_principals() {
        let root = ui("Root", "arn:aws:iam::111122223333:root", "", "Mozilla/5.0");
        assert_eq!(classify(&root), IdentityClass::Root);
        let svc =
            IdentityInput { kind: Some("AWSService"), invoked_by: Some("ec2.amazonaws.com"), ..Default::default() };
        assert_eq!(classify(&svc), IdentityClass::AwsService);
        assert_eq!(actor_key(&svc), "ec2.amazonaws.com");
        let mut slr = ui(
            "AssumedRole",
            "arn:aws:sts::1:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
            "ASIAXX",
            "autoscaling.amazonaws.com",
        );
        slr.issuer_arn =
            Some("arn:aws:iam::1:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling");
        assert_eq!(classify(&slr), IdentityClass::AwsService);
    }

    #[test]
    fn sso_permission_sets_and_console_sessions_are_human() {
        let mut sso = ui(
            "AssumedRole",
            "arn:aws:sts::1:assumed-role/AWSReservedSSO_AdministratorAccess_abc/alice@corp.example",
            "ASIAAAA",
            "aws-cli/2.15.0",
        );
        sso.issuer_name = Some("AWSReservedSSO_AdministratorAccess_abc");
        assert_eq!(classify(&sso), IdentityClass::Human);
        let console_user = ui("IAMUser", "arn:aws:iam::1:user/bob", "ASIABBB", "Mozilla/5.0 (Macintosh)");
        assert_eq!(classify(&console_user), IdentityClass::Human);
        let login = IdentityInput {
            event_type: Some("AwsConsoleSignIn"),
            ..ui("IAMUser", "arn:aws:iam::1:user/bob", "", "Mozilla/5.0")
        };
        assert_eq!(classify(&login), IdentityClass::Human);
    }

    #[test]
    fn long_lived_keys_are_programmatic_users_and_the_key_is_the_actor() {
        let u = ui("IAMUser", "arn:aws:iam::1:user/backup", "AKIAWOGXN38MFN92ING5", "aws-cli/2.13.5 Python/3.11.4");
        assert_eq!(classify(&u), IdentityClass::ProgrammaticUser);
        assert_eq!(actor_key(&u), "AKIAWOGXN38MFN92ING5");
        let tf = ui("IAMUser", "arn:aws:iam::1:user/tf", "AKIAQQQ", "APN/1.0 HashiCorp/1.0 Terraform/1.9.5");
        assert_eq!(classify(&tf), IdentityClass::CiCd);
    }

    #[test]
    fn workload_sessions_by_instance_id_execution_env_or_sdk() {
        let ec2 =
            ui("AssumedRole", "arn:aws:sts::1:assumed-role/app-role/i-0123456789abcdef0", "ASIAEC2", "aws-sdk-go/1.44");
        assert_eq!(classify(&ec2), IdentityClass::Workload);
        let lambda = ui(
            "AssumedRole",
            "arn:aws:sts::1:assumed-role/fn-role/my-fn",
            "ASIALMB",
            "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10 exec-env/AWS_Lambda_python3.12",
        );
        assert_eq!(classify(&lambda), IdentityClass::Workload);
        let ecs = ui(
            "AssumedRole",
            "arn:aws:sts::1:assumed-role/task-role/0123456789abcdef0123456789abcdef",
            "ASIAECS",
            "aws-cli/2",
        );
        assert_eq!(classify(&ecs), IdentityClass::Workload);
        let mut eks = ui("AssumedRole", "arn:aws:sts::1:assumed-role/irsa/botocore-session-1", "ASIAEKS", "aws-cli/2");
        eks.federated_provider = Some("arn:aws:iam::1:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC");
        assert_eq!(classify(&eks), IdentityClass::Workload);
        let stratus = ui(
            "AssumedRole",
            "arn:aws:sts::1:assumed-role/stratus-role/aws-go-sdk-1722511821294449000",
            "ASIA9F6",
            "stratus-red-team_c8ff",
        );
        assert_eq!(classify(&stratus), IdentityClass::Unknown);
    }

    #[test]
    fn ci_by_web_identity_provider_session_name_or_iac_agent() {
        let mut gha = ui("AssumedRole", "arn:aws:sts::1:assumed-role/gha-deploy/GitHubActions", "ASIAGHA", "aws-cli/2");
        gha.federated_provider = Some("arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com");
        assert_eq!(classify(&gha), IdentityClass::CiCd);
        gha.federated_provider = None;
        assert_eq!(classify(&gha), IdentityClass::CiCd, "session name alone");
        let tf = ui(
            "AssumedRole",
            "arn:aws:sts::1:assumed-role/deployer/1700000000000000000",
            "ASIATF",
            "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0",
        );
        assert_eq!(classify(&tf), IdentityClass::CiCd);
    }

    #[test]
    fn actor_key_falls_back_to_the_principal() {
        let no_key = ui("AssumedRole", "arn:aws:sts::1:assumed-role/r/s", "", "x");
        assert_eq!(actor_key(&no_key), "arn:aws:sts::1:assumed-role/r/s");
        assert_eq!(actor_key(&IdentityInput::default()), "unknown");
    }
}
