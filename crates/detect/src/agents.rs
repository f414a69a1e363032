//! What a user agent says about the caller: the machine that made a call ([`desktop_os`], for
//! rules that compare a workload's own calls with calls made elsewhere with its credentials),
//! the tool family (`agent_family_of`; the Lambda runtime; both derived once per batch in `derived`), and
//! infrastructure-as-code tools run by a CI/CD identity (`iac_agent`).

use trailhound_model::{IdentityClass, Origin};

use crate::view::EventView;

/// What a user agent's text holds, read in one pass (ASCII case ignored): the Lambda and ECS
/// runtimes (`exec-env/AWS_Lambda…`, `exec-env/AWS_ECS…`) and a desktop operating system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Markers {
    pub lambda: bool,
    pub ecs: bool,
    pub macos: bool,
    pub windows: bool,
}

/// Fragments of [`Markers`], in the order of their flags.
const LAMBDA: &str = "exec-env/aws_lambda";
const ECS: &str = "exec-env/aws_ecs";
const MAC: [&str; 4] = ["os/macos", "darwin/", "macintosh", "md/goos#darwin"];
const WIN: [&str; 5] = ["os/windows", "windows nt", "windows/", "win32", "win64"];

impl Markers {
    /// The markers of `ua`: one pass of an automaton built once, where testing each fragment
    /// on its own built a searcher per fragment and call (this runs for every distinct user
    /// agent of every batch).
    pub(crate) fn of(ua: &str) -> Self {
        static AUTOMATON: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
        let automaton = AUTOMATON.get_or_init(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(aho_corasick::MatchKind::Standard)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build([LAMBDA, ECS].into_iter().chain(MAC).chain(WIN))
                // A fixed set of short literals: building cannot fail.
                .expect("user-agent markers build an automaton")
        });
        let mut m = Self::default();
        for hit in automaton.find_overlapping_iter(ua) {
            match hit.pattern().as_usize() {
                0 => m.lambda = true,
                1 => m.ecs = true,
                i if i < 2 + MAC.len() => m.macos = true,
                _ => m.windows = true,
            }
        }
        m
    }
}

/// The desktop operating system a user agent names (`macos`, `windows`), if any: an AWS CLI
/// or SDK on a laptop says `os/macos#…`, `Darwin/…`, `os/windows#…` or `Windows NT`, where a
/// workload's agent names Linux or nothing. `None` for anything else.
pub fn desktop_os(ua: Option<&str>) -> Option<&'static str> {
    desktop_os_of(Markers::of(ua?))
}

/// [`desktop_os`] from markers read already.
pub(crate) fn desktop_os_of(m: Markers) -> Option<&'static str> {
    if m.macos {
        Some("macos")
    } else if m.windows {
        Some("windows")
    } else {
        None
    }
}

/// [`agent_family_of`] reading the markers itself (tests).
#[cfg(test)]
pub(crate) fn agent_family(ua: Option<&str>) -> String {
    agent_family_of(ua, ua.map(Markers::of).unwrap_or_default())
}

/// The family of a user agent: its first product token, lower-cased (`aws-cli`, `boto3`,
/// `aws-sdk-go-v2`, `terraform`), `console/browser` for the console and browsers,
/// `aws-service` for AWS services, `none` when absent. A Lambda or ECS runtime (its
/// [`Markers`], read already) adds ` (lambda)` / ` (ecs)`: the same SDK outside the runtime is
/// another family. Rules read it from [`AgentFacts`](crate::derived::AgentFacts), derived once
/// per batch.
pub(crate) fn agent_family_of(ua: Option<&str>, markers: Markers) -> String {
    let ua = ua.unwrap_or("").trim();
    if ua.is_empty() {
        return "none".to_string();
    }
    if ua.starts_with("Mozilla/")
        || ua.contains("console.amazonaws.com")
        || ua.contains("signin.amazonaws.com")
        || ua.starts_with("S3Console")
    {
        return "console/browser".to_string();
    }
    if ua == "AWS Internal" || ua.ends_with(".amazonaws.com") {
        return "aws-service".to_string();
    }
    let skip = |t: &&str| t.starts_with("APN/") || t.starts_with("HashiCorp/");
    let token =
        ua.split(|c: char| c.is_whitespace() || c == '[' || c == ']').filter(|t| !t.is_empty()).find(|t| !skip(t));
    let product = token.and_then(|t| t.split(['/', '_', '#', '(', ')', ',', ';']).next()).unwrap_or("");
    let mut family: String = product.chars().take(40).collect::<String>().to_ascii_lowercase();
    if family.is_empty() {
        family.push_str("other");
    }
    if markers.lambda {
        family.push_str(" (lambda)");
    } else if markers.ecs {
        family.push_str(" (ecs)");
    }
    family
}

/// Default user-agent fragments of infrastructure-as-code tools (as in `enumeration_burst`).
pub(crate) fn default_iac_user_agents() -> Vec<String> {
    ["terraform/", "pulumi", "aws-cdk", "cloudformation", "crossplane", "ansible"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The IaC tool named by `ua`, in the user agent's own spelling (`Terraform`), if one of the
/// lower-cased `fragments` occurs in it.
pub(crate) fn agent_name(ua: &str, fragments: &[String]) -> Option<String> {
    let lower = ua.to_ascii_lowercase();
    fragments.iter().filter(|f| !f.is_empty()).find_map(|f| {
        let i = lower.find(f.as_str())?;
        let name = ua.get(i..i + f.len()).unwrap_or(f).trim_matches(|c: char| !c.is_alphanumeric());
        Some(if name.is_empty() { f.clone() } else { name.to_string() })
    })
}

/// The IaC agent of a call made by a CI/CD identity with an IaC tool's user agent.
pub(crate) fn iac_agent(ev: &EventView<'_>, row: usize, fragments: &[String]) -> Option<String> {
    if ev.origin(row) == Origin::Iac && ev.invoked_by(row) == Some("cloudformation.amazonaws.com") {
        return Some("CloudFormation".to_string());
    }
    if ev.identity_class(row) != IdentityClass::CiCd && ev.origin(row) != Origin::Iac {
        return None;
    }
    agent_name(ev.user_agent(row)?, fragments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::lowercase_all;

    #[test]
    fn laptops_name_their_os_and_workloads_do_not() {
        let cli = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8";
        assert_eq!(desktop_os(Some(cli)), Some("macos"));
        assert_eq!(
            desktop_os(Some("Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/windows#10 md/arch#amd64")),
            Some("windows")
        );
        assert_eq!(desktop_os(Some("aws-cli/1.15.42 Python/3.6.1 Darwin/17.7.0 botocore/1.10.42")), Some("macos"));
        let ssm = "aws-sdk-go/1.55.5 (go1.22.7; linux; amd64) amazon-ssm-agent/3.3.987.0";
        assert_eq!(desktop_os(Some(ssm)), None);
        assert_eq!(desktop_os(Some("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1.0-amzn2023")), None);
        assert_eq!(desktop_os(None), None);
    }

    #[test]
    fn markers_are_what_each_fragment_searched_alone_finds() {
        let long = format!("Boto3/1.34.0 {} exec-env/AWS_ECS_EC2 OS/Windows#10", "x".repeat(600));
        let agents = [
            "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64",
            "Boto3/1.26.90 md/Botocore#1.29.90 EXEC-ENV/aws_lambda_python3.9",
            "aws-sdk-go-v2/1.24.0 os/linux exec-env/AWS_ECS_FARGATE",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Windows NT",
            "aws-cli/1.15.42 Python/3.6.1 Darwin/17.7.0 botocore/1.10.42",
            "Go-http-client/1.1 md/GOOS#darwin WIN64",
            "",
            long.as_str(),
        ];
        for ua in agents {
            let has = |f: &str| EventView::contains_ignore_case(ua, f);
            let want = Markers {
                lambda: has(LAMBDA),
                ecs: has(ECS),
                macos: MAC.iter().any(|f| has(f)),
                windows: WIN.iter().any(|f| has(f)),
            };
            assert_eq!(Markers::of(ua), want, "{ua}");
        }
        assert!(Markers::of(agents[1]).lambda && Markers::of(agents[2]).ecs);
        assert_eq!(desktop_os(Some(agents[3])), Some("macos"), "macOS wins over Windows");
        assert_eq!(desktop_os(Some(&long)), Some("windows"));
    }

    #[test]
    fn agent_families_are_normalised() {
        assert_eq!(agent_family(Some("aws-cli/2.15.0 Python/3.11.6 Linux/6.1")), "aws-cli");
        assert_eq!(agent_family(Some("Boto3/1.34.0 md/Botocore#1.34.0")), "boto3");
        assert_eq!(agent_family(Some("aws-sdk-go-v2/1.24.0 os/linux")), "aws-sdk-go-v2");
        assert_eq!(
            agent_family(Some("APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io)")),
            "terraform"
        );
        assert_eq!(agent_family(Some("Mozilla/5.0 (Macintosh)")), "console/browser");
        assert_eq!(agent_family(Some("[aws-cli/2.15.0 Python/3.11]")), "aws-cli");
        assert_eq!(agent_family(Some("stratus-red-team_c763d13b-d099")), "stratus-red-team");
        assert_eq!(
            agent_family(Some("Boto3/1.26.90 md/Botocore#1.29.90 exec-env/AWS_Lambda_python3.9")),
            "boto3 (lambda)"
        );
        assert_eq!(agent_family(Some("cloudformation.amazonaws.com")), "aws-service");
        assert_eq!(agent_family(None), "none");
    }

    #[test]
    fn iac_tools_are_named_in_the_user_agents_spelling() {
        const TF_UA: &str =
            "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0";
        assert_eq!(agent_name(TF_UA, &lowercase_all(&default_iac_user_agents())).as_deref(), Some("Terraform"));
        assert_eq!(agent_name("aws-cli/2.15.0", &lowercase_all(&default_iac_user_agents())), None);
    }
}
